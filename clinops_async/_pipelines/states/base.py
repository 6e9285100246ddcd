"""The machinery every modelled ASL object shares: fields named after their ASL keys, both ways.

Each model is a frozen dataclass whose fields carry their ASL key in ``metadata`` (see :func:`asl`).
One generic pair, :meth:`AslObject.to_asl` and :meth:`AslObject.from_asl`, turns any model into its
JSON object and back, so a new field is one line in its class, not edits to a renderer and a parser.
Two things make a loaded definition render back equal to its input: keys the model does not know are
kept in ``extra`` (never dropped), and the input's key order is kept in ``key_order``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Self

from ..._exceptions import ConfigurationError

__all__ = ["AslKind", "AslObject", "asl", "check_mapping", "ordered"]


@dataclass(frozen=True)
class AslKind:
    """How one field's value is loaded from JSON and dumped back (plain JSON needs no kind)."""

    load: Callable[[Any], Any]
    dump: Callable[[Any], Any]


def asl(key: str, kind: type[AslObject] | AslKind | None = None, *, many: bool = False,
        default: Any = None) -> Any:
    """A keyword-only dataclass field rendered under the ASL ``key`` (None: left out)."""
    return field(default=default, kw_only=True, metadata={"asl": key, "kind": kind, "many": many})


def ordered(rendered: dict[str, Any], order: Sequence[str]) -> dict[str, Any]:
    """``rendered`` with the keys named in ``order`` first, in that order; the others after them."""
    if not order:
        return rendered
    result = {key: rendered[key] for key in order if key in rendered}
    result.update((key, value) for key, value in rendered.items() if key not in result)
    return result


def check_mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{what} must be a JSON object; got {type(value).__name__}")
    return value


def _load(kind: type[AslObject] | AslKind | None, value: Any, what: str) -> Any:
    if kind is None:
        return value
    if isinstance(kind, AslKind):
        return kind.load(value)
    return kind.from_asl(check_mapping(value, what))


def _dump(kind: type[AslObject] | AslKind | None, value: Any) -> Any:
    if kind is None:
        return value
    if isinstance(kind, AslKind):
        return kind.dump(value)
    return value.to_asl()


@dataclass(frozen=True, kw_only=True)
class AslObject:
    """A JSON object of the States Language, modelled.

    Args:
        extra: Keys the model does not know, rendered as they are (after the known ones).
        key_order: The order to render keys in (a loaded object keeps its input's order).
    """

    #: Keys rendered first, before the fields, when no ``key_order`` is set.
    _head: ClassVar[tuple[str, ...]] = ()
    #: Keys rendered last, after the fields, when no ``key_order`` is set.
    _tail: ClassVar[tuple[str, ...]] = ()

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)
    key_order: tuple[str, ...] = field(default=(), kw_only=True, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Lists given by hand become tuples, as loaded ones are, so equal models compare equal; a
        # lone str where a list belongs (``error_equals="States.ALL"``) is one item, not characters.
        for f in fields(self):
            listed = f.metadata.get("many") or isinstance(f.metadata.get("kind"), AslKind) and \
                f.metadata["kind"].load is tuple
            value = getattr(self, f.name)
            if listed and value is not None and not isinstance(value, tuple):
                object.__setattr__(self, f.name, (value,) if isinstance(value, str) else tuple(value))

    @classmethod
    def _asl_fields(cls) -> list[tuple[str, str, Any, bool]]:
        return [(f.name, f.metadata["asl"], f.metadata["kind"], f.metadata["many"])
                for f in fields(cls) if "asl" in f.metadata]

    def _fixed(self) -> dict[str, Any]:
        """Keys every instance renders whatever its fields (e.g. a state's ``Type``)."""
        return {}

    def to_asl(self) -> dict[str, Any]:
        """This object as ASL (a new dict each call)."""
        rendered = self._fixed()
        for name, key, kind, many in self._asl_fields():
            value = getattr(self, name)
            if value is None:
                continue
            rendered[key] = [_dump(kind, v) for v in value] if many else _dump(kind, value)
        for key, value in self.extra.items():
            rendered.setdefault(key, value)
        order = self.key_order or (*self._head, *(k for _, k, _, _ in self._asl_fields()
                                                  if k not in self._tail), *self._tail)
        return ordered(rendered, order)

    @classmethod
    def from_asl(cls, data: Mapping[str, Any], **known: Any) -> Self:
        """The model of ``data``; ``known`` are fields not read from it (e.g. a state's name)."""
        by_key = {key: (name, kind, many) for name, key, kind, many in cls._asl_fields()}
        values: dict[str, Any] = {}
        extra: dict[str, Any] = {}
        fixed = cls._fixed_keys()
        for key, value in data.items():
            if key in fixed:
                continue
            if key not in by_key or value is None:
                # An explicit null (``"ResultPath": null``: discard the result) is carried as it is,
                # since None on a field means "not given".
                extra[key] = value
                continue
            name, kind, many = by_key[key]
            what = f"{cls.__name__} {key}"
            if many:
                if isinstance(value, str) or not isinstance(value, Sequence):
                    raise ConfigurationError(f"{what} must be a JSON array; got {type(value).__name__}")
                values[name] = tuple(_load(kind, item, what) for item in value)
            else:
                values[name] = _load(kind, value, what)
        return cls(**known, **values, extra=extra, key_order=tuple(data))

    @classmethod
    def _fixed_keys(cls) -> frozenset[str]:
        return frozenset()
