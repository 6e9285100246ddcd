"""Column projection over ranged reads: only the Parquet footer and the needed column chunks travel.

The object is mirrored in a sparse anonymous memory map of its full size (untouched pages cost no
memory): the footer is read into its tail, the byte ranges of the wanted column chunks are read
concurrently into their places, and pyarrow then decodes those columns from the map as if the whole
file were there. The bytes that did not travel are never read. Integrity comes from the Parquet page
CRCs that every artifact carries (written by :mod:`.codecs`, verified on decode), so projection is
only used on artifacts this library wrote; anything else is downloaded whole.
"""

from __future__ import annotations

import mmap
from collections.abc import Awaitable, Callable

import anyio
import pyarrow as pa
import pyarrow.parquet as pq

from .._config import RetryConfig, TransferConfig
from .._retry import retry
from .._tasks import run_limited
from .backend import Backend, ByteCounter, ObjectMeta
from .codecs import index_columns

__all__ = ["FOOTER_GUESS", "column_ranges", "fetch_projection"]

#: Bytes read from the end of the object to find the footer in one request. Wide frames have large
#: footers (400 columns x 4 row groups is ~0.32 MB), so a small guess would cost a second round trip.
FOOTER_GUESS = 1 << 20
#: Ranges closer than this are fetched as one request.
_MERGE_GAP = 256 << 10
#: The first request of a projected read: enough for a small artifact to arrive whole.
FIRST_READ = 256 << 10


def column_ranges(metadata: pq.FileMetaData, columns: list[str]) -> list[tuple[int, int]]:
    """Sorted, merged ``(start, end)`` byte ranges of the column chunks of ``columns`` (top-level names)."""
    wanted = set(columns)
    leaves = [i for i in range(metadata.num_columns) if metadata.schema.column(i).path.split(".")[0] in wanted]
    spans = []
    for rg in range(metadata.num_row_groups):
        group = metadata.row_group(rg)
        for i in leaves:
            chunk = group.column(i)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
                start = min(start, chunk.dictionary_page_offset)
            spans.append((start, start + chunk.total_compressed_size))
    spans.sort()
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start - merged[-1][1] <= _MERGE_GAP:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _footer_length(tail: memoryview) -> int:
    if bytes(tail[-4:]) != b"PAR1":
        raise ValueError("not a Parquet file")
    return int.from_bytes(tail[-8:-4], "little")


async def fetch_projection(
    backend: Backend,
    key: str,
    columns: list[str],
    *,
    transfer: TransferConfig,
    retry_config: RetryConfig,
    counter: ByteCounter,
    first: tuple[ObjectMeta, bytes],
) -> memoryview | None:
    """Mirror the footer and the chunks of ``columns`` (plus index columns) of a large artifact.

    Args:
        first: The metadata and first bytes already read (``backend.read_first``).

    Returns:
        A view of the sparse mirror, ready for ``codecs.decode(..., columns=columns)``, or None
        when the object is not a Parquet file this function can project (the caller then reads it
        whole).
    """
    meta, head = first
    uri = backend.uri(key)
    mirror = mmap.mmap(-1, meta.size)
    view = memoryview(mirror)
    view[: len(head)] = head

    async def fill(start: int, end: int) -> None:
        # Only what the first read did not already bring.
        start = max(start, len(head))
        if start >= end:
            return
        for offset in range(start, end, transfer.part_size):
            target = view[offset : min(end, offset + transfer.part_size)]
            await retry(
                retry_config,
                lambda: backend.read_into(key, offset, target, meta.etag),  # noqa: B023 - awaited at once
                what=f"range {offset} of {uri}",
            )
            counter.add(len(target))

    ranges = await _plan(mirror, meta.size, columns, fill)
    if ranges is None:
        return None
    total = sum(end - max(start, len(head)) for start, end in ranges if end > len(head))
    counter.start(total + len(head) + min(FOOTER_GUESS, meta.size))
    counter.add(len(head) + min(FOOTER_GUESS, meta.size))

    def job(start: int, end: int) -> Callable[[], Awaitable[None]]:
        return lambda: fill(start, end)

    await run_limited(transfer.max_concurrency, [job(start, end) for start, end in ranges])
    return view


async def _plan(
    mirror: mmap.mmap, size: int, columns: list[str], fill: Callable[[int, int], Awaitable[None]]
) -> list[tuple[int, int]] | None:
    """Read the footer into the mirror and return the ranges of the wanted column chunks; None when
    the object is not a Parquet file that can be projected."""
    tail_start = max(0, size - FOOTER_GUESS)
    await fill(tail_start, size)
    try:
        footer = _footer_length(memoryview(mirror)[-8:])
    except ValueError:
        return None
    footer_start = size - 8 - footer
    if footer_start < tail_start:
        await fill(footer_start, tail_start)

    def plan() -> list[tuple[int, int]]:
        parquet = pq.ParquetFile(pa.py_buffer(mirror))
        schema = parquet.schema_arrow
        names = [*columns, *[c for c in index_columns(schema) if c not in columns]]
        return column_ranges(parquet.metadata, names)

    try:
        return await anyio.to_thread.run_sync(plan)
    except (pa.ArrowException, OSError, ValueError):
        return None
