"""Projection over ranged reads: only the Parquet footer and the needed column chunks travel.

The object is mirrored in a sparse anonymous memory map of its full size (untouched pages cost no
memory): the footer is read into its tail, the byte ranges of the wanted column chunks are read
concurrently into their places, and pyarrow then decodes those columns from the map as if the whole
file were there. The bytes that did not travel are never read. With a row filter, pyarrow's dataset
machinery (``split_by_row_group``) picks the row groups whose statistics may hold matching rows
from the footer, and only their chunks travel, those of the columns the filter reads included.
Integrity: every range is read from one version of the object (pinned by its ETag or generation; a
replaced object restarts the read), the footer must fit the object's size and every column chunk it
names must lie between the leading magic and the footer (otherwise the file is read whole, and its
decoding reports the damage), and Parquet page CRCs are verified on decode wherever the writer put
them: every artifact this library writes, and files from writers that opt in (pyarrow's
``write_page_checksum=True``, Spark with ``parquet.page.write-checksum.enabled``). A column chunk of
a file written without page CRCs is taken as it arrives; the whole-file CRC32C this library records
cannot be checked without the whole file, so it is not checked on a projected read.
"""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .._config import RetryConfig, TransferConfig
from .._exceptions import ConfigurationError
from .._retry import retry
from .._tasks import run_limited
from .backend import Backend, ByteCounter, ObjectMeta
from .codecs import index_columns
from .codecs.parquet_read import check_columns
from .filters import check_filter, filter_columns

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ["FOOTER_GUESS", "RangedSource", "ReadPlan", "column_ranges", "fetch_projection", "plan_read", "read_footer"]

#: Bytes read from the end of the object to find the footer in one request. Wide frames have large
#: footers (400 columns x 4 row groups is ~0.32 MB), so a small guess would cost a second round trip.
FOOTER_GUESS = 1 << 20
#: Ranges closer than this are fetched as one request.
_MERGE_GAP = 256 << 10
#: The first request of a projected read: enough for a small artifact to arrive whole.
FIRST_READ = 256 << 10


def column_ranges(
    metadata: pq.FileMetaData, columns: list[str], row_groups: list[int] | None = None
) -> list[tuple[int, int]]:
    """Sorted, merged ``(start, end)`` byte ranges of the column chunks of ``columns`` (top-level
    names) in ``row_groups`` (all when None)."""
    wanted = set(columns)
    leaves = [i for i in range(metadata.num_columns) if metadata.schema.column(i).path.split(".")[0] in wanted]
    spans = []
    for rg in range(metadata.num_row_groups) if row_groups is None else row_groups:
        group = metadata.row_group(rg)
        for i in leaves:
            chunk = group.column(i)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
                start = min(start, chunk.dictionary_page_offset)
            spans.append((start, start + chunk.total_compressed_size))
    spans.sort()
    return _merge(spans)


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


def check_layout(metadata: pq.FileMetaData, footer_start: int) -> None:
    """ValueError unless every column chunk lies between the leading magic and the footer: a footer
    that does not fit the object (a truncated or spliced file) is not trusted for ranged reads."""
    for rg in range(metadata.num_row_groups):
        group = metadata.row_group(rg)
        for i in range(group.num_columns):
            chunk = group.column(i)
            start = chunk.data_page_offset
            if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
                start = min(start, chunk.dictionary_page_offset)
            if start < 4 or start + chunk.total_compressed_size > footer_start:
                raise ValueError(f"column chunk at {start} lies outside the data of the file")


@dataclass
class RangedSource:
    """One version of one object (pinned by its ETag or generation), read range by range into views."""

    backend: Backend
    key: str
    meta: ObjectMeta
    transfer: TransferConfig
    retry_config: RetryConfig
    counter: ByteCounter

    @property
    def uri(self) -> str:
        return self.backend.uri(self.key)

    async def fill(self, view: memoryview, start: int, end: int, *, have: int = 0) -> None:
        """Read bytes ``start..end`` into the same offsets of ``view``; the first ``have`` bytes are there."""
        start = max(start, have)
        for offset in range(start, end, self.transfer.part_size):
            target = view[offset : min(end, offset + self.transfer.part_size)]
            await retry(
                self.retry_config,
                lambda: self.backend.read_into(self.key, offset, target, self.meta.etag),  # noqa: B023
                what=f"range {offset} of {self.uri}",
            )
            self.counter.add(len(target))

    async def fill_ranges(self, view: memoryview, ranges: list[tuple[int, int]], *, have: int = 0) -> None:
        """Read ``ranges`` into ``view`` concurrently (at most ``max_concurrency`` requests in flight)."""

        def job(start: int, end: int) -> Callable[[], Awaitable[None]]:
            return lambda: self.fill(view, start, end, have=have)

        await run_limited(self.transfer.max_concurrency, [job(start, end) for start, end in ranges])


