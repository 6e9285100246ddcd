"""Parquet bytes back into the DataFrame that was stored, handing the bytes back as they are decoded."""

from __future__ import annotations

import json
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..._exceptions import ConfigurationError, IntegrityError, SerializationError
from ..filters import check_filter
from .frames import FRAME_META_KEY, unit_of

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

__all__ = [
    "check_columns",
    "decode_errors",
    "decode_parquet",
    "index_columns",
    "parquet_columns",
    "read_parquet_table",
    "table_to_frame",
]


def parquet_columns(data: Any) -> list[str]:
    """The data column names of a Parquet buffer (index columns excluded)."""
    schema = pq.read_schema(pa.BufferReader(data))
    index_cols = index_columns(schema)
    return [n for n in schema.names if n not in index_cols]


def index_columns(schema: pa.Schema) -> list[str]:
    """The stored index columns that have a name of their own, in order (a RangeIndex has none)."""
    pandas_meta = (schema.metadata or {}).get(b"pandas")
    if not pandas_meta:
        return []
    return [c for c in json.loads(pandas_meta).get("index_columns", []) if isinstance(c, str)]


def _object_columns(schema: pa.Schema) -> list[str]:
    """Data columns that were ``object`` in pandas (their values come back as Python objects)."""
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas") or b"{}")
    return [
        c["name"] for c in pandas_meta.get("columns", [])
        if c.get("numpy_type") == "object" and isinstance(c.get("name"), str) and c["name"] in schema.names
    ]


def _as_object_array(values: list[Any]) -> np.ndarray:
    array = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):  # one by one: nested lists must not become dimensions
        array[i] = value
    return array


def _restore_dtypes(df: pd.DataFrame, objects: dict[str, list[Any]], extra: dict[str, Any]) -> pd.DataFrame:
    """Give back what Arrow's conversion to pandas changes: ``object`` columns keep their Python values
    (``None`` stays ``None``, lists stay lists), categoricals their categories, datetimes their unit."""
    nan_columns = set(extra.get("nan_object_columns") or ())
    for name, values in objects.items():
        if name in df.columns:
            if name in nan_columns:
                values = [float("nan") if v is None else v for v in values]
            df[name] = pd.Series(_as_object_array(values), index=df.index, dtype=object, copy=False)
    for name, unit in (extra.get("units") or {}).items():
        if name in df.columns and unit_of(df[name].dtype) not in (None, unit):
            df[name] = df[name].dt.as_unit(unit)
    index_unit = extra.get("index_unit")
    if index_unit and isinstance(df.index, pd.DatetimeIndex | pd.TimedeltaIndex):
        df.index = df.index.as_unit(index_unit)
    # 0.1.0 recorded the categories of frames without rows only, under this key.
    categories = {**(extra.get("empty_categories") or {}), **(extra.get("categories") or {})}
    for name, spec in categories.items():
        if name in df.columns:
            cats = _category_index(spec)
            df[name] = pd.Categorical(df[name], categories=cats, ordered=spec["ordered"])
    return df


def _category_index(spec: dict[str, Any]) -> pd.Index:
    if "epoch" in spec:
        kind = pd.api.types.pandas_dtype(spec["dtype"])
        epoch = np.array(spec["epoch"], dtype="int64")
        if isinstance(kind, pd.DatetimeTZDtype):
            zoned: pd.Index = pd.DatetimeIndex(epoch.view(f"M8[{kind.unit}]")).tz_localize("UTC").tz_convert(kind.tz)
            return zoned
        plain: pd.Index = pd.Index(epoch.view(np.dtype(str(kind))))
        return plain
    values = spec["categories"] if "categories" in spec else spec["values"]  # 0.1.0 said "categories"
    dtype = spec.get("dtype")
    index: pd.Index = pd.Index(values, dtype=None if dtype in (None, "object") else dtype)
    return index


