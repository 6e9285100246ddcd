"""DataFrame <-> Parquet / CSV bytes. Pure and synchronous: always called in a worker thread.

Parquet round trips are exact: dtypes (nullable integers, categoricals, time-zone-aware timestamps)
and a meaningful index (a DatetimeIndex of time windows, with its frequency) survive. A default
RangeIndex is stored as metadata only, as the original did. Pages carry CRC32 checksums, verified on
read, so a column projection is checked even when the whole object is not fetched.

Errors never quote DataFrame values (they may be patient data): they name the column and the Python
types found in it.
"""

from __future__ import annotations

import enum
import io
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .._exceptions import ConfigurationError, IntegrityError, SerializationError
from .checksum import crc32c_int, steer_crc32c

__all__ = ["Encoded", "StorageFormat", "decode", "encode"]

_META_KEY = b"clinops_async"


class StorageFormat(enum.StrEnum):
    """How artifacts are serialised; the value doubles as the file extension."""

    PARQUET = "parquet"
    """Apache Parquet (default): typed, compressed, column-projectable; efficient for wide frames."""
    CSV = "csv"
    """CSV, for tools that cannot read Parquet. Dtypes and the index are not preserved."""

    @property
    def content_type(self) -> str:
        return "application/octet-stream" if self is StorageFormat.PARQUET else "text/csv"


@dataclass(frozen=True)
class Encoded:
    """An encoded artifact: its bytes (a buffer, not copied) and what ``info`` reports about it."""

    data: memoryview
    rows: int
    columns: int


def coerce_format(value: object) -> StorageFormat:
    try:
        return StorageFormat(value)  # type: ignore[arg-type]
    except ValueError:
        raise ConfigurationError(
            f"format must be StorageFormat.PARQUET or StorageFormat.CSV; got {value!r}"
        ) from None


def _check_frame(df: object) -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise SerializationError(f"expected a pandas DataFrame; got {type(df).__name__}")
    bad = [c for c in df.columns if not isinstance(c, str)]
    if bad:
        kinds = sorted({type(c).__name__ for c in bad})
        raise SerializationError(
            f"column names must be strings; {len(bad)} are not (types: {', '.join(kinds)}). "
            "Rename them, e.g. df.columns = df.columns.map(str)"
        )
    duplicated = df.columns[df.columns.duplicated()].unique().tolist()
    if duplicated:
        raise SerializationError(f"duplicate column names {duplicated[:5]}: column names must be unique")
    for name in _object_column_names(df):
        if not _same_dict_keys(df[name]):
            raise SerializationError(
                f"column {name!r} holds dicts with different keys: Parquet stores them as one struct, so "
                "missing keys would come back as None. Give every dict the same keys, or store JSON text"
            )
    return df


def _object_column_names(df: pd.DataFrame) -> list[str]:
    # One pass over the dtypes: looking each column up (``df[name]``) costs ~0.1 ms a column.
    return [str(name) for name, dtype in df.dtypes.items() if pd.api.types.is_object_dtype(dtype)]


def _same_dict_keys(column: pd.Series) -> bool:
    keys: set[Any] | None = None
    for value in column:
        if isinstance(value, dict):
            if keys is None:
                keys = set(value)
            elif set(value) != keys:
                return False
    return True


def _describe_failure(df: pd.DataFrame) -> str:
    """Name the first column pyarrow cannot convert and the value types in it (never the values)."""
    for name in df.columns:
        try:
            pa.array(df[name], from_pandas=True)
        except (pa.ArrowException, TypeError, ValueError):
            kinds = sorted({type(v).__name__ for v in df[name].dropna().tolist()})
            return f"column {name!r} holds values of types {kinds} that do not form one Parquet type"
    return "the index or a column could not be converted to Arrow"


