"""The whole Amazon States Language, modelled: one frozen dataclass per state and per nested object.

Every model renders its ASL with ``to_asl()`` and is loaded back with ``from_asl()``; a whole
definition loads with :func:`load_definition` and renders equal to its input. The seed's step model
(:mod:`..steps`) is separate and unchanged; both render the same language.
"""

from __future__ import annotations

from .base import AslObject
from .choice import AllOf, AnyOf, Choice, ChoiceRule, Compare, Condition, Jsonata, Negation, Var
from .common import Catcher, DataFlow, Retrier, State, Transition
from .fanout import (
    DistributedMap,
    ItemBatcher,
    ItemReader,
    Map,
    Parallel,
    Processor,
    ReaderConfig,
    ResultWriter,
    WriterConfig,
)
from .machine import ProcessorConfig, Scope, StateMachine, load_definition, parse_state
from .simple import Fail, Pass, Succeed, Task, Wait

__all__ = [
    "AllOf", "AnyOf", "AslObject", "Catcher", "Choice", "ChoiceRule", "Compare", "Condition",
    "DataFlow", "DistributedMap", "Fail", "ItemBatcher", "ItemReader", "Jsonata", "Map", "Negation",
    "Parallel", "Pass", "Processor", "ProcessorConfig", "ReaderConfig", "ResultWriter",
    "Retrier", "Scope", "State", "StateMachine", "Succeed", "Task", "Transition", "Var", "Wait",
    "WriterConfig", "load_definition", "parse_state",
]