def _rows_without_columns(schema: pa.Schema, df: pd.DataFrame) -> pd.DataFrame:
    """A frame with rows but no columns: Parquet keeps no rows without a column, but the pandas
    metadata keeps its RangeIndex, so the rows come back from there."""
    pandas_meta = json.loads((schema.metadata or {}).get(b"pandas") or b"{}")
    index = pandas_meta.get("index_columns") or []
    if len(index) == 1 and isinstance(index[0], dict) and index[0].get("kind") == "range":
        spec = index[0]
        return pd.DataFrame(
            index=pd.RangeIndex(spec["start"], spec["stop"], spec["step"], name=spec.get("name")),
            columns=df.columns,
        )
    return df


#: A whole-artifact decode reads this many stored bytes of columns at a time before handing them back.
_RELEASE_BATCH = 32 << 20


#: Frames smaller than this are converted into consolidated blocks; larger ones column by column.
_SPLIT_BYTES = 64 * 1024 * 1024

#: Bytes copied between two hand-backs of Arrow's cached memory in :func:`_own_columns`: about a
#: column of a 512 MiB frame of 100 columns, so the copies overshoot the frame by that much only
#: (64 MiB measured 0.07x of the frame higher at the peak of a 512 MiB download).
_RELEASE_EVERY = 8 * 1024 * 1024


def _own_columns(df: pd.DataFrame, *, consolidated: bool) -> pd.DataFrame:
    """Give every column memory of its own that can be written to, one column at a time.

    ``to_pandas`` hands single-chunk numeric, categorical and timestamp columns over without a
    copy, as views of Arrow's read-only buffers: ``df.loc[0, "x"] = 1`` would then raise
    "assignment destination is read-only". Columns pandas already owns are left as they are (numpy
    columns of a ``consolidated`` frame live in blocks pandas allocated; strings are immutable Arrow
    arrays that pandas replaces on write). Arrow's allocator keeps freed memory for reuse, which
    pandas' allocations cannot use, so it is asked to hand it back as the copies go, lest the frame be
    held twice.
    """
    copied = 0
    for position, dtype in enumerate(df.dtypes):
        if pd.api.types.is_object_dtype(dtype) or isinstance(dtype, pd.StringDtype | pd.ArrowDtype):
            continue
        if isinstance(dtype, np.dtype) and consolidated:
            continue
        column = df.iloc[:, position]
        if isinstance(dtype, np.dtype) and _owns_writable_memory(column):
            continue
        df.isetitem(position, column.array.copy())
        copied += int(column.memory_usage(index=False, deep=False))
        del column
        if copied >= _RELEASE_EVERY:
            pa.default_memory_pool().release_unused()
            copied = 0
    if copied:
        pa.default_memory_pool().release_unused()
    return df


def _owns_writable_memory(column: pd.Series) -> bool:
    array = column.to_numpy(copy=False)
    while isinstance(array.base, np.ndarray):  # pandas hands out read-only views of its own arrays
        array = array.base
    return bool(array.flags.writeable)


