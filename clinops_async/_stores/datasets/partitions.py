"""Hive partitions: the columns a dataset is split by, checked, and the paths of its fragments.

A dataset ``name`` partitioned by ``site`` and ``month`` is stored as fragments at
``name/site=A/month=2024-01/part-<uuid>.parquet`` (the partition columns live in the path only, as
pyarrow and Spark write them). Each fragment's schema metadata also records the partition columns'
Arrow types (``clinops-partitions``), so they come back exactly; a dataset another tool wrote gets
the types ``pyarrow.dataset`` would infer. (A ``_common_metadata`` file would say the same, but
polars refuses a directory that holds one.) Paths are made and parsed by pyarrow's
``HivePartitioning``; which fragments a filter keeps is decided by pyarrow's simplification of the
filter against each fragment's partition expression (``FileSystemDataset.get_fragments(filter=...)``).
Nothing here evaluates a filter.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pyarrow.ipc

from ..._exceptions import ConfigurationError, SerializationError

__all__ = [
    "PARTITIONS_KEY",
    "Fragment",
    "check_partition_cols",
    "fragment_name",
    "hive_partitioning",
    "infer_partition_schema",
    "parse_fragments",
    "partition_schema_of",
    "prune",
    "split_partitions",
    "with_partition_types",
]

#: The schema metadata key of a fragment that records the partition columns and their types.
PARTITIONS_KEY = b"clinops-partitions"

#: Partition values become path segments: strings, integers and dates read back as what they were.
_TYPES = (pa.types.is_string, pa.types.is_large_string, pa.types.is_integer, pa.types.is_date32)


def hive_partitioning(schema: pa.Schema) -> ds.HivePartitioning:
    """pyarrow's hive partitioning over ``schema`` (values URI-encoded in paths, as pyarrow writes them)."""
    return ds.HivePartitioning(schema, segment_encoding="uri")


def check_partition_cols(partition_cols: object, schema: pa.Schema) -> list[str]:
    """``partition_cols`` as a list of columns of ``schema`` of a type a path can hold; else ConfigurationError."""
    if isinstance(partition_cols, str) or not isinstance(partition_cols, Sequence):
        raise ConfigurationError("partition_cols must be a list of column names, e.g. ['site', 'month']")
    cols = list(partition_cols)
    if not all(isinstance(c, str) for c in cols):
        raise ConfigurationError("partition_cols must name columns by strings")
    if len(set(cols)) != len(cols):
        raise ConfigurationError(f"partition_cols names a column twice: {cols}")
    missing = [c for c in cols if c not in schema.names]
    if missing:
        raise ConfigurationError(f"partition columns {missing} are not in the data; its columns: {schema.names}")
    if len(cols) == len(schema.names):
        raise ConfigurationError("every column is a partition column; at least one column must remain in the files")
    for col in cols:
        kind = schema.field(col).type
        if not any(test(kind) for test in _TYPES):
            raise ConfigurationError(
                f"partition column {col!r} is of type {kind}; partition by strings, integers or dates "
                "(cast it first, e.g. a timestamp to a 'YYYY-MM' string)"
            )
    return cols


def _check_values(table: pa.Table, cols: list[str]) -> None:
    """ConfigurationError when a partition column holds a null, an empty string, '/' or '='."""
    for col in cols:
        column = table.column(col)
        if column.null_count:
            raise ConfigurationError(f"partition column {col!r} holds {column.null_count} null values; fill them first")
        if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
            continue
        if pc.any(pc.equal(pc.utf8_length(column), 0)).as_py():
            raise ConfigurationError(f"partition column {col!r} holds empty strings, which no path segment can hold")
        for char in ("/", "="):
            if pc.any(pc.match_substring(column, char)).as_py():
                raise ConfigurationError(
                    f"partition column {col!r} holds values with {char!r}, which would change the path "
                    "of their fragment; replace it first"
                )


def split_partitions(table: pa.Table, cols: list[str]) -> list[tuple[str, pa.Table]]:
    """The rows of ``table`` per partition: ``(directory, rows without the partition columns)``, in
    the order of the partition values; rows keep their order within a partition (stable sort)."""
    _check_values(table, cols)
    data_cols = [c for c in table.column_names if c not in cols]
    if not cols:
        return [("", table)]
    ordered = table.take(pc.sort_indices(table, [(c, "ascending") for c in cols]))
    changed = pa.array([True] + [False] * (ordered.num_rows - 1)) if ordered.num_rows else pa.array([], pa.bool_())
    for col in cols:
        values = ordered.column(col)
        if ordered.num_rows > 1:
            step = pc.not_equal(values.slice(1), values.slice(0, ordered.num_rows - 1))
            changed = pc.or_(changed, pa.concat_arrays([pa.array([True]), *step.chunks]))
    starts = pc.indices_nonzero(changed).to_pylist() + [ordered.num_rows]
    partitioning = hive_partitioning(pa.schema([table.schema.field(c) for c in cols]))
    parts = []
    for start, end in zip(starts, starts[1:], strict=False):
        first = ordered.slice(start, 1)
        expression = _equals(cols, [first.column(c)[0] for c in cols])
        directory, _ = partitioning.format(expression)
        parts.append((directory, ordered.slice(start, end - start).select(data_cols)))
    return parts