def encode(df: object, fmt: StorageFormat, *, compression: str = "snappy") -> Encoded:
    """Encode ``df``; raise SerializationError (before any I/O) when it cannot be stored losslessly."""
    frame = _check_frame(df)
    rows, columns = frame.shape
    if fmt is StorageFormat.CSV:
        text = frame.to_csv(index=False)
        return Encoded(memoryview(text.encode("utf-8")), rows, columns)
    try:
        # Worker threads pay off for big frames only; a small one converts faster on this thread.
        threads = None if rows * max(columns, 1) >= _THREADED_CELLS else 1
        table = pa.Table.from_pandas(frame, preserve_index=None, nthreads=threads)
    except (pa.ArrowException, TypeError, ValueError):
        raise SerializationError(
            f"cannot encode the DataFrame as Parquet: {_describe_failure(frame)}. "
            "Cast the column to one type (e.g. .astype(str)) before uploading"
        ) from None
    table = table.replace_schema_metadata(_with_extra_metadata(frame, table.schema))
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(
            table,
            sink,
            compression=None if compression == "none" else compression,
            use_dictionary=_dictionary_columns(frame, table.schema),
            write_page_checksum=True,
        )
    except (pa.ArrowException, TypeError, ValueError):
        raise SerializationError("cannot encode the DataFrame as Parquet: the writer rejected it") from None
    del table
    return Encoded(memoryview(sink.getvalue()), rows, columns)


def _with_extra_metadata(frame: pd.DataFrame, schema: pa.Schema) -> dict[bytes, bytes]:
    """The schema's metadata plus what pandas' own leaves out (the index frequency, NaN columns...)."""
    freq = getattr(frame.index, "freqstr", None)
    extra: dict[str, Any] = {"index_freq": freq}
    if len(frame) == 0:
        # Parquet keeps no dictionary for a categorical column without rows: record its categories.
        extra["empty_categories"] = _empty_categories(frame)
    nan_columns = _nan_object_columns(frame)
    if nan_columns:
        extra["nan_object_columns"] = nan_columns
    meta = dict(schema.metadata or {})
    try:
        meta[_META_KEY] = json.dumps(extra).encode()
    except TypeError:
        meta[_META_KEY] = json.dumps({"index_freq": freq}).encode()
    return meta


#: The footer entry whose value is chosen last, so that a streamed file's CRC32C is known in advance.
FILL_KEY = "clinops_async.crc32c_fill"
_FILL_LENGTH = 40


class _PartSink:
    """The Parquet writer's output, cut into parts as it is written.

    Each full part (a fresh buffer, handed over without a copy) goes to ``emit(number, part, crc32c)``
    with its CRC32C; ``final()`` stops the cutting, so the last part and the footer stay here.
    """

    closed = False

    def __init__(self, part_size: Callable[[int], int], emit: Callable[[int, memoryview, int], None]) -> None:
        self._part_size = part_size
        self._emit = emit
        self.number = 1
        self.crc = 0  #: CRC32C of the bytes emitted so far
        self.emitted = 0
        self.part = bytearray(part_size(1))
        self._fill = 0
        self._final = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._final:
            self.part += view
            return len(view)
        pos = 0
        while pos < len(view):
            take = min(len(view) - pos, len(self.part) - self._fill)
            self.part[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == len(self.part):
                part, crc = self.part, crc32c_int(self.part)
                self.crc = crc32c_int(part, self.crc)
                self.emitted += len(part)
                self._emit(self.number, memoryview(part), crc)
                self.number += 1
                self.part, self._fill = bytearray(self._part_size(self.number)), 0
        return len(view)

    def final(self) -> None:
        del self.part[self._fill :]
        self._final = True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def writable(self) -> bool:
        return True


@dataclass(frozen=True)
class StreamedTail:
    """What is left after the streamed parts: the last part (footer included) and the totals."""

    data: memoryview
    crc32c: int
    parts: int  #: full parts emitted before it
    size: int  #: bytes of the whole artifact


def encode_parts(
    df: object,
    *,
    compression: str,
    part_size: Callable[[int], int],
    rows_per_group: int,
    target_crc32c: int,
    emit: Callable[[int, memoryview, int], None],
) -> StreamedTail:
    """Encode ``df`` as Parquet row group by row group, handing out parts while it goes.

    The whole file never exists in memory: only one row group's Arrow table and the part being
    filled. ``emit(number, part, crc32c)`` may block (back pressure); an exception it raises stops
    the encoding and is raised as is. A field in the footer is set last so that the CRC32C of the
    whole file equals ``target_crc32c``, which can so be recorded before the first part leaves.

    Raises:
        SerializationError: The frame cannot be stored losslessly.
    """
    frame = _check_frame(df)
    rows, columns = frame.shape
    try:
        schema = pa.Schema.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError):
        raise SerializationError(
            f"cannot encode the DataFrame as Parquet: {_describe_failure(frame)}. "
            "Cast the column to one type (e.g. .astype(str)) before uploading"
        ) from None
    schema = schema.with_metadata(_with_extra_metadata(frame, schema))
    emitted: list[BaseException] = []

    def guarded_emit(number: int, part: memoryview, crc: int) -> None:
        try:
            emit(number, part, crc)
        except BaseException as exc:
            emitted.append(exc)  # the writer turns it into an ArrowException: keep the original
            raise

    sink = _PartSink(part_size, guarded_emit)
    try:
        writer = pq.ParquetWriter(
            sink,
            schema,
            compression=None if compression == "none" else compression,
            use_dictionary=_dictionary_columns(frame, schema),
            write_page_checksum=True,
        )
        for start in range(0, rows, rows_per_group):
            piece = frame.iloc[start : start + rows_per_group]
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=None, nthreads=1))
            del piece
        sink.final()
        writer.add_key_value_metadata({FILL_KEY: "a" * _FILL_LENGTH})
        writer.close()
    except Exception:
        if emitted:
            raise emitted[0] from None
        raise SerializationError(
            f"cannot encode the DataFrame as Parquet: {_describe_failure(frame)}"
        ) from None
    tail = sink.part
    footer_length = int.from_bytes(tail[-8:-4], "little")
    footer_start = len(tail) - 8 - footer_length
    fill = tail.find(b"a" * _FILL_LENGTH, tail.find(FILL_KEY.encode(), footer_start))
    if footer_start < 0 or fill < 0:
        raise SerializationError("cannot encode the DataFrame as Parquet: the footer could not be completed")
    steer_crc32c(tail, fill, _FILL_LENGTH, before=sink.crc, target=target_crc32c)
    return StreamedTail(memoryview(tail), crc32c_int(tail), sink.number - 1, sink.emitted + len(tail))


