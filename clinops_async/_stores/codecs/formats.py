"""DataFrame <-> Parquet / CSV bytes, whole frames. Pure and synchronous: always called in a worker thread.

Parquet round trips are exact: dtypes (nullable integers, categoricals, time-zone-aware timestamps)
and a meaningful index (a DatetimeIndex of time windows, with its frequency) survive. A default
RangeIndex is stored as metadata only, as the original did. Pages carry CRC32 checksums, verified on
read, so a column projection is checked even when the whole object is not fetched.
"""

from __future__ import annotations

import enum
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ..._exceptions import ConfigurationError, SerializationError
from ..filters import check_filter
from .frames import check_frame, describe_failure, dictionary_columns, with_extra_metadata
from .parquet_read import decode_parquet
from .tables import ResultKind, encode_arrow, from_table, read_csv_table, to_arrow_input

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Encoded", "StorageFormat", "coerce_format", "decode", "decode_owned", "encode"]


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


#: Frames of at least this many cells are converted to Arrow on several threads.
_THREADED_CELLS = 1 << 20


def encode(df: object, fmt: StorageFormat, *, compression: str = "snappy") -> Encoded:
    """Encode ``df`` (pandas, Arrow or polars); SerializationError (before any I/O) when it cannot be
    stored losslessly."""
    data = to_arrow_input(df)
    if not isinstance(data, pd.DataFrame):
        view, rows, columns = encode_arrow(data, parquet=fmt is StorageFormat.PARQUET, compression=compression)
        return Encoded(view, rows, columns)
    frame = check_frame(data)
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
            f"cannot encode the DataFrame as Parquet: {describe_failure(frame)}"
        ) from None
    table = table.replace_schema_metadata(with_extra_metadata(frame, table.schema))
    sink = pa.BufferOutputStream()
    try:
        pq.write_table(
            table,
            sink,
            compression=None if compression == "none" else compression,
            use_dictionary=dictionary_columns(frame, table.schema),
            write_page_checksum=True,
        )
    except (pa.ArrowException, TypeError, ValueError):
        raise SerializationError("cannot encode the DataFrame as Parquet: the writer rejected it") from None
    del table
    return Encoded(memoryview(sink.getvalue()), rows, columns)


def decode_owned(
    box: list[Any],
    fmt: StorageFormat,
    *,
    columns: list[str] | None = None,
    uri: str = "",
    release: Callable[[int, int], None] | None = None,
    expression: pc.Expression | None = None,
    result_type: ResultKind = "pandas",
) -> Any:
    """Like :func:`decode`, taking the only reference to the bytes (``box``) so they can be freed early.

    The raw bytes are dropped once Arrow has decoded them, and Arrow's buffers are released column
    by column as pandas takes them, so a download peaks near twice the frame, not three times. With
    ``release``, the bytes are also handed back range by range as they are decoded (see :func:`decode`).
    """
    return decode(
        box.pop(), fmt, columns=columns, uri=uri, release=release, expression=expression, result_type=result_type
    )


def decode(
    data: Any,
    fmt: StorageFormat,
    *,
    columns: list[str] | None = None,
    uri: str = "",
    release: Callable[[int, int], None] | None = None,
    expression: pc.Expression | None = None,
    result_type: ResultKind = "pandas",
) -> Any:
    """Decode an artifact's bytes (any buffer) into a DataFrame, optionally only ``columns``.

    ``release(start, end)``, when given, is called for byte ranges of ``data`` the decoder will not
    read again (the column chunks of a whole Parquet artifact, a few columns at a time), so that the
    caller can free them while the rest is decoded. The result is the same with or without it.
    ``expression`` keeps only the rows it selects (pyarrow evaluates it); ``result_type`` chooses a
    pandas DataFrame, an Arrow table or a polars DataFrame, the latter two decoded without pandas.
    """
    if fmt is StorageFormat.CSV:
        if result_type != "pandas":
            return from_table(read_csv_table(data, columns, expression, uri), result_type)
        return _decode_csv_frame(data, columns, uri, expression)
    decoded = decode_parquet(
        data, columns=columns, uri=uri, release=release, expression=expression, pandas=result_type == "pandas"
    )
    return decoded if result_type == "pandas" else from_table(decoded, result_type)


def _decode_csv_frame(data: Any, columns: list[str] | None, uri: str, expression: pc.Expression | None) -> pd.DataFrame:
    """CSV as pandas reads it; a filter is applied after reading (CSV has no statistics to prune by)."""
    try:
        frame: pd.DataFrame = pd.read_csv(io.BytesIO(data), usecols=None if expression is not None else columns)
    except ValueError as exc:
        if columns is not None and "Usecols" in str(exc):
            raise ConfigurationError(f"{uri}: some of the columns {columns} are not in the artifact") from None
        raise SerializationError(f"{uri} is not valid CSV") from None
    except Exception:
        raise SerializationError(f"{uri} is not valid CSV") from None
    if expression is None:
        return frame
    if columns is not None:
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ConfigurationError(f"{uri}: columns {missing} are not in the artifact")
    # pyarrow evaluates the filter on the frame's Arrow twin; its surviving row numbers pick the rows.
    table = pa.Table.from_pandas(frame, preserve_index=False)
    check_filter(expression, table.schema, uri)
    numbered = table.append_column("__clinops_row__", pa.array(np.arange(len(frame))))
    keep = numbered.filter(expression).column("__clinops_row__").to_numpy()
    kept: pd.DataFrame = frame.iloc[keep].reset_index(drop=True)
    return kept if columns is None else kept.loc[:, columns]
