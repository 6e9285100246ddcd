"""Arrow tables and polars frames in and out, without a detour through pandas.

An upload may be a pandas DataFrame, a ``pyarrow.Table``, a ``pyarrow.RecordBatchReader`` (consumed
into one artifact, batch by batch) or a ``polars.DataFrame`` (handed over as Arrow, which keeps its
dtypes in the field metadata). Parquet stores the Arrow schema (types, field and schema metadata), so
an Arrow table comes back equal, and a polars frame with its dtypes. polars is imported only when a
polars frame is passed or asked for, so it stays an optional extra.
"""

from __future__ import annotations

import importlib
import io
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from ..._exceptions import ConfigurationError, SerializationError
from ..filters import check_filter

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "RESULT_KINDS",
    "ResultKind",
    "check_result_kind",
    "check_upload_data",
    "encode_arrow",
    "from_table",
    "is_polars_frame",
    "read_csv_table",
    "to_arrow_input",
]

#: What a read returns: a pandas DataFrame (default), a ``pyarrow.Table``, or a ``polars.DataFrame``.
ResultKind = Literal["pandas", "arrow", "polars"]
RESULT_KINDS: tuple[ResultKind, ...] = ("pandas", "arrow", "polars")


def check_result_kind(value: object) -> ResultKind:
    """``value`` when it names a result kind; ConfigurationError (before any I/O) otherwise."""
    for kind in RESULT_KINDS:
        if value == kind:
            if kind == "polars":
                polars_module()
            return kind
    raise ConfigurationError(f"result_type must be one of 'pandas', 'arrow', 'polars'; got {value!r}")


def polars_module() -> ModuleType:
    """polars, imported on first use; ConfigurationError naming the extra when it is not installed."""
    try:
        return importlib.import_module("polars")
    except ImportError:
        raise ConfigurationError(
            "polars results need polars: pip install 'clinops-async[polars]'"
        ) from None


def is_polars_frame(data: object) -> bool:
    """True for a ``polars.DataFrame``, told by its type so that polars is not imported to ask."""
    kind = type(data)
    return kind.__module__.split(".")[0] == "polars" and kind.__name__ == "DataFrame"


def check_upload_data(data: object) -> None:
    """SerializationError (before any I/O) unless ``data`` is of a kind ``upload`` takes (no conversion)."""
    if isinstance(data, pd.DataFrame | pa.Table | pa.RecordBatchReader) or is_polars_frame(data):
        return
    to_arrow_input(data)


def to_arrow_input(data: object) -> pd.DataFrame | pa.Table | pa.RecordBatchReader:
    """The upload as pandas or Arrow; SerializationError (before any I/O) for anything else."""
    if isinstance(data, pd.DataFrame | pa.Table | pa.RecordBatchReader):
        return data
    if is_polars_frame(data):
        try:
            table: pa.Table = data.to_arrow()  # type: ignore[attr-defined]
        except Exception:
            raise SerializationError("cannot convert the polars DataFrame to Arrow") from None
        return table
    kind = type(data)
    hint = ". Collect it first (lazy.collect())" if kind.__name__ == "LazyFrame" else ""
    raise SerializationError(
        "expected a pandas DataFrame, a pyarrow Table or RecordBatchReader, or a polars DataFrame; "
        f"got {kind.__module__}.{kind.__name__}{hint}"
    )


def encode_arrow(
    data: pa.Table | pa.RecordBatchReader, *, parquet: bool, compression: str
) -> tuple[memoryview, int, int]:
    """Arrow data as Parquet (page checksums on) or CSV bytes, with its row and column counts.

    A reader is written batch by batch, so only the encoded bytes are held, never the whole table.

    Raises:
        SerializationError: The writer rejects the data (a type Parquet or CSV cannot hold); a
            reader that fails part-way is reported the same way. Nothing has been written.
    """
    sink = pa.BufferOutputStream()
    rows = 0
    batches = data.to_batches() if isinstance(data, pa.Table) else data
    try:
        if parquet:
            # List items keep the name Arrow gave them ("item"), so the schema comes back equal;
            # every Parquet reader accepts that older naming of the list element.
            writer: Any = pq.ParquetWriter(
                sink, data.schema, compression=None if compression == "none" else compression,
                write_page_checksum=True, use_compliant_nested_type=False,
            )
        else:
            writer = pacsv.CSVWriter(sink, data.schema)
        with writer:
            if isinstance(data, pa.Table) and parquet:
                writer.write_table(data)
                rows = data.num_rows
            else:
                for batch in batches:
                    writer.write_batch(batch)
                    rows += batch.num_rows
    except (pa.ArrowException, TypeError, ValueError, OSError) as exc:
        target = "Parquet" if parquet else "CSV"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SerializationError(f"cannot encode the Arrow data as {target}: {reason}") from None
    return memoryview(sink.getvalue()), rows, len(data.schema)


def read_csv_table(data: Any, columns: list[str] | None, expression: pc.Expression | None, uri: str) -> pa.Table:
    """CSV bytes as an Arrow table (pyarrow's type inference): the rows ``expression`` keeps (pyarrow
    evaluates it after reading: CSV has no statistics), of ``columns`` (all when None).

    Raises:
        ConfigurationError: A column is not in the artifact, or the filter does not apply to it.
        SerializationError: Not valid CSV.
    """
    try:
        table = pacsv.read_csv(io.BytesIO(data))
    except (pa.ArrowException, ValueError):
        raise SerializationError(f"{uri} is not valid CSV") from None
    missing = [c for c in columns or () if c not in table.schema.names]
    if missing:
        raise ConfigurationError(f"{uri}: columns {missing} are not in the artifact")
    if expression is not None:
        check_filter(expression, table.schema, uri)
        table = table.filter(expression)
    return table if columns is None else table.select(columns)


def from_table(table: pa.Table, kind: ResultKind) -> Any:
    """``table`` as an Arrow table or a polars frame (pandas results go through the frame decoder)."""
    if kind == "polars":
        return polars_module().from_arrow(table, rechunk=False)
    return table
