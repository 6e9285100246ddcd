"""A stream of frames or record batches written as one Parquet file, for ``upload_batches``.

Batches are gathered until they hold about ``row_group_bytes`` of Arrow memory and then written as
one row group, so a stream of small batches still gives row groups large enough to read by ranges,
and memory holds one row group's batches, not the stream. The schema is the one given, or the first
batch's; a later batch with other columns or other types is refused with
:class:`SchemaMismatchError` (a column that is all null in one batch may take the schema's type).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..._exceptions import ConfigurationError, SchemaMismatchError, SerializationError
from .frames import _DISTINCT_SHARE as DISTINCT_SHARE
from .frames import _SAMPLE_ROWS as SAMPLE_ROWS
from .frames import FRAME_META_KEY, check_frame, describe_failure, with_extra_metadata
from .parquet_read import index_columns
from .tables import is_polars_frame, to_arrow_input

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["END_OF_STREAM", "StreamShape", "encode_stream"]

#: What ``next_item`` returns once the stream is exhausted.
END_OF_STREAM: Any = object()


@dataclass(frozen=True)
class StreamShape:
    """Rows and columns (the index not counted) of a streamed file, and its schema."""

    rows: int
    columns: int


class _Conversion:
    """Each batch as an Arrow table of the stream's schema."""

    def __init__(self, schema: pa.Schema | None) -> None:
        self.schema = schema
        self.count = 0
        self._keep_index: bool | None = None
        self._categories: object = None

    def table(self, item: object) -> pa.Table:
        self.count += 1
        if isinstance(item, pd.DataFrame):
            return self._from_pandas(item)
        if isinstance(item, pa.RecordBatch):
            table = pa.Table.from_batches([item])
        elif isinstance(item, pa.Table) or is_polars_frame(item):
            table = to_arrow_input(item)
        else:
            kind = type(item)
            raise SerializationError(
                f"batch {self.count} of the stream is a {kind.__module__}.{kind.__name__}; expected a pandas "
                "DataFrame, a pyarrow Table or RecordBatch, or a polars DataFrame"
            )
        if self.schema is None:
            self.schema = table.schema
        self._check(table.schema)
        if not table.schema.equals(self.schema, check_metadata=False):
            table = table.cast(self.schema)  # only all-null columns differ (checked above)
        return table.replace_schema_metadata(self.schema.metadata)

    def _from_pandas(self, frame: pd.DataFrame) -> pa.Table:
        check_frame(frame)
        if self._keep_index is None:
            # A RangeIndex is numbered afresh over the whole stream (as concat(ignore_index=True)
            # would); any other index is stored as columns, batch after batch.
            self._keep_index = not isinstance(frame.index, pd.RangeIndex)
        try:
            natural = pa.Schema.from_pandas(frame, preserve_index=self._keep_index)
        except (pa.ArrowException, TypeError, ValueError):
            raise SerializationError(f"cannot encode batch {self.count}: {describe_failure(frame)}") from None
        extra = with_extra_metadata(frame, natural)
        categories = json.loads(extra[FRAME_META_KEY]).get("categories")
        if self.schema is None:
            self.schema = natural.with_metadata(extra)
            self._categories = categories
        elif self._categories is not None and categories != self._categories:
            raise SchemaMismatchError(
                f"batch {self.count} has categorical columns with other categories than the first batch; "
                "give every batch the same categories (df[col].cat.set_categories(...))"
            )
        self._check(natural)
        try:
            table = pa.Table.from_pandas(frame, schema=self.schema, preserve_index=self._keep_index, nthreads=1)
        except (pa.ArrowException, TypeError, ValueError):
            raise SerializationError(f"cannot encode batch {self.count}: {describe_failure(frame)}") from None
        return table.replace_schema_metadata(self.schema.metadata)

    def _check(self, found: pa.Schema) -> None:
        assert self.schema is not None
        expected = self.schema
        if found.names != expected.names:
            missing = [n for n in expected.names if n not in found.names]
            extra = [n for n in found.names if n not in expected.names]
            detail = f"missing {missing[:5]}, unexpected {extra[:5]}" if missing or extra else "in another order"
            raise SchemaMismatchError(
                f"batch {self.count} of the stream has other columns than the stream's schema ({detail}); "
                "every batch must have the same columns in the same order"
            )
        differ = [
            f"{f.name!r} is {f.type}, expected {e.type}"
            for f, e in zip(found, expected, strict=True)
            if f.type != e.type and not pa.types.is_null(f.type)
        ]
        if differ:
            raise SchemaMismatchError(
                f"batch {self.count} of the stream has other column types than the stream's schema: "
                f"{'; '.join(differ[:5])}. Cast the batch, or pass schema= to fix the types"
            )

    def shape(self, rows: int) -> StreamShape:
        assert self.schema is not None
        index = set(index_columns(self.schema))
        return StreamShape(rows, len([n for n in self.schema.names if n not in index]))


