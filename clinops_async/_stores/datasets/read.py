"""Reading a hive dataset: list its files, prune partitions by path, then read the survivors.

Each surviving fragment is read like a projected artifact: its footer, then pyarrow's statistics
pruning (``split_by_row_group``, given the fragment's partition expression) picks the row groups,
and only the chunks of the columns asked for and of the columns the filter reads travel, by the same
concurrent ranged reads (:mod:`..projection`). pyarrow then decodes them, fills the partition
columns in from the fragment's partition expression, and filters the rows. Fragments this library
wrote carry a CRC32C (checked when they arrive whole) and page CRCs (checked as they are decoded);
files another tool wrote carry what that tool wrote, and are read the same way.
"""

from __future__ import annotations

import mmap
import os
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import anyio
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from ..._exceptions import ArtifactNotFoundError, ConfigurationError, SerializationError, TransientStoreError
from ..._retry import retry
from ..._tasks import run_limited
from ..backend import Backend, ByteCounter, ObjectChangedError, ObjectMeta
from ..download import Downloader
from ..filters import check_filter, filter_columns
from ..projection import RangedSource, column_ranges, read_footer
from .partitions import PARTITIONS_KEY, Fragment, infer_partition_schema, parse_fragments, partition_schema_of, prune

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..._config import RetryConfig, TransferConfig

T = TypeVar("T")

__all__ = ["DatasetPlan", "list_dataset", "plan_artifact", "plan_dataset", "read_fragment", "read_fragments"]

#: The first and the last bytes read of a fragment, before its footer is known. A fragment is a few
#: hundred KB to a few MB of a few dozen columns, with a footer of a few KB: the 1 MiB guess of
#: single artifacts (made for wide frames) would move a quarter of such a fragment whatever the
#: columns asked for. A larger footer costs one more request; a fragment this small arrives whole.
FRAGMENT_FIRST_READ = 16 << 10
FRAGMENT_FOOTER_GUESS = 16 << 10
#: A fragment of known size below this is read whole (one request, checked against its CRC32C).
FRAGMENT_WHOLE_BELOW = FRAGMENT_FIRST_READ + FRAGMENT_FOOTER_GUESS

#: Every page that carries a CRC is checked as it is decoded.
_FORMAT = ds.ParquetFileFormat(
    default_fragment_scan_options=ds.ParquetFragmentScanOptions(page_checksum_verification=True)
)


@dataclass(frozen=True)
class DatasetPlan:
    """What a read of a dataset needs, known from its listing and the footer of its first file."""

    uri: str  #: the dataset's URI, ending in "/"
    schema: pa.Schema  #: every column: those in the files, then the partition columns
    partition_cols: list[str]
    fragments: list[tuple[Fragment, pc.Expression]]  #: the survivors and their partition expressions
    columns: list[str]  #: the columns returned, in order
    expression: pc.Expression | None
    typed: bool  #: the partition types were recorded by this library (not inferred)
    #: Each file's size and ETag as the listing gave them (empty when the backend's listing does not).
    listed: dict[str, ObjectMeta] = field(default_factory=dict)


async def list_dataset(backend: Backend, root: str, retry_config: RetryConfig) -> list[str]:
    """Every key under ``root`` (the dataset's key followed by "/"), all pages."""

    async def collect() -> list[str]:
        return [key async for key in backend.iter_keys(root)]

    return await retry(retry_config, collect, what=f"listing of {backend.uri(root)}")


