"""What states share: retriers, catchers, the fields every state has, and the ways out of a state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Literal, Self

from ..._exceptions import ConfigurationError
from .base import AslKind, AslObject, asl

__all__ = [
    "STATE_TYPES",
    "STRINGS",
    "Catcher",
    "DataFlow",
    "Retrier",
    "State",
    "Transition",
    "errors_tuple",
]

QueryLanguage = Literal["JSONPath", "JSONata"]
#: A list of strings in JSON, a tuple in the model (so models stay comparable and immutable).
STRINGS = AslKind(load=tuple, dump=list)
#: Every state class by its ASL ``Type``, filled as the classes are defined.
STATE_TYPES: dict[str, type[State]] = {}


def errors_tuple(errors: str | Sequence[str]) -> tuple[str, ...]:
    return (errors,) if isinstance(errors, str) else tuple(errors)


@dataclass(frozen=True, kw_only=True)
class Retrier(AslObject):
    """One entry of a state's ``Retry``: which errors to retry, how often and how long to wait.

    Args:
        error_equals: The errors retried (``ErrorEquals``), e.g. ``("States.Timeout",)``.
        interval_seconds: Wait before the first retry (AWS default 1).
        max_attempts: Retries at most (AWS default 3; 0 never retries).
        backoff_rate: Multiplier of the wait per retry (AWS default 2.0).
        max_delay_seconds: Cap on any one wait.
        jitter_strategy: ``"FULL"`` randomises each wait; ``"NONE"`` (AWS default) does not.
        comment: The retrier's ``Comment``.
    """

    error_equals: tuple[str, ...] = asl("ErrorEquals", STRINGS, default=("States.ALL",))
    interval_seconds: int | None = asl("IntervalSeconds")
    max_attempts: int | None = asl("MaxAttempts")
    backoff_rate: float | None = asl("BackoffRate")
    max_delay_seconds: int | None = asl("MaxDelaySeconds")
    jitter_strategy: Literal["FULL", "NONE"] | None = asl("JitterStrategy")
    comment: str | None = asl("Comment")


@dataclass(frozen=True, kw_only=True)
class Catcher(AslObject):
    """One entry of a state's ``Catch``: on these errors, go to ``next``.

    Args:
        error_equals: The errors caught (``ErrorEquals``).
        next: The state to go to.
        result_path: Where the error goes in that state's input (JSONPath).
        output: The next state's input (JSONata).
        assign: Variables to set (``Assign``).
        comment: The catcher's ``Comment``.
    """

    error_equals: tuple[str, ...] = asl("ErrorEquals", STRINGS, default=("States.ALL",))
    next: str = asl("Next", default="")
    result_path: str | None = asl("ResultPath")
    output: Any = asl("Output")
    assign: Mapping[str, Any] | None = asl("Assign")
    comment: str | None = asl("Comment")


@dataclass(frozen=True)
class State(AslObject):
    """A state of a state machine: its name (the key in ``States``) and the fields all states have.

    Args:
        name: The state name (1-80 characters), unique in its state machine.
        comment: The state's ``Comment``.
        query_language: ``"JSONata"`` or ``"JSONPath"`` for this state alone (``QueryLanguage``).
        assign: Variables set when the state ends (``Assign``), e.g. ``{"total": "{% $sum($states.input.x) %}"}``.
    """

    type_name: ClassVar[str] = ""
    _head: ClassVar[tuple[str, ...]] = ("Type", "QueryLanguage", "Comment")
    _tail: ClassVar[tuple[str, ...]] = ("Assign", "Output", "Retry", "Catch", "Next", "End")

    name: str
    comment: str | None = asl("Comment")
    query_language: QueryLanguage | None = asl("QueryLanguage")
    assign: Mapping[str, Any] | None = asl("Assign")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" in cls.__dict__:
            STATE_TYPES[cls.type_name] = cls

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.name, str) or not self.name:
            raise ConfigurationError(f"a {self.type_name} state needs a name (a non-empty str); "
                                     f"got {self.name!r}")

    def _fixed(self) -> dict[str, Any]:
        return {"Type": self.type_name}

    @classmethod
    def _fixed_keys(cls) -> frozenset[str]:
        return frozenset({"Type"})

    def targets(self) -> list[tuple[str, str]]:
        """Every state this one may go to, each with a label: ``[("", "Clean"), ...]``."""
        return []

    def nested(self) -> list[Any]:
        """The scopes this state holds (a Parallel's branches, a Map's item processor)."""
        return []

    def renamed(self, name: str) -> Self:
        """A copy of this state under another name."""
        return replace(self, name=name)


@dataclass(frozen=True)
class Transition(State):
    """A state that goes on to ``next`` or ends the execution (``end``)."""

    next: str | None = asl("Next")
    end: bool | None = asl("End")

    def then(self, state: str | State) -> Self:
        """A copy that goes on to ``state`` (a name or a state) when it is done."""
        return replace(self, next=state if isinstance(state, str) else state.name, end=None)

    def ends(self) -> Self:
        """A copy that ends the execution (or its branch) when it is done."""
        return replace(self, next=None, end=True)

    def targets(self) -> list[tuple[str, str]]:
        return [("", self.next)] if self.next is not None else []


@dataclass(frozen=True)
class DataFlow(Transition):
    """The data-shaping fields of Task, Parallel and Map, JSONPath and JSONata alike, and Retry/Catch."""

    input_path: str | None = asl("InputPath")
    parameters: Mapping[str, Any] | None = asl("Parameters")
    arguments: Any = asl("Arguments")
    result_selector: Mapping[str, Any] | None = asl("ResultSelector")
    result_path: str | None = asl("ResultPath")
    output_path: str | None = asl("OutputPath")
    output: Any = asl("Output")
    retriers: tuple[Retrier, ...] | None = asl("Retry", Retrier, many=True)
    catchers: tuple[Catcher, ...] | None = asl("Catch", Catcher, many=True)

    def retry(self, errors: str | Sequence[str] = "States.ALL", **options: Any) -> Self:
        """A copy with one more retrier (``options`` as for :class:`Retrier`, e.g. ``max_attempts=3``)."""
        retrier = Retrier(error_equals=errors_tuple(errors), **options)
        return replace(self, retriers=(*(self.retriers or ()), retrier))

    def catch(self, errors: str | Sequence[str], next: str | State, **options: Any) -> Self:
        """A copy with one more catcher: on ``errors`` go to ``next`` (options as for :class:`Catcher`)."""
        target = next if isinstance(next, str) else next.name
        catcher = Catcher(error_equals=errors_tuple(errors), next=target, **options)
        return replace(self, catchers=(*(self.catchers or ()), catcher))

    def targets(self) -> list[tuple[str, str]]:
        caught = [("catch " + ", ".join(c.error_equals), c.next) for c in self.catchers or ()]
        return [*super().targets(), *caught]