#: Frames of at least this many cells are converted to Arrow on several threads.
_THREADED_CELLS = 1 << 20
#: Float columns whose sample is more than this share distinct values are not dictionary-encoded.
_DISTINCT_SHARE = 0.5
_SAMPLE_ROWS = 1_000


def _dictionary_columns(frame: pd.DataFrame, schema: pa.Schema) -> bool | list[str]:
    """Columns worth dictionary encoding: all but floats that are mostly distinct (measurements).

    A dictionary of mostly distinct floats is dropped by the writer after a megabyte anyway, and
    costs time and space until then (a 64 MiB frame of such floats encoded 4x slower and 25% larger
    with it); rounded vitals, flags and ids keep it.
    """
    positions = [i for i, dtype in enumerate(frame.dtypes) if pd.api.types.is_float_dtype(dtype)]
    if not positions:
        return True
    # One conversion of the sampled rows of every float column (a column at a time costs ~0.3 ms each).
    samples = frame.iloc[:_SAMPLE_ROWS, positions].to_numpy(dtype="float64", na_value=np.nan)
    dense = set()
    for j, position in enumerate(positions):
        sample = samples[:, j]
        sample = sample[~np.isnan(sample)]
        if len(sample) and np.unique(sample).size > _DISTINCT_SHARE * len(sample):
            dense.add(frame.columns[position])
    if not dense:
        return True
    return [n for n in schema.names if n not in dense]


def parquet_columns(data: Any) -> list[str]:
    """The data column names of a Parquet buffer (index columns excluded)."""
    schema = pq.read_schema(pa.BufferReader(data))
    index_cols = _index_columns(schema)
    return [n for n in schema.names if n not in index_cols]


def _index_columns(schema: pa.Schema) -> set[str]:
    pandas_meta = (schema.metadata or {}).get(b"pandas")
    if not pandas_meta:
        return set()
    cols = json.loads(pandas_meta).get("index_columns", [])
    return {c for c in cols if isinstance(c, str)}


def _nan_object_columns(frame: pd.DataFrame) -> list[str]:
    """Object columns whose missing values are NaN, not None (Parquet stores both as null).

    Raises:
        SerializationError: A column mixes None and NaN, which one null cannot tell apart.
    """
    found = []
    for name in _object_column_names(frame):
        nulls = {"nan" if isinstance(v, float) else "none" for v in frame[name] if v is None or v != v}
        if nulls == {"nan", "none"}:
            raise SerializationError(
                f"column {name!r} mixes None and NaN as missing values; Parquet keeps one kind of null. "
                "Use one of them (e.g. .fillna(np.nan) or .replace({np.nan: None}))"
            )
        if nulls == {"nan"}:
            found.append(name)
    return found