async def plan_dataset(
    backend: Backend, root: str, columns: list[str] | None, expression: pc.Expression | None,
    transfer: TransferConfig, retry_config: RetryConfig,
) -> DatasetPlan:
    """List the dataset, learn its schema, check ``columns`` and the filter, prune by partition.

    Raises:
        ArtifactNotFoundError: Nothing is stored under the dataset's name.
        ConfigurationError: A column or the filter does not fit the dataset.
        SerializationError: A file cannot be read as Parquet, or its path is not hive-style.
    """
    uri = backend.uri(root)
    listed = await retry(retry_config, lambda: backend.list_sizes(root), what=f"listing of {uri}")
    fragments = parse_fragments(root, list(listed), uri)
    if not fragments:
        raise ArtifactNotFoundError(f"no dataset is stored at {uri}", uri=uri)
    file_schema = await _file_schema(backend, fragments[0], listed.get(fragments[0].key), transfer, retry_config)
    recorded = partition_schema_of(file_schema)
    partitions = recorded if recorded is not None else infer_partition_schema(fragments)
    if recorded is not None and recorded.names != [k for k, _ in fragments[0].keys]:
        raise SerializationError(f"{uri}{fragments[0].path} records partitions {recorded.names} its path lacks")
    metadata = {k: v for k, v in (file_schema.metadata or {}).items() if k != PARTITIONS_KEY}
    schema = pa.schema([*file_schema, *[f for f in partitions if f.name not in file_schema.names]], metadata=metadata)
    missing = [c for c in columns or () if c not in schema.names]
    if missing:
        raise ConfigurationError(f"columns {missing} are not in the dataset {uri}; its columns: {schema.names}")
    if expression is not None:
        check_filter(expression, schema, uri)
    partition_cols = partitions.names
    partition_schema = pa.schema([schema.field(c) for c in partition_cols])
    kept = await anyio.to_thread.run_sync(lambda: prune(fragments, partition_schema, schema, expression, uri))
    return DatasetPlan(uri, schema, partition_cols, kept, list(schema.names if columns is None else columns),
                       expression, recorded is not None, {f.key: listed[f.key] for f, _ in kept if f.key in listed})


async def _file_schema(
    backend: Backend, fragment: Fragment, listed: ObjectMeta | None, transfer: TransferConfig,
    retry_config: RetryConfig,
) -> pa.Schema:
    """The Arrow schema of one file, from its footer."""
    mirror, _, _ = await _mirror_footer(backend, fragment.key, transfer, retry_config, ByteCounter(None), listed)
    return await anyio.to_thread.run_sync(lambda: _parquet(mirror, backend.uri(fragment.key)).schema_arrow)


def _parquet(mirror: object, uri: str) -> pq.ParquetFile:
    try:
        return pq.ParquetFile(pa.BufferReader(pa.py_buffer(mirror)))
    except (pa.ArrowException, OSError, ValueError):
        raise SerializationError(
            f"{uri} is not a readable Parquet file (truncated, or another format); the dataset cannot be read "
            "without it: remove it or move it out of the dataset"
        ) from None


async def _mirror_footer(
    backend: Backend, key: str, transfer: TransferConfig, retry_config: RetryConfig, counter: ByteCounter,
    listed: ObjectMeta | None = None,
) -> tuple[mmap.mmap | bytes, RangedSource | None, int]:
    """The object's bytes as far as its footer: whole (verified) when small or not ranged; else a
    sparse mirror of its size holding the first bytes and the tail, with the source to fill it.

    ``listed``: the size and ETag the listing gave. A fragment larger than a first read and a footer
    guess then costs one request (its tail, pinned to that ETag) instead of a first read and a tail
    read in series; a smaller one is read whole and checked against its CRC32C as before."""
    uri = backend.uri(key)
    if listed is not None and backend.supports_ranged_reads and listed.size > FRAGMENT_WHOLE_BELOW:
        source = RangedSource(backend, key, listed, transfer, retry_config, counter)
        mirror = mmap.mmap(-1, listed.size)
        if await read_footer(source, memoryview(mirror), 0, FRAGMENT_FOOTER_GUESS) is None:
            _parquet(b"", uri)  # raises, naming the file
        return mirror, source, 0
    downloader = Downloader(backend, transfer, retry_config)
    if not backend.supports_ranged_reads:
        data = await downloader.fetch(key, counter)
        whole = bytes(data) if isinstance(data, bytes) else bytes(data.view)
        if not isinstance(data, bytes):
            data.close()
        return whole, None, 0
    meta, head = await retry(
        retry_config, lambda: backend.read_first(key, FRAGMENT_FIRST_READ), what=f"download of {uri}"
    )
    if meta.size <= len(head):
        counter.add(len(head))
        await downloader.verify(meta, head, uri)
        return head, None, 0
    source = RangedSource(backend, key, meta, transfer, retry_config, counter)
    mirror = mmap.mmap(-1, meta.size)
    view = memoryview(mirror)
    view[: len(head)] = head
    counter.add(len(head))
    footer_start = await read_footer(source, view, len(head), FRAGMENT_FOOTER_GUESS)
    if footer_start is None:
        _parquet(b"", uri)  # raises, naming the file
    return mirror, source, len(head)