def _equals(cols: list[str], values: list[pa.Scalar]) -> pc.Expression:
    expression = pc.field(cols[0]) == values[0]
    for col, value in zip(cols[1:], values[1:], strict=True):
        expression = expression & (pc.field(col) == value)
    return expression


def fragment_name(dataset: str, directory: str) -> str:
    """The artifact name of a new fragment: unique, so appends and concurrent writers never collide."""
    return "/".join(p for p in (dataset, directory, f"part-{uuid.uuid4().hex}") if p)


@dataclass(frozen=True)
class Fragment:
    """One stored file of a dataset: its key, its path below the dataset, and its partition values."""

    key: str
    path: str  #: relative to the dataset, e.g. ``site=A/month=2024-01/part-....parquet``
    keys: tuple[tuple[str, str], ...]  #: the raw ``(column, value)`` pairs of its directories

    @property
    def directory(self) -> str:
        return self.path.rpartition("/")[0]


def parse_fragments(root: str, keys: list[str], uri: str) -> list[Fragment]:
    """The fragments among the keys under ``root`` (``dataset/``), sorted by path.

    Files and directories whose names start with ``_`` or ``.`` are not data (Hive, Spark and pyarrow
    agree); directories without ``=`` are not partitions, as pyarrow reads them. Every fragment must
    name the same partition columns in the same order, else SerializationError naming the file.
    """
    fragments = []
    for key in sorted(keys):
        path = key[len(root) :]
        segments = path.split("/")
        if any(s.startswith(("_", ".")) or not s for s in segments):
            continue
        pairs = tuple(tuple(s.split("=", 1)) for s in segments[:-1] if "=" in s)
        fragments.append(Fragment(key, path, pairs))  # type: ignore[arg-type]
    if fragments:
        names = [k for k, _ in fragments[0].keys]
        for fragment in fragments:
            if [k for k, _ in fragment.keys] != names:
                raise SerializationError(
                    f"{uri}{fragment.path} is partitioned by {[k for k, _ in fragment.keys]}, the dataset's "
                    f"first file by {names}; a hive dataset names the same partition columns in every path"
                )
    return fragments


def with_partition_types(schema: pa.Schema, partition_schema: pa.Schema) -> pa.Schema:
    """``schema`` (a fragment's) with the partition columns' types recorded in its metadata."""
    metadata = dict(schema.metadata or {})
    metadata[PARTITIONS_KEY] = base64.b64encode(partition_schema.serialize().to_pybytes())
    return schema.with_metadata(metadata)


def partition_schema_of(file_schema: pa.Schema) -> pa.Schema | None:
    """The partition columns and types a fragment of ours records; None for another tool's file."""
    raw = (file_schema.metadata or {}).get(PARTITIONS_KEY)
    if raw is None:
        return None
    try:
        return pa.ipc.read_schema(pa.py_buffer(base64.b64decode(raw)))
    except (pa.ArrowException, ValueError):
        return None


def infer_partition_schema(fragments: list[Fragment]) -> pa.Schema:
    """Partition types for files another tool wrote (no recorded types), as ``pyarrow.dataset`` infers
    them: a column whose every value is an integer is int32 (int64 when one does not fit), else string."""
    if not fragments:
        return pa.schema([])
    fields = []
    for i, (name, _) in enumerate(fragments[0].keys):
        values = pa.array([_decode(f.keys[i][1]) for f in fragments])
        kind: pa.DataType = pa.string()
        for candidate in (pa.int32(), pa.int64()):
            try:
                pc.cast(values, candidate)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            kind = candidate
            break
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _decode(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)


def prune(fragments: list[Fragment], partition_schema: pa.Schema, full_schema: pa.Schema,
          expression: pc.Expression | None, uri: str) -> list[tuple[Fragment, pc.Expression]]:
    """The fragments ``expression`` may keep rows of, each with its partition expression, by
    pyarrow's simplification of the filter against the partitions (no file is opened)."""
    partitioning = hive_partitioning(partition_schema)
    expressions = []
    for fragment in fragments:
        try:
            expressions.append(partitioning.parse("/" + fragment.directory + "/") if fragment.keys else ds.scalar(True))
        except (pa.ArrowInvalid, ValueError) as exc:
            raise SerializationError(
                f"{uri}{fragment.path}: its partition values do not fit the dataset's partition types "
                f"{partition_schema}: {exc}"
            ) from None
    if expression is None:
        return list(zip(fragments, expressions, strict=True))
    # Paths only: pyarrow keeps the fragments whose partition expression does not rule the filter out.
    listed = ds.FileSystemDataset.from_paths(
        [f"/{f.path}" for f in fragments], schema=full_schema, format=ds.ParquetFileFormat(),
        filesystem=pafs.LocalFileSystem(), partitions=expressions,
    )
    kept = {fragment.path.lstrip("/") for fragment in listed.get_fragments(filter=expression)}
    return [(f, e) for f, e in zip(fragments, expressions, strict=True) if f.path in kept]