def _empty_categories(frame: pd.DataFrame) -> dict[str, Any]:
    found = {}
    for name in frame.columns:
        dtype = frame[name].dtype
        if isinstance(dtype, pd.CategoricalDtype):
            found[name] = {"categories": dtype.categories.tolist(), "ordered": bool(dtype.ordered)}
    return found


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
    (``None`` stays ``None``, lists stay lists), and a categorical column without rows keeps its
    categories."""
    nan_columns = set(extra.get("nan_object_columns") or ())
    for name, values in objects.items():
        if name in df.columns:
            if name in nan_columns:
                values = [float("nan") if v is None else v for v in values]
            df[name] = pd.Series(_as_object_array(values), index=df.index, dtype=object, copy=False)
    if len(df) == 0:
        for name, spec in (extra.get("empty_categories") or {}).items():
            if name in df.columns:
                df[name] = pd.Categorical([], categories=spec["categories"], ordered=spec["ordered"])
    return df


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


def decode_owned(
    box: list[Any],
    fmt: StorageFormat,
    *,
    columns: list[str] | None = None,
    uri: str = "",
    release: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Like :func:`decode`, taking the only reference to the bytes (``box``) so they can be freed early.

    The raw bytes are dropped once Arrow has decoded them, and Arrow's buffers are released column
    by column as pandas takes them, so a download peaks near twice the frame, not three times. With
    ``release``, the bytes are also handed back range by range as they are decoded (see :func:`decode`).
    """
    return decode(box.pop(), fmt, columns=columns, uri=uri, release=release)


def decode(
    data: Any,
    fmt: StorageFormat,
    *,
    columns: list[str] | None = None,
    uri: str = "",
    release: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Decode an artifact's bytes (any buffer) into a DataFrame, optionally only ``columns``.

    ``release(start, end)``, when given, is called for byte ranges of ``data`` the decoder will not
    read again (the column chunks of a whole Parquet artifact, a few columns at a time), so that the
    caller can free them while the rest is decoded. The result is the same with or without it.
    """
    if fmt is StorageFormat.CSV:
        try:
            frame: pd.DataFrame = pd.read_csv(io.BytesIO(data), usecols=columns)
            return frame
        except ValueError as exc:
            if columns is not None and "Usecols" in str(exc):
                raise ConfigurationError(f"{uri}: some of the columns {columns} are not in the artifact") from None
            raise SerializationError(f"{uri} is not valid CSV") from None
        except Exception:
            raise SerializationError(f"{uri} is not valid CSV") from None
    try:
        parquet = pq.ParquetFile(pa.BufferReader(data), page_checksum_verification=True)
        schema = parquet.schema_arrow
        if columns is not None:
            present = set(schema.names) - _index_columns(schema)
            missing = [c for c in columns if c not in present]
            if missing:
                raise ConfigurationError(f"{uri}: columns {missing} are not in the artifact")
        if release is not None and columns is None:
            table = _read_releasing(parquet, release)
        else:
            table = parquet.read(columns=columns, use_pandas_metadata=True)
        del parquet, data
        objects = {name: table.column(name).to_pylist() for name in _object_columns(table.schema)}
        small = table.nbytes < _RELEASE_EVERY
        # A small frame is consolidated (one copy into writable blocks, in Arrow); a big one is split
        # into a block per column, so that Arrow's buffers are freed as they are taken over.
        df: pd.DataFrame = table.to_pandas(split_blocks=not small, self_destruct=True)
        del table
        df = _own_columns(df, consolidated=small)
    except ConfigurationError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        if "checksum" in str(exc).lower() or "crc" in str(exc).lower():
            raise IntegrityError(
                f"{uri} failed its Parquet page checksum: the stored bytes are damaged; no data was returned",
                uri=uri or None,
            ) from None
        raise SerializationError(f"{uri} is not a readable Parquet file (damaged or another format)") from None
    if len(df.columns) == 0 and len(df) == 0:
        df = _rows_without_columns(schema, df)
    extra = json.loads((schema.metadata or {}).get(_META_KEY, b"{}"))
    df = _restore_dtypes(df, objects, extra)
    freq = extra.get("index_freq")
    if freq and isinstance(df.index, pd.DatetimeIndex):
        try:
            df.index = pd.DatetimeIndex(df.index, freq=freq)
        except ValueError:
            pass
    return df


#: Bytes copied between two hand-backs of Arrow's cached memory in :func:`_own_columns`.
_RELEASE_EVERY = 64 * 1024 * 1024


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