class _GuardedSink:
    """The writer's output; an exception from the sink (a part refused, a cancelled hand-over) is
    kept, because the Parquet writer turns it into an ArrowException."""

    closed = False

    def __init__(self, sink: Any) -> None:
        self.sink = sink
        self.failure: BaseException | None = None
        self.discard = False

    def write(self, data: Any) -> int:
        if self.discard:
            return len(memoryview(data).cast("B"))
        try:
            return int(self.sink.write(data))
        except BaseException as exc:
            self.failure = exc
            raise

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def writable(self) -> bool:
        return True


def encode_stream(
    next_item: Callable[[], object],
    sink: Any,
    *,
    schema: pa.Schema | None,
    compression: str,
    row_group_bytes: int,
    before_footer: Callable[[], None] | None = None,
) -> StreamShape:
    """Write the batches ``next_item()`` returns (until :data:`END_OF_STREAM`) to ``sink`` as Parquet.

    ``before_footer`` is called once every row group is written, before the footer is. An exception
    from ``next_item`` or from the sink is raised as it is.

    Raises:
        SchemaMismatchError: A batch's columns or types differ from the stream's schema.
        SerializationError: A batch cannot be stored losslessly, or is of another type.
        ConfigurationError: The stream is empty and no ``schema`` was given.
    """
    conversion = _Conversion(schema)
    guarded = _GuardedSink(sink)
    writers: list[pq.ParquetWriter] = []
    try:
        rows = _write_all(next_item, conversion, guarded, writers, compression, row_group_bytes)
        if before_footer is not None:
            before_footer()
        writers[0].close()
    except BaseException as exc:
        guarded.discard = True  # the writer is closed without a footer going anywhere
        for writer in writers:
            with contextlib.suppress(Exception):
                writer.close()
        if not isinstance(exc, pa.ArrowException | OSError):
            raise
        if guarded.failure is not None:
            raise guarded.failure from None
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SerializationError(f"cannot encode the stream as Parquet: {reason}") from None
    return conversion.shape(rows)


def _write_all(
    next_item: Callable[[], object], conversion: _Conversion, sink: _GuardedSink, writers: list[pq.ParquetWriter],
    compression: str, row_group_bytes: int,
) -> int:
    """Every batch written, a row group per ``row_group_bytes``; the writer (opened at the first
    batch, or for the given schema when there is none) goes into ``writers``. The rows written."""
    pending: list[pa.Table] = []
    held = rows = 0
    while (item := next_item()) is not END_OF_STREAM:
        table = conversion.table(item)
        del item
        if not writers:
            writers.append(_writer(sink, table.schema, compression, _dictionary_columns(table)))
        pending.append(table)
        held += table.nbytes
        rows += table.num_rows
        if held >= row_group_bytes:
            _write_group(writers[0], pending)
            pending, held = [], 0
    if conversion.schema is None:
        raise ConfigurationError("the stream held no batches and no schema= was given: nothing to store")
    if not writers:
        writers.append(_writer(sink, conversion.schema, compression))
    if pending:
        _write_group(writers[0], pending)
    return rows


def _writer(
    sink: _GuardedSink, schema: pa.Schema, compression: str, dictionary: bool | list[str] = True
) -> pq.ParquetWriter:
    return pq.ParquetWriter(
        sink, schema, compression=None if compression == "none" else compression, write_page_checksum=True,
        use_compliant_nested_type=False, use_dictionary=dictionary,
    )


def _dictionary_columns(first: pa.Table) -> bool | list[str]:
    """Columns worth dictionary encoding, judged on the first batch as a whole frame's are
    (:func:`.frames.dictionary_columns`): all but floats that are mostly distinct. Such a dictionary
    is dropped by the writer after a megabyte anyway; with it, 1 GiB of random floats was stored in
    1,143 MB instead of 1,074 MB."""
    dense = []
    for field in first.schema:
        if pa.types.is_floating(field.type):
            sample = first.column(field.name).slice(0, SAMPLE_ROWS).drop_null().to_numpy()
            if len(sample) and np.unique(sample).size > DISTINCT_SHARE * len(sample):
                dense.append(field.name)
    return [name for name in first.schema.names if name not in dense] if dense else True


def _write_group(writer: pq.ParquetWriter, pending: list[pa.Table]) -> None:
    table = pa.concat_tables(pending)
    writer.write_table(table, row_group_size=max(1, table.num_rows))
