"""Row filters: the ``filters=`` argument of reads, as ``pyarrow.parquet.read_table`` takes it.

A filter is either DNF tuples (``[("age", ">", 65)]``, or a list of such lists, OR-ed) or a
``pyarrow.compute`` expression. Both become one expression through pyarrow's own
``filters_to_expression``; pyarrow's dataset machinery then prunes row groups by their statistics and
filters the rows. Nothing here evaluates a filter: this module only checks one, before any I/O where
its shape is wrong, and against an artifact's schema once the footer is known.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeAlias

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .._exceptions import ConfigurationError

__all__ = ["Filters", "check_columns", "check_filter", "filter_columns", "to_expression"]

#: What ``filters=`` accepts: DNF tuples (one conjunction or a disjunction of them) or an expression.
Filters: TypeAlias = pc.Expression | Sequence[Any]


def check_columns(columns: Sequence[str] | None) -> list[str] | None:
    """``columns=`` of a read as a list (None: every column); ConfigurationError when malformed."""
    if columns is None:
        return None
    if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
        raise ConfigurationError("columns must be a list of column names (strings)")
    return list(columns)


def to_expression(filters: Filters | None) -> pc.Expression | None:
    """The filter as one expression; ConfigurationError (before any I/O) when it is malformed."""
    if filters is None or isinstance(filters, pc.Expression):
        return filters
    if isinstance(filters, str | bytes) or not isinstance(filters, Sequence) or not filters:
        raise ConfigurationError(
            "filters must be a pyarrow.compute expression or DNF tuples such as [('age', '>', 65)] "
            "(a non-empty list of (column, op, value) tuples, or a list of such lists)"
        )
    for column in _dnf_columns(filters):
        if not isinstance(column, str):
            raise ConfigurationError(f"filter columns must be named by strings; got {type(column).__name__}")
    try:
        return pq.filters_to_expression(filters)
    except (TypeError, ValueError, pa.ArrowException) as exc:
        raise ConfigurationError(f"filters are not valid DNF tuples: {exc}") from None


def _dnf_columns(filters: Sequence[Any]) -> list[Any]:
    """The column of every predicate of DNF ``filters`` (a shape error is left to pyarrow)."""
    groups = filters if isinstance(filters[0], list) else [filters]
    return [p[0] for group in groups if isinstance(group, list) for p in group if isinstance(p, tuple) and p]


def check_filter(expression: pc.Expression, schema: pa.Schema, uri: str) -> None:
    """Bind ``expression`` to ``schema`` (on no rows): a missing column or a value of the wrong type
    raises ConfigurationError naming the artifact. pyarrow does the binding; nothing is evaluated."""
    try:
        schema.empty_table().filter(expression)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        reason = str(exc).splitlines()[0].split(" in ", 1)[0] if str(exc) else type(exc).__name__
        raise ConfigurationError(
            f"the filter does not apply to {uri}: it names a column the artifact lacks, or compares a "
            f"column with a value of another type ({reason}). Columns: {schema.names}"
        ) from None


def filter_columns(expression: pc.Expression, schema: pa.Schema, known: Sequence[str]) -> list[str]:
    """The columns of ``schema`` that ``expression`` reads, besides ``known`` (which are read anyway).

    pyarrow does not list an expression's fields, so each other column is left out of the schema in
    turn: the expression reads it when it no longer binds. The expression must bind to ``schema``.
    """
    present = set(known)
    if _binds(expression, pa.schema([f for f in schema if f.name in present])):
        return []
    return [
        f.name for f in schema
        if f.name not in present and not _binds(expression, pa.schema([g for g in schema if g.name != f.name]))
    ]


def _binds(expression: pc.Expression, schema: pa.Schema) -> bool:
    try:
        schema.empty_table().filter(expression)
    except (pa.ArrowException, TypeError, ValueError):
        return False
    return True
