"""The dataset methods of every async store, and how a store pickles (its configuration only).

``AsyncPipelineStore`` inherits :class:`DatasetMethods`; everything here runs over the store's
backend primitives, like the artifact methods of the store core.
"""

from __future__ import annotations

from contextlib import aclosing
from typing import TYPE_CHECKING, Any

import anyio
import pyarrow as pa

from ..._exceptions import ArtifactNotFoundError, ConfigurationError
from ..backend import Backend, ByteCounter, ByteProgress
from ..batches import DEFAULT_BATCH_ROWS, check_batch_rows
from ..codecs import ResultKind, StorageFormat, check_result_kind, from_table
from ..filters import Filters, check_columns, to_expression
from ..names import validate_name
from ..parts import StoreParts
from . import write as w
from .partitions import parse_fragments
from .read import DatasetPlan, list_dataset, plan_artifact, plan_dataset, read_fragment, read_fragments

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator, Sequence

    from ..bulk import ProgressCallback

__all__ = ["DatasetMethods", "rebuild_store", "result_from_table"]


def rebuild_store(cls: type[DatasetMethods], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A new, unopened store of ``cls`` from the arguments another one was made with (unpickling)."""
    return cls(*args, **kwargs)


def result_from_table(table: pa.Table, kind: ResultKind) -> Any:
    return table.to_pandas() if kind == "pandas" else from_table(table, kind)


#: Constructor arguments that hold credentials handed in (``session`` and ``credential_provider``
#: can hold them too): a store made with one refuses to pickle.
_SECRET_ARGUMENTS = frozenset({
    "session", "aws_access_key_id", "aws_secret_access_key", "aws_session_token", "credential_provider",
    "token", "service_account_info",
})


class DatasetMethods(StoreParts):
    """Hive-partitioned Parquet datasets: ``write_dataset``, ``read_dataset`` and their kin."""

    if TYPE_CHECKING:
        async def upload(self, df: Any, name: str, *, overwrite: bool = ..., progress: Any = ...) -> str: ...
        async def exists(self, name: str) -> bool: ...

    _config: tuple[tuple[Any, ...], dict[str, Any]]

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        # The arguments a store was made with are its configuration: a pickled store is rebuilt from
        # them, unopened, wherever it is unpickled (never its connections, credentials or loop).
        store = super().__new__(cls)
        store._config = (args, kwargs)
        return store

    def _pickle_config(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        given = self._config[1]
        handed_in = sorted(key for key in _SECRET_ARGUMENTS if given.get(key) is not None)
        if handed_in:
            # Pickling them would copy secrets into every worker's task stream and logs of it.
            raise ConfigurationError(
                f"a store made with {', '.join(handed_in)} does not pickle: credentials never travel "
                "with a store; give the workers their own (environment, profile or key file)"
            )
        return self._config

    def __reduce__(self) -> tuple[Any, ...]:
        args, kwargs = self._pickle_config()
        return rebuild_store, (type(self), args, kwargs)

    def _dataset_root(self, name: str) -> str:
        """The key prefix of dataset ``name`` (its fragments are below it), checked; no I/O."""
        if self.format is not StorageFormat.PARQUET:
            raise ConfigurationError("datasets are stored as Parquet; use a store with format='parquet'")
        self.key(name)  # the same rules as artifact names
        return "/".join(p for p in (self.prefix, validate_name(name)) if p) + "/"

    async def write_dataset(
        self,
        data: Any,
        name: str,
        *,
        partition_cols: Sequence[str] = (),
        mode: w.WriteMode = "error",
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Store ``data`` as a hive-partitioned Parquet dataset: ``name/site=A/month=2024-01/part-<id>.parquet``.

        Every fragment is an artifact (an atomic write under a fresh name, with its CRC32C), many
        sent at once. New fragments are stored before any old file is removed; see the datasets
        page for what a reader sees during each mode.

        Args:
            data: A pandas DataFrame (its index is not stored), a ``pyarrow.Table`` or
                ``RecordBatchReader`` (read whole), or a ``polars.DataFrame``.
            name: The dataset's name relative to the store prefix, e.g. ``"cohorts/vitals"``.
            partition_cols: Columns whose values become directories, in order (strings, integers
                or dates; no nulls, no empty strings, no ``/`` or ``=``). Empty: one file.
            mode: ``"error"`` (default: refuse when anything is stored under ``name``),
                ``"append"`` (add fragments; the schema must match), ``"overwrite"`` (replace
                the whole dataset) or ``"overwrite_partitions"`` (replace the partitions the data
                has rows for; the schema must match).
            concurrency: Fragments in flight (default ``TransferConfig.bulk_concurrency``).
            progress: Called as ``progress(outcome, done, total)`` after each fragment is stored,
                and always before any old file is removed.

        Returns:
            The URIs of the fragments written, in the order of their partition values.

        Raises:
            ConfigurationError: Bad name, mode or partition columns, a partition value a path
                cannot hold, or (append, overwrite_partitions) a schema that differs from the
                stored one; all before any byte is written.
            SerializationError: ``data`` is of another type or cannot be encoded.
            ArtifactExistsError: ``mode="error"`` and the dataset exists.
            StoreError: A fragment could not be stored: the fragments this write stored are
                removed and the old data is untouched.
        """
        root = self._dataset_root(name)
        write_mode = w.check_mode(mode)
        limit = self.transfer.bulk_concurrency if concurrency is None else concurrency
        w.check_concurrency(limit, concurrency)
        # Splitting a large table is CPU work: off the event loop, like encoding.
        plan = await anyio.to_thread.run_sync(lambda: w.plan_write(data, validate_name(name), partition_cols, self.key))
        backend = await self._ready()
        old, existing = await self._stored_fragments(backend, root, plan, write_mode)
        written = await w.store_fragments_or_none(
            plan, lambda rows, fragment: self.upload(rows, fragment, overwrite=False), self.uri,
            backend=backend, key=self.key, retry_config=self.retry_config, limit=limit, progress=progress,
        )
        removed = w.superseded(old, existing, plan, root, write_mode, self.prefix)
        await w.remove(backend, removed, self.retry_config, limit)
        return [o.uri for o in written]

    async def _stored_fragments(
        self, backend: Backend, root: str, plan: w.WritePlan, mode: w.WriteMode
    ) -> tuple[list[Any], list[str]]:
        """The fragments and every key of the dataset as stored; an error when the mode or the
        schema forbids the write."""
        uri = backend.uri(root)
        existing = await list_dataset(backend, root, self.retry_config)
        w.refuse_existing(mode, existing, uri)
        old = parse_fragments(root, existing, uri)
        if mode in ("append", "overwrite_partitions") and old:
            stored = await plan_dataset(backend, root, None, None, self.transfer, self.retry_config)
            w.check_compatible(plan, stored.schema, stored.partition_cols, stored.typed, uri)
        return old, existing

    async def _dataset_plan(self, name: str, columns: Sequence[str] | None, filters: Filters | None) -> DatasetPlan:
        root = self._dataset_root(name)
        cols = check_columns(columns)
        expression = to_expression(filters)
        backend = await self._ready()
        return await plan_dataset(backend, root, cols, expression, self.transfer, self.retry_config)

    async def read_dataset(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        progress: ByteProgress | None = None,
    ) -> Any:
        """Read a hive-partitioned Parquet dataset (ours, or one another tool wrote: pyarrow, polars, ...).

        Partitions are pruned by their paths, row groups by their statistics, and of the rest only
        the chunks of the needed columns move, fragments read concurrently. Partition columns come
        back with their types (those written, or as ``pyarrow.dataset`` infers them for a dataset
        without ``_common_metadata``).

        Args:
            name: The dataset's name relative to the store prefix.
            columns: Only these columns (partition columns included); None for all.
            filters: Only the rows this keeps, as for ``download``: DNF tuples or a
                ``pyarrow.compute`` expression, on any columns, partition columns included.
            result_type: ``"pandas"`` (default), ``"arrow"`` or ``"polars"``.
            progress: Called as ``progress(bytes_received, bytes_total)`` each time a fragment's
                bytes have all arrived.

        Returns:
            The rows, fragment after fragment in the order of their paths.

        Raises:
            ConfigurationError: Invalid name, columns, filters or result_type (before any I/O); a
                column or filter that does not fit the dataset (before any fragment is read).
            ArtifactNotFoundError: No dataset under ``name``.
            SerializationError: A file of the dataset is not readable Parquet (it is named).
            IntegrityError: A fragment fails its checksum.
        """
        kind = check_result_kind(result_type)
        counter = ByteCounter(progress)
        for attempt in range(2):
            plan = await self._dataset_plan(name, columns, filters)
            try:
                table = await read_fragments(await self._ready(), plan, self.transfer, self.retry_config, counter)
            except ArtifactNotFoundError:
                if attempt:
                    raise
                continue  # an overwrite removed a fragment after it was listed: list again
            break
        return result_from_table(table, kind)

    def iter_dataset_batches(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        result_type: ResultKind = "pandas",
    ) -> AsyncGenerator[Any, None]:
        """Stream a dataset's rows as batches, one fragment in memory at a time.

        Same pruning and arguments as ``read_dataset``; batches of at most ``batch_rows`` rows
        (a batch never spans two fragments): pandas DataFrames, ``pyarrow.RecordBatch`` or polars
        frames.

        Raises:
            ConfigurationError: Invalid arguments (at the call, before any I/O).
        """
        self._dataset_root(name)
        cols = check_columns(columns)
        to_expression(filters)
        rows = check_batch_rows(batch_rows)
        kind = check_result_kind(result_type)
        return self._dataset_batches(name, cols, filters, rows, kind)

    async def _dataset_batches(
        self, name: str, columns: list[str] | None, filters: Filters | None, rows: int, kind: ResultKind
    ) -> AsyncGenerator[Any, None]:
        plan = await self._dataset_plan(name, columns, filters)
        backend = await self._ready()
        counter = ByteCounter(None)
        for fragment, partition in plan.fragments:
            table = await read_fragment(backend, fragment, partition, plan, self.transfer, self.retry_config, counter)
            for batch in table.to_batches(max_chunksize=rows):
                yield batch if kind == "arrow" else result_from_table(pa.Table.from_batches([batch]), kind)

    async def dataset_exists(self, name: str) -> bool:
        """True when anything is stored under dataset ``name``.

        Raises:
            ConfigurationError: Invalid name.
        """
        root = self._dataset_root(name)
        backend = await self._ready()

        async def any_key() -> bool:
            async with aclosing(backend.iter_keys(root)) as keys:  # type: ignore[type-var]
                async for _ in keys:
                    return True
            return False

        return await any_key()

    async def delete_dataset(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete every file under dataset ``name`` (fragments, and any other tool's files there).

        Raises:
            ConfigurationError: Invalid name.
            ArtifactNotFoundError: Nothing is stored under ``name`` (unless ``missing_ok``).
        """
        root = self._dataset_root(name)
        backend = await self._ready()
        keys = await list_dataset(backend, root, self.retry_config)
        if not keys and not missing_ok:
            raise ArtifactNotFoundError(f"no dataset is stored at {backend.uri(root)}", uri=backend.uri(root))
        await w.remove(backend, keys, self.retry_config, self.transfer.bulk_concurrency)

    async def to_dask(
        self, name: str, *, columns: Sequence[str] | None = None, filters: Filters | None = None
    ) -> Any:
        """A ``dask.dataframe`` over dataset ``name``, one partition per fragment the filter may keep rows of.

        When no dataset is stored under ``name`` but a Parquet artifact is, the frame has one
        partition per row group of the artifact that the filter may keep rows of. The dataset
        (or the artifact's footer) is read and pruned here; each partition is read in its worker by a copy of
        this store rebuilt from its configuration (a store pickles as its arguments, never its
        connections or credentials), with the same pruning and projection as ``read_dataset``.
        Needs the ``dask`` extra.

        Raises:
            ConfigurationError: As for ``read_dataset``; dask is not installed.
            ArtifactNotFoundError: No dataset under ``name``.
        """
        from .dask import dask_frame

        self._dataset_root(name)
        if not await self.dataset_exists(name) and await self.exists(name):
            cols, expression = check_columns(columns), to_expression(filters)
            backend = await self._ready()
            plan, row_groups = await plan_artifact(
                backend, self.key(name), cols, expression, self.transfer, self.retry_config
            )
            return dask_frame(self, plan, row_groups)
        return dask_frame(self, await self._dataset_plan(name, columns, filters))
