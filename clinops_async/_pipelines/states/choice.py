"""The Choice state and its rules, written as Python expressions.

``Var("$.age") > 65`` is a :class:`Compare` (``NumericGreaterThan``); ``&``, ``|`` and ``~`` make
``And``, ``Or`` and ``Not``; a string condition is JSONata (``"{% $states.input.age > 65 %}"``). So
``Choice("Route").when(Var("$.age") > 65, "Elderly").otherwise("Adult")`` reads like the rule it is.
The comparison's kind comes from the value (a number, a str, a bool); against another variable, or
for a timestamp, say it: ``Var("$.due").timestamp < Var("$.now")``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar, Literal

from ..._exceptions import ConfigurationError
from ..machine_check import OPERATORS
from .base import AslKind, AslObject, asl, check_mapping, ordered
from .common import State

__all__ = ["OPERATORS", "AllOf", "AnyOf", "Choice", "ChoiceRule", "Compare", "Condition", "Jsonata",
           "Negation", "Var", "parse_condition"]

_KINDS = ("String", "Numeric", "Timestamp")
_SYMBOLS = {"Equals": "==", "LessThan": "<", "GreaterThan": ">", "LessThanEquals": "<=",
            "GreaterThanEquals": ">="}
Kind = Literal["String", "Numeric", "Timestamp", "Boolean"]


class Condition:
    """A Choice condition; combine them with ``&`` (And), ``|`` (Or) and ``~`` (Not)."""

    def to_asl(self) -> dict[str, Any]:
        raise NotImplementedError

    def describe(self) -> str:
        """The condition as short text, for pictures."""
        raise NotImplementedError

    def __and__(self, other: Condition) -> AllOf:
        return AllOf((*(self.rules if isinstance(self, AllOf) else (self,)), other))

    def __or__(self, other: Condition) -> AnyOf:
        return AnyOf((*(self.rules if isinstance(self, AnyOf) else (self,)), other))

    def __invert__(self) -> Negation:
        return Negation(self)


@dataclass(frozen=True)
class Compare(Condition):
    """``{"Variable": variable, operator: value}``, e.g. ``("$.age", "NumericGreaterThan", 65)``."""

    variable: str
    operator: str
    value: Any
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.operator not in OPERATORS:
            raise ConfigurationError(f"{self.operator!r} is not a Choice comparison operator; use one of "
                                     f"{', '.join(sorted(OPERATORS))}")

    def to_asl(self) -> dict[str, Any]:
        return {"Variable": self.variable, self.operator: self.value, **self.extra}

    def describe(self) -> str:
        op = self.operator.removesuffix("Path")
        for kind in (*_KINDS, "Boolean"):
            if op.startswith(kind) and op[len(kind):] in _SYMBOLS:
                return f"{self.variable} {_SYMBOLS[op[len(kind):]]} {self.value!r}".replace("'", "")
        if op == "StringMatches":
            return f"{self.variable} matches {self.value}"
        test = op[2:].lower()
        return f"{self.variable} is {'' if self.value else 'not '}{test}"


@dataclass(frozen=True)
class AllOf(Condition):
    """``And``: every rule holds."""

    rules: tuple[Condition, ...]

    def to_asl(self) -> dict[str, Any]:
        return {"And": [rule.to_asl() for rule in self.rules]}

    def describe(self) -> str:
        return " and ".join(f"({r.describe()})" for r in self.rules)


@dataclass(frozen=True)
class AnyOf(Condition):
    """``Or``: at least one rule holds."""

    rules: tuple[Condition, ...]

    def to_asl(self) -> dict[str, Any]:
        return {"Or": [rule.to_asl() for rule in self.rules]}

    def describe(self) -> str:
        return " or ".join(f"({r.describe()})" for r in self.rules)


@dataclass(frozen=True)
class Negation(Condition):
    """``Not``: the rule does not hold."""

    rule: Condition

    def to_asl(self) -> dict[str, Any]:
        return {"Not": self.rule.to_asl()}

    def describe(self) -> str:
        return f"not ({self.rule.describe()})"


@dataclass(frozen=True)
class Jsonata(Condition):
    """A JSONata ``Condition``, e.g. ``Jsonata("{% $states.input.age > 65 %}")``."""

    expression: str

    def to_asl(self) -> dict[str, Any]:
        return {"Condition": self.expression}

    def describe(self) -> str:
        return self.expression.removeprefix("{%").removesuffix("%}").strip()


class _Comparable:
    """The comparisons of one variable; the operator's kind is fixed (typed) or read from the value."""

    def __init__(self, path: str, kind: Kind | None) -> None:
        self.path = path
        self.kind = kind

    def _compare(self, order: str, value: object) -> Compare:
        kind = self.kind
        if isinstance(value, _Comparable):
            if kind is None:
                raise ConfigurationError(
                    f"comparing {self.path!r} with the variable {value.path!r}: say which kind, e.g. "
                    f"Var({self.path!r}).number > Var({value.path!r}) (or .string, .timestamp)"
                )
            return Compare(self.path, f"{kind}{order}Path", value.path)
        if kind is None:
            kind = ("Boolean" if isinstance(value, bool) else "Numeric" if isinstance(value, int | float)
                    else "String" if isinstance(value, str) else None)
            if kind is None:
                raise ConfigurationError(f"Choice rules compare with a number, a str or a bool; got {value!r}")
        if kind == "Boolean" and order != "Equals":
            raise ConfigurationError(f"{self.path!r}: a boolean can only be compared with ==")
        return Compare(self.path, f"{kind}{order}", value)

    def __eq__(self, value: object) -> Compare:  # type: ignore[override]
        return self._compare("Equals", value)

    def __ne__(self, value: object) -> Negation:  # type: ignore[override]
        return Negation(self._compare("Equals", value))

    def __lt__(self, value: object) -> Compare:
        return self._compare("LessThan", value)

    def __le__(self, value: object) -> Compare:
        return self._compare("LessThanEquals", value)

    def __gt__(self, value: object) -> Compare:
        return self._compare("GreaterThan", value)

    def __ge__(self, value: object) -> Compare:
        return self._compare("GreaterThanEquals", value)

    __hash__ = object.__hash__


