"""Streaming reads: an artifact's rows as batches, with a bounded number of row groups in memory.

On a backend with ranged reads, a Parquet artifact of ours is read from its footer on: pyarrow's
statistics pruning picks the row groups a filter may keep rows of (:func:`.projection.plan_read`),
and they are read :data:`READ_AHEAD_GROUPS` at a time, each window's column chunks fetched
concurrently into a sparse mirror that is dropped once the window is decoded. Every range is pinned
to the version first seen (ETag or generation) and every page is checked against its CRC on decode,
so the batches all come from one version, verified. Nothing is held open between two batches but the
decoded window: breaking out of the loop, or cancelling it, leaves nothing behind.

CSV artifacts, artifacts on a backend without ranged reads (the local store), small artifacts and
Parquet files another tool wrote arrive whole (verified against their CRC32C) and are then handed
out batch by batch.
"""

from __future__ import annotations

import mmap
from typing import TYPE_CHECKING, Any

import anyio
import pyarrow as pa
import pyarrow.compute as pc

from .._exceptions import ConfigurationError, SerializationError, TransientStoreError
from .._retry import retry
from . import codecs
from .backend import Backend, ByteCounter, ObjectChangedError
from .buffer import ReceiveBuffer
from .codecs import ResultKind, StorageFormat
from .download import Downloader
from .metadata import META_FORMAT
from .projection import FIRST_READ, RangedSource, ReadPlan, plan_read, read_footer

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Iterator

    from .._config import RetryConfig, TransferConfig

__all__ = ["DEFAULT_BATCH_ROWS", "READ_AHEAD_GROUPS", "check_batch_rows", "stream_batches"]

#: Rows per batch unless asked otherwise: large enough that per-batch overhead (a pandas frame, a
#: thread hand-over) stays small, small enough that a batch of 400 float columns is ~200 MB at most.
DEFAULT_BATCH_ROWS = 65_536
#: Row groups fetched and decoded together before their batches are handed out. Memory is about
#: this many decoded row groups (this library writes row groups of about ``part_size``).
READ_AHEAD_GROUPS = 2


def check_batch_rows(batch_rows: object) -> int:
    """``batch_rows`` when it is a positive integer; ConfigurationError (before any I/O) otherwise."""
    if not isinstance(batch_rows, int) or isinstance(batch_rows, bool) or batch_rows < 1:
        raise ConfigurationError(f"batch_rows must be a positive integer; got {batch_rows!r}")
    return batch_rows


async def stream_batches(
    backend: Backend,
    key: str,
    fmt: StorageFormat,
    *,
    columns: list[str] | None,
    expression: pc.Expression | None,
    batch_rows: int,
    result_type: ResultKind,
    transfer: TransferConfig,
    retry_config: RetryConfig,
) -> AsyncGenerator[Any, None]:
    """The rows of artifact ``key`` as batches of at most ``batch_rows`` rows (see the module text)."""
    uri = backend.uri(key)
    counter = ByteCounter(None)
    first = await retry(retry_config, lambda: backend.read_first(key, FIRST_READ), what=f"download of {uri}")
    meta, head = first
    ranged = (
        fmt is StorageFormat.PARQUET and backend.supports_ranged_reads and meta.size > len(head)
        and META_FORMAT in meta.metadata
    )
    downloader = Downloader(backend, transfer, retry_config)
    if not ranged:
        if meta.size <= len(head):
            await downloader.verify(meta, head, uri)
            pieces = await anyio.to_thread.run_sync(
                lambda: list(_whole_pieces(head, fmt, columns, expression, batch_rows, result_type, uri))
            )
        else:
            pieces = await _fetch_whole_pieces(downloader, key, fmt, columns, expression, batch_rows, result_type)
        for piece in pieces:
            yield piece
        return
    source = RangedSource(backend, key, meta, transfer, retry_config, counter)
    try:
        plan, footer_start, tail = await _read_plan(source, head, columns, expression)
        for start in range(0, len(plan.row_groups), READ_AHEAD_GROUPS):
            window = plan.row_groups[start : start + READ_AHEAD_GROUPS]
            table = await _read_window(source, plan, window, (head, footer_start, tail), columns, expression,
                                       with_index=result_type == "pandas")
            for batch in table.to_batches(max_chunksize=batch_rows):
                yield await anyio.to_thread.run_sync(lambda: _convert(batch, result_type))  # noqa: B023
            del table
    except ObjectChangedError:
        raise TransientStoreError(
            f"{uri} was replaced while it was being streamed; the batches already handed out are of the "
            "previous version. Start the iteration again",
            uri=uri,
        ) from None