async def read_footer(source: RangedSource, view: memoryview, have: int, guess: int = FOOTER_GUESS) -> int | None:
    """Read the tail of the object into ``view`` (the first ``have`` bytes are there) up to and
    including the footer, ``guess`` bytes first; its start offset, or None when the object is not Parquet."""
    size = source.meta.size
    tail_start = max(0, size - guess)
    await source.fill(view, tail_start, size, have=have)
    try:
        footer = _footer_length(view[-8:])
    except ValueError:
        return None
    if footer + 12 > size:  # the leading magic, the footer, its length and the trailing magic
        return None
    footer_start = size - 8 - footer
    if footer_start < tail_start:
        await source.fill(view, footer_start, tail_start, have=have)
    return min(footer_start, tail_start)


@dataclass(frozen=True)
class ReadPlan:
    """What a read of one Parquet artifact needs, known from its footer."""

    metadata: pq.FileMetaData
    schema: pa.Schema
    row_groups: list[int]  #: those whose statistics may hold wanted rows, in file order
    fetched: list[str]  #: the columns whose chunks travel: those asked, the index, the filter's

    def ranges(self, row_groups: list[int] | None = None) -> list[tuple[int, int]]:
        """The byte ranges of the fetched columns' chunks in ``row_groups`` (default: all planned)."""
        return column_ranges(self.metadata, self.fetched, self.row_groups if row_groups is None else row_groups)


#: Row groups are chosen by pyarrow's own statistics pruning.
_FORMAT = ds.ParquetFileFormat()


def plan_read(
    mirror: mmap.mmap, columns: list[str] | None, expression: pc.Expression | None, uri: str
) -> ReadPlan:
    """From the footer in ``mirror``: the row groups and column chunks a read needs (call in a thread).

    Raises:
        ConfigurationError: A column is not in the artifact, or the filter does not apply to it.
        pyarrow.ArrowException, OSError, ValueError: The footer is not readable.
    """
    parquet = pq.ParquetFile(pa.py_buffer(mirror))
    check_layout(parquet.metadata, len(mirror) - 8 - _footer_length(memoryview(mirror)[-8:]))
    schema = parquet.schema_arrow
    names = check_columns(schema, columns, uri)
    names = list(schema.names) if names is None else names + [c for c in index_columns(schema) if c not in names]
    row_groups = list(range(parquet.metadata.num_row_groups))
    if expression is not None:
        check_filter(expression, schema, uri)
        names += filter_columns(expression, schema, names)
        fragment = _FORMAT.make_fragment(pa.BufferReader(pa.py_buffer(mirror)))
        row_groups = [piece.row_groups[0].id for piece in fragment.split_by_row_group(expression)]
    return ReadPlan(parquet.metadata, schema, row_groups, names)


async def fetch_projection(
    backend: Backend,
    key: str,
    columns: list[str] | None,
    *,
    expression: pc.Expression | None = None,
    transfer: TransferConfig,
    retry_config: RetryConfig,
    counter: ByteCounter,
    first: tuple[ObjectMeta, bytes],
) -> memoryview | None:
    """Mirror the footer and the chunks of ``columns`` (plus index columns) of a large artifact, of
    the row groups ``expression`` may keep rows of (and of the columns it reads).

    Args:
        first: The metadata and first bytes already read (``backend.read_first``).

    Returns:
        A view of the sparse mirror, ready for ``codecs.decode(..., columns=columns)``, or None
        when the object is not a Parquet file this function can project (the caller then reads it
        whole).

    Raises:
        ConfigurationError: A column is not in the artifact, or the filter does not apply to it
            (after the footer, before any column chunk moves).
    """
    meta, head = first
    source = RangedSource(backend, key, meta, transfer, retry_config, counter)
    mirror = mmap.mmap(-1, meta.size)
    view = memoryview(mirror)
    view[: len(head)] = head
    footer_start = await read_footer(source, view, len(head))
    if footer_start is None:
        return None
    try:
        plan = await anyio.to_thread.run_sync(lambda: plan_read(mirror, columns, expression, source.uri))
    except ConfigurationError:
        raise
    except (pa.ArrowException, OSError, ValueError):
        return None
    # The tail read for the footer may hold the last chunks already: only what is not there travels.
    ranges = [(start, min(end, footer_start)) for start, end in plan.ranges() if start < footer_start]
    total = sum(end - max(start, len(head)) for start, end in ranges if end > len(head))
    tail = meta.size - max(footer_start, len(head))
    counter.start(len(head) + tail + total)
    counter.add(len(head) + tail)
    await source.fill_ranges(view, ranges, have=len(head))
    return view