class _Operand(_Comparable):
    """A variable whose comparisons have a fixed kind: ``Var("$.due").timestamp``.

    Not a base of :class:`Var` on purpose: Python would try a subclass's reflected operator first,
    turning ``Var("$.a").number <= Var("$.b")`` into ``Var("$.b") >= ...``.
    """


class Var(_Comparable):
    """A JSONPath variable of a Choice rule: ``Var("$.age") > 65``, ``Var("$.tag").matches("x*")``."""

    def __init__(self, path: str) -> None:
        super().__init__(path, None)

    @property
    def number(self) -> _Operand:
        return _Operand(self.path, "Numeric")

    @property
    def string(self) -> _Operand:
        return _Operand(self.path, "String")

    @property
    def timestamp(self) -> _Operand:
        return _Operand(self.path, "Timestamp")

    @property
    def boolean(self) -> _Operand:
        return _Operand(self.path, "Boolean")

    def matches(self, pattern: str) -> Compare:
        """``StringMatches``: ``*`` matches any run of characters (``\\*`` a literal star)."""
        return Compare(self.path, "StringMatches", pattern)

    def is_present(self, present: bool = True) -> Compare:
        return Compare(self.path, "IsPresent", present)

    def is_null(self, null: bool = True) -> Compare:
        return Compare(self.path, "IsNull", null)

    def is_numeric(self, numeric: bool = True) -> Compare:
        return Compare(self.path, "IsNumeric", numeric)

    def is_string(self, string: bool = True) -> Compare:
        return Compare(self.path, "IsString", string)

    def is_boolean(self, boolean: bool = True) -> Compare:
        return Compare(self.path, "IsBoolean", boolean)

    def is_timestamp(self, timestamp: bool = True) -> Compare:
        return Compare(self.path, "IsTimestamp", timestamp)