def _read_releasing(parquet: pq.ParquetFile, release: Callable[[int, int], None]) -> pa.Table:
    """``parquet.read()``, a few columns at a time, calling ``release`` for each batch's stored bytes.

    A batch is read only once the previous one is handed back, so the stored bytes turn into Arrow
    memory instead of adding to it. Files whose layout does not map cleanly onto columns (it always
    does for files this library writes) are read in one go, with nothing released.
    """
    plan = _column_ranges(parquet)
    if plan is None:
        return parquet.read(use_pandas_metadata=True)
    columns: list[pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    metadata = None
    start = 0
    while start < len(plan):
        end, stored = start, 0
        while end < len(plan) and (end == start or stored < _RELEASE_BATCH):
            stored += sum(b - a for a, b in plan[end][1])
            end += 1
        leaves = [leaf for field_leaves, _ in plan[start:end] for leaf in field_leaves]
        batch = parquet.reader.read_all(column_indices=leaves, use_threads=True)
        fields.extend(batch.schema)
        columns.extend(batch.columns)
        metadata = batch.schema.metadata
        del batch
        for _, ranges in plan[start:end]:
            for a, b in ranges:
                release(a, b)
        # Arrow keeps what decoding freed for its own reuse; hand it back so the next batch's
        # columns take the place of the released bytes instead of adding to them.
        pa.default_memory_pool().release_unused()
        start = end
    return pa.Table.from_arrays(columns, schema=pa.schema(fields, metadata=metadata))


def _leaf_count(kind: pa.DataType) -> int:
    """How many Parquet leaf columns store a field of this Arrow type."""
    if isinstance(kind, pa.ExtensionType):
        return _leaf_count(kind.storage_type)
    if pa.types.is_dictionary(kind):
        return _leaf_count(kind.value_type)
    if pa.types.is_struct(kind):
        return sum(_leaf_count(kind.field(i).type) for i in range(kind.num_fields))
    if pa.types.is_map(kind):
        return _leaf_count(kind.key_type) + _leaf_count(kind.item_type)
    if pa.types.is_list(kind) or pa.types.is_large_list(kind) or pa.types.is_fixed_size_list(kind):
        return _leaf_count(kind.value_type)
    return 1


def _column_ranges(parquet: pq.ParquetFile) -> list[tuple[list[int], list[tuple[int, int]]]] | None:
    """For each top-level field: its leaf column indices and the byte ranges of their chunks.

    None when the fields do not map onto the leaves one after another, or when chunks overlap, so
    that releasing a field's bytes could touch bytes another field needs.
    """
    meta = parquet.metadata
    schema = parquet.schema_arrow
    if meta.num_row_groups == 0 or len(schema) == 0:
        return None
    paths = [meta.schema.column(j).path for j in range(meta.num_columns)]
    plan: list[tuple[list[int], list[tuple[int, int]]]] = []
    leaf = 0
    for field in schema:
        count = _leaf_count(field.type)
        leaves = list(range(leaf, leaf + count))
        leaf += count
        if leaf > len(paths) or not all(
            paths[j] == field.name or paths[j].startswith(field.name + ".") for j in leaves
        ):
            return None
        plan.append((leaves, []))
    if leaf != len(paths):
        return None
    everything: list[tuple[int, int]] = []
    for r in range(meta.num_row_groups):
        group = meta.row_group(r)
        for leaves, ranges in plan:
            for j in leaves:
                chunk = group.column(j)
                begin = chunk.data_page_offset
                if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
                    begin = min(begin, chunk.dictionary_page_offset)
                if begin < 4 or chunk.total_compressed_size < 0:
                    return None
                ranges.append((begin, begin + chunk.total_compressed_size))
                everything.append(ranges[-1])
    everything.sort()
    for (_, end), (begin, _) in zip(everything, everything[1:], strict=False):
        if begin < end:
            return None
    return plan


def decode_parquet(
    data: Any,
    *,
    columns: list[str] | None,
    uri: str,
    release: Callable[[int, int], None] | None,
    expression: pc.Expression | None = None,
    pandas: bool = True,
) -> Any:
    """Decode Parquet bytes into the DataFrame that was stored (see ``formats.decode``), or with
    ``pandas=False`` into the Arrow table that was stored, only the rows ``expression`` keeps.

    Raises:
        ConfigurationError: A requested column is not in the file, or the filter does not apply to it.
        IntegrityError: A page fails its checksum: no data is returned.
        SerializationError: Not a readable Parquet file.
    """
    with decode_errors(uri):
        if not pandas:
            return read_parquet_table(data, columns=columns, expression=expression, uri=uri)
        if expression is not None:
            table = read_parquet_table(data, columns=columns, expression=expression, uri=uri, with_index=True)
            return table_to_frame(table)
        df, objects, schema = _read_frame(data, columns, uri, release)
    if len(df.columns) == 0 and len(df) == 0:
        df = _rows_without_columns(schema, df)
    return _finish_frame(df, objects, schema)


@contextmanager
def decode_errors(uri: str) -> Iterator[None]:
    """Arrow's read errors as ours: a failed page checksum is an IntegrityError, the rest SerializationError."""
    try:
        yield
    except ConfigurationError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        if "checksum" in str(exc).lower() or "crc" in str(exc).lower():
            raise IntegrityError(
                f"{uri} failed its Parquet page checksum: the stored bytes are damaged; no data was returned",
                uri=uri or None,
            ) from None
        raise SerializationError(f"{uri} is not a readable Parquet file (damaged or another format)") from None


def _finish_frame(df: pd.DataFrame, objects: dict[str, list[Any]], schema: pa.Schema) -> pd.DataFrame:
    """What pandas' own conversion leaves out: Python objects, categories, units, the index frequency."""
    extra = json.loads((schema.metadata or {}).get(FRAME_META_KEY, b"{}"))
    df = _restore_dtypes(df, objects, extra)
    freq = extra.get("index_freq")
    if freq and isinstance(df.index, pd.DatetimeIndex):
        try:
            df.index = pd.DatetimeIndex(df.index, freq=freq)
        except ValueError:
            pass
    return df


def table_to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table read from an artifact (all or some of its rows) as the DataFrame stored.

    A default RangeIndex is numbered afresh when rows were left out, as ``pyarrow.parquet`` does.
    """
    schema = table.schema
    objects = {name: table.column(name).to_pylist() for name in _object_columns(schema)}
    small = table.nbytes < _SPLIT_BYTES
    df: pd.DataFrame = table.to_pandas(split_blocks=not small, self_destruct=True)
    del table
    return _finish_frame(_own_columns(df, consolidated=small), objects, schema)


#: Page checksums are verified on every read through pyarrow's dataset scanner, as on whole reads.
_FORMAT = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)


def read_parquet_table(
    data: Any,
    *,
    columns: list[str] | None,
    expression: pc.Expression | None,
    uri: str,
    row_groups: list[int] | None = None,
    with_index: bool = False,
) -> pa.Table:
    """The Arrow table stored in Parquet ``data``: ``columns`` (all when None; ``with_index`` adds
    the stored pandas index columns) of the rows that ``expression`` keeps, from ``row_groups`` only
    when given. pyarrow's dataset scanner prunes row groups by their statistics and filters the rows.

    Raises:
        ConfigurationError: A column is not in the file, or the filter does not apply to it.
    """
    fragment = _FORMAT.make_fragment(pa.BufferReader(data), row_groups=row_groups)
    schema = fragment.physical_schema
    names = check_columns(schema, columns, uri)
    if expression is not None:
        check_filter(expression, schema, uri)
    if names is not None and with_index:
        names += [c for c in index_columns(schema) if c not in names]
    return fragment.to_table(columns=names, filter=expression)


def check_columns(schema: pa.Schema, columns: list[str] | None, uri: str) -> list[str] | None:
    """``columns`` (copied) when each is a data column of ``schema``; ConfigurationError naming the artifact."""
    if columns is None:
        return None
    present = set(schema.names) - set(index_columns(schema))
    missing = [c for c in columns if c not in present]
    if missing:
        raise ConfigurationError(f"{uri}: columns {missing} are not in the artifact")
    return list(columns)


def _read_frame(
    data: Any, columns: list[str] | None, uri: str, release: Callable[[int, int], None] | None
) -> tuple[pd.DataFrame, dict[str, list[Any]], pa.Schema]:
    """The frame as Arrow converts it, the Python values of its ``object`` columns, and the schema."""
    parquet = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
    schema = parquet.schema_arrow
    check_columns(schema, columns, uri)
    if release is not None and columns is None:
        table = _read_releasing(parquet, release)
    else:
        table = parquet.read(columns=columns, use_pandas_metadata=True)
    del parquet, data
    objects = {name: table.column(name).to_pylist() for name in _object_columns(table.schema)}
    small = table.nbytes < _SPLIT_BYTES
    # A small frame is consolidated (one copy into writable blocks, in Arrow); a big one is split
    # into a block per column, so that Arrow's buffers are freed as they are taken over.
    df: pd.DataFrame = table.to_pandas(split_blocks=not small, self_destruct=True)
    del table
    return _own_columns(df, consolidated=small), objects, schema