async def _fetch_whole_pieces(
    downloader: Downloader,
    key: str,
    fmt: StorageFormat,
    columns: list[str] | None,
    expression: pc.Expression | None,
    batch_rows: int,
    result_type: ResultKind,
) -> list[Any]:
    """The whole artifact, verified, decoded and cut into batches in a worker thread."""
    data = await downloader.fetch(key, ByteCounter(None))
    uri = downloader.backend.uri(key)

    def decode() -> list[Any]:
        try:
            view = data.view if isinstance(data, ReceiveBuffer) else data
            return list(_whole_pieces(view, fmt, columns, expression, batch_rows, result_type, uri))
        finally:
            if isinstance(data, ReceiveBuffer):
                data.close()

    return await anyio.to_thread.run_sync(decode)


def _whole_pieces(
    data: Any,
    fmt: StorageFormat,
    columns: list[str] | None,
    expression: pc.Expression | None,
    batch_rows: int,
    result_type: ResultKind,
    uri: str,
) -> Iterator[Any]:
    if fmt is StorageFormat.CSV and result_type == "pandas":
        frame = codecs.decode(data, fmt, columns=columns, uri=uri, expression=expression)
        for start in range(0, len(frame), batch_rows):
            yield frame.iloc[start : start + batch_rows]
        return
    if fmt is StorageFormat.CSV:
        table = codecs.decode(data, fmt, columns=columns, uri=uri, expression=expression, result_type="arrow")
    else:
        with codecs.decode_errors(uri):
            table = codecs.read_parquet_table(
                data, columns=columns, expression=expression, uri=uri, with_index=result_type == "pandas"
            )
    for batch in table.to_batches(max_chunksize=batch_rows):
        yield _convert(batch, result_type)


async def _read_plan(
    source: RangedSource, head: bytes, columns: list[str] | None, expression: pc.Expression | None
) -> tuple[ReadPlan, int, bytes]:
    """The plan from the footer, where the bytes already read begin, and those bytes (the tail)."""
    size = source.meta.size
    mirror = mmap.mmap(-1, size)
    view = memoryview(mirror)
    view[: len(head)] = head
    footer_start = await read_footer(source, view, len(head))
    if footer_start is None:
        raise SerializationError(f"{source.uri} is not a readable Parquet file (damaged or another format)")
    tail = bytes(view[footer_start:])
    try:
        plan = await anyio.to_thread.run_sync(lambda: plan_read(mirror, columns, expression, source.uri))
    except ConfigurationError:
        raise
    except (pa.ArrowException, OSError, ValueError):
        raise SerializationError(f"{source.uri} is not a readable Parquet file (damaged or another format)") from None
    return plan, footer_start, tail


async def _read_window(
    source: RangedSource,
    plan: ReadPlan,
    window: list[int],
    known: tuple[bytes, int, bytes],
    columns: list[str] | None,
    expression: pc.Expression | None,
    *,
    with_index: bool,
) -> pa.Table:
    """Row groups ``window``: their chunks fetched concurrently into a fresh sparse mirror (the head
    and tail already read copied in), decoded, and the mirror dropped."""
    head, footer_start, tail = known
    mirror = mmap.mmap(-1, source.meta.size)
    view = memoryview(mirror)
    view[: len(head)] = head
    view[footer_start:] = tail
    ranges = [(start, min(end, footer_start)) for start, end in plan.ranges(window) if start < footer_start]
    await source.fill_ranges(view, ranges, have=len(head))

    def decode() -> pa.Table:
        with codecs.decode_errors(source.uri):
            return codecs.read_parquet_table(
                view, columns=columns, expression=expression, uri=source.uri, row_groups=window, with_index=with_index
            )

    # Not released here: a decoded column may be a zero-copy view of the mirror, which then lives
    # exactly as long as the batches cut from it.
    return await anyio.to_thread.run_sync(decode)


def _convert(batch: pa.RecordBatch, result_type: ResultKind) -> Any:
    """One batch as asked: an Arrow record batch, a polars frame, or the pandas frame stored."""
    if result_type == "arrow":
        return batch
    table = pa.Table.from_batches([batch])
    if result_type == "polars":
        return codecs.from_table(table, "polars")
    return codecs.table_to_frame(table)
