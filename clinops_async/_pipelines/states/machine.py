"""A state machine (or a Parallel branch, or a Map's item processor): StartAt and its States.

The same model serves the whole definition and the scopes nested in Parallel and Map states, as the
States Language itself does, so validation and the picture reach every state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, ClassVar, Self

from ..._exceptions import ConfigurationError, InvalidDefinitionError
from ..machine_check import check_definition
from .base import AslKind, AslObject, asl, check_mapping
from .common import STATE_TYPES, State, Transition

__all__ = ["ProcessorConfig", "Scope", "StateMachine", "load_definition", "parse_state"]


def parse_state(name: str, data: object) -> State:
    """The model of the state ``name`` from its ASL object (dispatching on ``Type``)."""
    if not isinstance(name, str) or not name:
        raise ConfigurationError(f"state names must be non-empty strings; got {name!r}")
    body = check_mapping(data, f"state {name!r}")
    kind = body.get("Type")
    if kind not in STATE_TYPES:
        raise ConfigurationError(f"state {name!r} has the Type {kind!r}; the States Language has "
                                 f"{', '.join(sorted(STATE_TYPES))}")
    try:
        return STATE_TYPES[kind].from_asl(body, name=name)
    except InvalidDefinitionError:
        raise
    except ConfigurationError as exc:
        raise InvalidDefinitionError(f"state {name!r}: {exc}", state=name) from None


def _load_states(value: object) -> tuple[State, ...]:
    return tuple(parse_state(name, body) for name, body in check_mapping(value, "States").items())


def _dump_states(states: Sequence[State]) -> dict[str, Any]:
    return {state.name: state.to_asl() for state in states}


_STATES = AslKind(load=_load_states, dump=_dump_states)


@dataclass(frozen=True, kw_only=True)
class Scope(AslObject):
    """``StartAt`` and ``States``: a state machine, a Parallel branch or a Map item processor.

    Args:
        states: The states, in the order they are rendered. Default ``StartAt``: the first.
        start_at: The name of the first state to run.
        comment: The ``Comment``.
    """

    _head: ClassVar[tuple[str, ...]] = ("Comment", "StartAt", "States")

    comment: str | None = asl("Comment")
    start_at: str | None = asl("StartAt")
    states: tuple[State, ...] = asl("States", _STATES, default=())

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.states, str) or not isinstance(self.states, Sequence):
            raise ConfigurationError("states must be a sequence of states (Task, Choice, ...)")
        object.__setattr__(self, "states", tuple(self.states))
        for state in self.states:
            if not isinstance(state, State):
                raise ConfigurationError(f"states must hold states (Task, Choice, ...); got {state!r}")
        if self.start_at is None and self.states:
            object.__setattr__(self, "start_at", self.states[0].name)

    @classmethod
    def of(cls, *states: State, **fields: Any) -> Self:
        """A scope of ``states`` in which each state that names no way out ends (``"End": true``)."""
        closed = [s.ends() if isinstance(s, Transition) and s.next is None and not s.end else s
                  for s in states]
        return cls(states=tuple(closed), **fields)

    @classmethod
    def chain(cls, *states: State, **fields: Any) -> Self:
        """A scope of ``states`` in which each state that names no way out goes on to the next listed."""
        linked: list[State] = []
        for index, state in enumerate(states):
            if isinstance(state, Transition) and state.next is None and not state.end:
                state = state.then(states[index + 1]) if index + 1 < len(states) else state.ends()
            linked.append(state)
        return cls(states=tuple(linked), **fields)

    def __getitem__(self, name: str) -> State:
        for state in self.states:
            if state.name == name:
                return state
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return any(state.name == name for state in self.states)

    @property
    def names(self) -> list[str]:
        return [state.name for state in self.states]

    def walk(self) -> Iterator[State]:
        """Every state, those in Parallel branches and Map item processors included, depth first."""
        for state in self.states:
            yield state
            for scope in state.nested():
                yield from scope.walk()

    def with_state(self, state: State) -> Self:
        """A copy with ``state`` replacing the state of the same name (or added after the others)."""
        if state.name in self:
            return replace(self, states=tuple(state if s.name == state.name else s for s in self.states))
        return replace(self, states=(*self.states, state))

    def without_state(self, name: str) -> Self:
        """A copy without the state ``name``."""
        if name not in self:
            raise KeyError(name)
        return replace(self, states=tuple(s for s in self.states if s.name != name))


@dataclass(frozen=True, kw_only=True)
class StateMachine(Scope):
    """A whole state machine definition; ``QueryLanguage``, ``TimeoutSeconds`` and ``Version`` are its own.

    ``query_language`` (``"JSONata"`` or ``"JSONPath"``, the default) applies to every state that
    does not set its own.

    Build one with :meth:`~Scope.of` or :meth:`~Scope.chain`, or load one with
    :func:`load_definition`; :meth:`definition` renders, checks and returns it.
    """

    _head: ClassVar[tuple[str, ...]] = ("Comment", "QueryLanguage", "StartAt", "States")

    query_language: str | None = asl("QueryLanguage")
    timeout_seconds: int | None = asl("TimeoutSeconds")
    version: str | None = asl("Version")

    def definition(self) -> dict[str, Any]:
        """The definition as a dict, checked first (see :func:`check_definition`)."""
        rendered = self.to_asl()
        check_definition(rendered)
        return rendered


@dataclass(frozen=True, kw_only=True)
class ProcessorConfig(AslObject):
    """A Map's ``ProcessorConfig``: ``Mode`` ``"INLINE"`` or ``"DISTRIBUTED"``, and ``ExecutionType``."""

    mode: str | None = asl("Mode")
    execution_type: str | None = asl("ExecutionType")


_PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_]+)\}")


def _substitute(value: Any, substitutions: Mapping[str, str]) -> Any:
    """``value`` with each ``${Name}`` in its strings replaced, as CloudFormation and SAM do."""
    if isinstance(value, str):
        def replace_one(match: re.Match[str]) -> str:
            if match[1] not in substitutions:
                raise InvalidDefinitionError(f"the definition names ${{{match[1]}}}, which substitutions "
                                             f"does not give (it gives {', '.join(sorted(substitutions))})")
            return str(substitutions[match[1]])
        return _PLACEHOLDER.sub(replace_one, value)
    if isinstance(value, Mapping):
        return {key: _substitute(item, substitutions) for key, item in value.items()}
    if isinstance(value, list):
        return [_substitute(item, substitutions) for item in value]
    return value


def load_definition(
    definition: Mapping[str, Any] | str | bytes | StateMachine,
    substitutions: Mapping[str, str] | None = None,
) -> StateMachine:
    """The model of a definition given as a dict or JSON text (a model is returned as it is).

    ``substitutions`` fills the ``${Name}`` placeholders of a definition kept beside a CloudFormation
    or SAM template (its ``DefinitionSubstitutions``), e.g. ``{"IngestArn": "arn:aws:lambda:..."}``.
    """
    if isinstance(definition, StateMachine):
        return definition
    if isinstance(definition, str | bytes):
        try:
            definition = json.loads(definition)
        except ValueError as exc:
            raise ConfigurationError(f"the definition is not JSON: {exc}") from None
    body = check_mapping(definition, "a state machine definition")
    if substitutions is not None:
        check_mapping(substitutions, "substitutions")
        body = _substitute(body, substitutions)
    return StateMachine.from_asl(body)