def parse_condition(data: Mapping[str, Any], what: str = "Choice rule") -> Condition:
    """The condition of one (top-level or nested) Choice rule."""
    rest = {k: v for k, v in data.items() if k not in ("Next", "Comment", "Assign", "Output")}
    if "And" in rest or "Or" in rest:
        key = "And" if "And" in rest else "Or"
        items = rest[key]
        if not isinstance(items, list) or not items:
            raise ConfigurationError(f"{what}: {key} must be a non-empty list of rules")
        rules = tuple(parse_condition(check_mapping(item, what), what) for item in items)
        return AllOf(rules) if key == "And" else AnyOf(rules)
    if "Not" in rest:
        return Negation(parse_condition(check_mapping(rest["Not"], what), what))
    if "Condition" in rest:
        return Jsonata(rest["Condition"])
    operators = [key for key in rest if key in OPERATORS]
    if "Variable" not in rest or len(operators) != 1:
        raise ConfigurationError(
            f"{what} needs a Variable and one comparison (NumericEquals, IsPresent, ...), And, Or, Not "
            f"or a JSONata Condition; got the keys {sorted(rest)}"
        )
    extra = {k: v for k, v in rest.items() if k not in ("Variable", operators[0])}
    return Compare(rest["Variable"], operators[0], rest[operators[0]], extra)


@dataclass(frozen=True, kw_only=True)
class ChoiceRule(AslObject):
    """One top-level rule of a Choice: when ``condition`` holds, go to ``next``."""

    condition: Condition
    next: str
    comment: str | None = None
    assign: Mapping[str, Any] | None = None
    output: Any = None

    def to_asl(self) -> dict[str, Any]:
        rendered = self.condition.to_asl()
        for key, value in (("Next", self.next), ("Comment", self.comment), ("Assign", self.assign),
                           ("Output", self.output)):
            if value is not None:
                rendered[key] = value
        return ordered(rendered, self.key_order)

    @classmethod
    def from_asl(cls, data: Mapping[str, Any], **known: Any) -> ChoiceRule:
        if not isinstance(data.get("Next"), str):
            raise ConfigurationError(f"every rule in Choices needs a Next (a state name); got {dict(data)}")
        return cls(condition=parse_condition(data), next=data["Next"], comment=data.get("Comment"),
                   assign=data.get("Assign"), output=data.get("Output"), key_order=tuple(data))


_RULES = AslKind(load=lambda v: ChoiceRule.from_asl(check_mapping(v, "Choices")), dump=ChoiceRule.to_asl)


@dataclass(frozen=True)
class Choice(State):
    """A Choice state: go to the ``next`` of the first rule that holds, else to ``default``.

    Args:
        name: The state name.
        choices: The rules, in order (build them with :meth:`when`).
        default: Where to go when no rule holds (:meth:`otherwise`); without it, the execution
            fails with ``States.NoChoiceMatched``.
        input_path: JSONPath data field (``InputPath``).
        output_path: JSONPath data field (``OutputPath``); ``output`` is the JSONata one.
    """

    type_name: ClassVar[str] = "Choice"
    _tail: ClassVar[tuple[str, ...]] = ("Choices", "Default", "Assign", "Output")

    choices: tuple[ChoiceRule, ...] = asl("Choices", _RULES, many=True, default=())
    default: str | None = asl("Default")
    input_path: str | None = asl("InputPath")
    output_path: str | None = asl("OutputPath")
    output: Any = asl("Output")

    def when(self, condition: Condition | str, next: str | State, **options: Any) -> Choice:
        """A copy with one more rule: when ``condition`` holds go to ``next``.

        A str condition is JSONata (``"{% $states.input.age > 65 %}"``). ``options`` are
        ``comment``, ``assign`` and ``output`` of the rule.
        """
        if isinstance(condition, str):
            condition = Jsonata(condition)
        if not isinstance(condition, Condition):
            raise ConfigurationError(f"Choice {self.name!r}: when() takes a condition such as "
                                     f"Var('$.age') > 65; got {condition!r}")
        target = next if isinstance(next, str) else next.name
        rule = ChoiceRule(condition=condition, next=target, **options)
        return replace(self, choices=(*self.choices, rule))

    def otherwise(self, next: str | State) -> Choice:
        """A copy whose ``Default`` is ``next``."""
        return replace(self, default=next if isinstance(next, str) else next.name)

    def targets(self) -> list[tuple[str, str]]:
        ways = [(rule.condition.describe(), rule.next) for rule in self.choices]
        return ways + ([("otherwise", self.default)] if self.default is not None else [])