async def read_fragment(
    backend: Backend, fragment: Fragment, partition: pc.Expression, plan: DatasetPlan,
    transfer: TransferConfig, retry_config: RetryConfig, counter: ByteCounter, only: list[int] | None = None,
) -> pa.Table:
    """The rows of one fragment that the plan's filter keeps, of the plan's columns (partition ones included).

    ``counter`` is told the fragment's bytes once they have all arrived (fragments are read at once,
    each with its own count). ``only``: of these row groups only (all when None)."""
    uri = backend.uri(fragment.key)
    moved = ByteCounter(None)
    try:
        mirror, source, have = await _mirror_footer(
            backend, fragment.key, transfer, retry_config, moved, plan.listed.get(fragment.key)
        )
        row_groups = only
        if source is not None:
            row_groups, ranges = await anyio.to_thread.run_sync(
                lambda: _plan_fragment(mirror, partition, plan, uri, only)
            )
            await source.fill_ranges(memoryview(mirror), ranges, have=have)
    except ObjectChangedError:
        message = f"{uri} was replaced while it was being read; read the dataset again"
        raise TransientStoreError(message, uri=uri) from None
    counter.add(moved.done)
    return await anyio.to_thread.run_sync(lambda: _decode(mirror, partition, plan, row_groups, uri))


def _plan_fragment(
    mirror: mmap.mmap | bytes, partition: pc.Expression, plan: DatasetPlan, uri: str, only: list[int] | None = None
) -> tuple[list[int], list[tuple[int, int]]]:
    """The row groups of the fragment the filter may keep rows of, and the byte ranges to fetch."""
    parquet = _parquet(mirror, uri)
    in_file = set(parquet.schema_arrow.names)
    wanted = [c for c in plan.columns if c in in_file]
    if plan.expression is not None:
        wanted += [c for c in filter_columns(plan.expression, plan.schema, plan.columns) if c in in_file]
        fragment = _FORMAT.make_fragment(pa.BufferReader(pa.py_buffer(mirror)), partition_expression=partition)
        try:
            row_groups = [p.row_groups[0].id for p in fragment.split_by_row_group(plan.expression, schema=plan.schema)]
        except (pa.ArrowException, ValueError) as exc:
            raise SerializationError(f"{uri} does not fit the dataset's schema: {exc}") from None
    else:
        row_groups = list(range(parquet.metadata.num_row_groups))
    if only is not None:
        row_groups = [rg for rg in row_groups if rg in only]
    return row_groups, column_ranges(parquet.metadata, wanted, row_groups)


async def plan_artifact(
    backend: Backend, key: str, columns: list[str] | None, expression: pc.Expression | None,
    transfer: TransferConfig, retry_config: RetryConfig,
) -> tuple[DatasetPlan, list[int]]:
    """One Parquet artifact read as a dataset of one fragment, and the row groups the filter may
    keep rows of (from its footer).

    Raises:
        ConfigurationError: A column or the filter does not fit the artifact.
        SerializationError: The artifact is not readable Parquet.
    """
    uri = backend.uri(key)
    fragment = Fragment(key, key.rpartition("/")[2], ())
    mirror, _, _ = await _mirror_footer(backend, key, transfer, retry_config, ByteCounter(None))

    def plan_sync() -> tuple[DatasetPlan, list[int]]:
        schema = _parquet(mirror, uri).schema_arrow
        missing = [c for c in columns or () if c not in schema.names]
        if missing:
            raise ConfigurationError(f"columns {missing} are not in {uri}; its columns: {schema.names}")
        if expression is not None:
            check_filter(expression, schema, uri)
        cols = list(schema.names if columns is None else columns)
        plan = DatasetPlan(uri, schema, [], [(fragment, ds.scalar(True))], cols, expression, False)
        return plan, _plan_fragment(mirror, ds.scalar(True), plan, uri)[0]

    return await anyio.to_thread.run_sync(plan_sync)


