"""Writing a hive dataset: every fragment stored as an artifact, then old files removed.

Each fragment goes through ``upload`` (one atomic, conditional write with its CRC32C, or concurrent
parts under a full-object CRC32C), many at once through the bulk machinery. The order of a write is
what makes the modes safe: new fragments first (under fresh names, so nothing is replaced), then,
for the overwrite modes, the old files. A write that fails removes the fragments
it stored and leaves the old ones untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, get_args

import anyio
import pandas as pd
import pyarrow as pa

from ..._exceptions import ArtifactExistsError, ConfigurationError, SerializationError
from ..._retry import retry
from ..._tasks import run_limited
from ..bulk import BulkItem, BulkResult, ProgressCallback, run_bulk
from ..codecs import to_arrow_input
from .partitions import Fragment, check_partition_cols, fragment_name, split_partitions, with_partition_types

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterator

    from ..._config import RetryConfig
    from ..backend import Backend

__all__ = ["WriteMode", "WritePlan", "check_mode", "plan_write", "remove", "store_fragments", "store_fragments_or_none"]

logger = logging.getLogger("clinops_async")

#: How ``write_dataset`` treats a dataset that exists.
WriteMode = Literal["error", "append", "overwrite", "overwrite_partitions"]


def check_mode(mode: object) -> WriteMode:
    for known in get_args(WriteMode):
        if mode == known:
            return known  # type: ignore[no-any-return]
    raise ConfigurationError(f"mode must be one of {list(get_args(WriteMode))}; got {mode!r}")


def check_concurrency(limit: object, given: object) -> None:
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigurationError(f"concurrency must be a positive integer; got {given!r}")


def as_table(data: object) -> pa.Table:
    """The data as one Arrow table (pandas without its index; a reader read whole)."""
    arrow = to_arrow_input(data)
    try:
        if isinstance(arrow, pd.DataFrame):
            if not all(isinstance(c, str) for c in arrow.columns):
                raise SerializationError("a dataset's column names must be strings")
            return pa.Table.from_pandas(arrow, preserve_index=False)
        if isinstance(arrow, pa.RecordBatchReader):
            return arrow.read_all()
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise SerializationError(f"cannot convert the data to Arrow: {str(exc).splitlines()[0]}") from None
    return arrow


@dataclass(frozen=True)
class WritePlan:
    """What a dataset write stores, all known and checked before any I/O."""

    schema: pa.Schema  #: the columns in the files, then the partition columns
    partition_cols: list[str]
    fragments: list[tuple[str, pa.Table]]  #: (artifact name, rows) of each new fragment

    @property
    def directories(self) -> set[str]:
        return {name.rsplit("/", 1)[0] for name, _ in self.fragments}


def plan_write(data: object, name: str, partition_cols: object, check_name: Callable[[str], str]) -> WritePlan:
    """Split ``data`` into fragments and name them; every check of the input happens here."""
    table = as_table(data)
    cols = check_partition_cols(partition_cols, table.schema)
    parts = split_partitions(table, cols)
    types = pa.schema([table.schema.field(c) for c in cols])
    fragments = [
        (fragment_name(name, directory), _typed(rows, types))
        for directory, rows in parts
    ]
    for fragment, _ in fragments:
        check_name(fragment)
    data_fields = [f for f in table.schema if f.name not in cols]
    schema = pa.schema([*data_fields, *[table.schema.field(c) for c in cols]], metadata=table.schema.metadata)
    return WritePlan(schema, cols, fragments)


def _typed(rows: pa.Table, types: pa.Schema) -> pa.Table:
    return rows.replace_schema_metadata(with_partition_types(rows.schema, types).metadata)


def check_compatible(plan: WritePlan, stored: pa.Schema, stored_cols: list[str], typed: bool, uri: str) -> None:
    """ConfigurationError unless the new data has the stored dataset's columns, types and partitions."""
    if plan.partition_cols != stored_cols:
        raise ConfigurationError(
            f"{uri} is partitioned by {stored_cols}; the write partitions by {plan.partition_cols}"
        )
    names = stored.names if typed else [n for n in stored.names if n not in stored_cols]
    new = plan.schema if typed else pa.schema([f for f in plan.schema if f.name not in stored_cols])
    old = pa.schema([stored.field(n) for n in names])
    if not new.equals(old, check_metadata=False):
        diff = sorted({str(f) for f in new} ^ {str(f) for f in old})
        raise ConfigurationError(
            f"the data's schema differs from that of {uri}: {diff}; write with mode='overwrite' to replace it"
        )


async def store_fragments(
    plan: WritePlan, upload: Callable[[pa.Table, str], Awaitable[str]], uri_of: Callable[[str], str],
    *, limit: int, progress: ProgressCallback | None,
) -> BulkResult[str]:
    """Upload every fragment (at most ``limit`` at once, each a conditional write)."""

    def action(rows: pa.Table, name: str) -> Callable[[], Awaitable[str]]:
        return lambda: upload(rows, name)

    def items() -> Iterator[BulkItem[str]]:
        for name, rows in plan.fragments:
            yield BulkItem(name, uri_of(name), action(rows, name))

    return await run_bulk(items(), limit=limit, total=len(plan.fragments), progress=progress)


async def store_fragments_or_none(
    plan: WritePlan, upload: Callable[[pa.Table, str], Awaitable[str]], uri_of: Callable[[str], str], *,
    backend: Backend, key: Callable[[str], str], retry_config: RetryConfig, limit: int,
    progress: ProgressCallback | None,
) -> BulkResult[str]:
    """Every fragment stored, or (on a failure or a cancellation) none: those stored are removed
    and the first failure is raised."""
    try:
        written = await store_fragments(plan, upload, uri_of, limit=limit, progress=progress)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await remove(backend, [key(name) for name, _ in plan.fragments], retry_config, limit)
        raise
    if not written.ok:
        await remove(backend, [key(o.name) for o in written.succeeded], retry_config, limit)
        error = written.failed[0].error
        assert error is not None
        raise error
    return written


async def remove(backend: Backend, keys: list[str], retry_config: RetryConfig, limit: int) -> None:
    """Delete ``keys`` (at most ``limit`` at once); a key already gone is no error."""

    def job(key: str) -> Callable[[], Awaitable[Any]]:
        return lambda: retry(retry_config, lambda: backend.delete(key), what=f"delete of {backend.uri(key)}")

    await run_limited(limit, [job(key) for key in keys])


def superseded(
    old: list[Fragment], existing: list[str], plan: WritePlan, root: str, mode: WriteMode, prefix: str
) -> list[str]:
    """The keys an overwrite removes once the new fragments are stored: every file that was there
    (``overwrite``: other tools' ``_SUCCESS`` and ``_common_metadata`` too, which would describe data
    that is gone), or the fragments in the partitions the write touched (``overwrite_partitions``)."""
    if mode == "overwrite":
        return list(existing)
    if mode != "overwrite_partitions":
        return []
    base = root[len(prefix) + 1 :] if prefix else root
    touched = {d[len(base) :] for d in plan.directories}
    return [f.key for f in old if f.directory in touched]


def refuse_existing(mode: WriteMode, keys: list[str], uri: str) -> None:
    if mode == "error" and keys:
        raise ArtifactExistsError(
            f"a dataset exists at {uri}; pass mode='append', 'overwrite' or 'overwrite_partitions'", uri=uri
        )