def _decode(
    mirror: mmap.mmap | bytes, partition: pc.Expression, plan: DatasetPlan, row_groups: list[int] | None, uri: str
) -> pa.Table:
    _parquet(mirror, uri)
    fragment = _FORMAT.make_fragment(
        pa.BufferReader(pa.py_buffer(mirror)), partition_expression=partition, row_groups=row_groups
    )
    try:
        return fragment.to_table(schema=plan.schema, columns=plan.columns, filter=plan.expression)
    except (pa.ArrowException, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SerializationError(f"{uri} cannot be read as part of the dataset: {reason}") from None


async def read_fragments(
    backend: Backend, plan: DatasetPlan, transfer: TransferConfig, retry_config: RetryConfig,
    counter: ByteCounter,
) -> pa.Table:
    """Every surviving fragment as one table in the order of their paths, in the fewest round trips:
    the footers of all fragments at once, planned in one worker call, then the needed column chunks
    of all at once; each fragment is decoded in a worker thread as soon as its chunks are in (at
    most one decode per core), so decoding overlaps the transfers still under way."""
    fragments = plan.fragments
    # Each fragment costs one small footer request, then (here) one merged range: as many in flight as
    # the store keeps connections, so the 18 fragments of a cohort go out in one wave, not two.
    limit = max(transfer.bulk_concurrency, transfer.max_pool_connections)

    async def footer(fragment: Fragment) -> tuple[mmap.mmap | bytes, RangedSource | None, int, ByteCounter]:
        moved = ByteCounter(None)
        listed = plan.listed.get(fragment.key)
        return (*await _mirror_footer(backend, fragment.key, transfer, retry_config, moved, listed), moved)

    footers = await _gather(limit, [partial(footer, f) for f, _ in fragments])
    planned = await anyio.to_thread.run_sync(lambda: [
        _plan_fragment(mirror, partition, plan, backend.uri(f.key)) if source is not None else (None, [])
        for (f, partition), (mirror, source, _, _) in zip(fragments, footers, strict=True)
    ])

    decoders = anyio.CapacityLimiter(os.cpu_count() or 1)

    async def chunks(index: int) -> pa.Table:
        mirror, source, have, moved = footers[index]
        if source is not None:
            await source.fill_ranges(memoryview(mirror), planned[index][1], have=have)
        counter.add(moved.done)
        (fragment, partition), rows = fragments[index], planned[index][0]
        return await anyio.to_thread.run_sync(
            lambda: _decode(mirror, partition, plan, rows, backend.uri(fragment.key)), limiter=decoders
        )

    tables = await _gather(limit, [partial(chunks, i) for i in range(len(fragments))])
    return pa.concat_tables([plan.schema.empty_table().select(plan.columns), *tables])


async def _gather(limit: int, calls: list[Callable[[], Awaitable[T]]]) -> list[T]:
    """The results of ``calls``, in order, at most ``limit`` in flight; a fragment replaced while it
    was read is a transient error (read the dataset again)."""
    results: list[T | None] = [None] * len(calls)

    def job(index: int) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            results[index] = await calls[index]()

        return run

    try:
        await run_limited(limit, [job(i) for i in range(len(calls))])
    except ObjectChangedError as exc:
        message = f"{exc} was replaced while it was being read; read the dataset again"
        raise TransientStoreError(message, uri=str(exc)) from None
    return results  # type: ignore[return-value]
