"""The blocking twins of the dataset methods, mixed into every store facade (one line each)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..batches import DEFAULT_BATCH_ROWS

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from ..._portal import Lease
    from ..backend import ByteProgress
    from ..bulk import ProgressCallback
    from ..codecs import ResultKind
    from ..filters import Filters
    from .write import WriteMode

__all__ = ["DatasetFacadeMethods"]


class DatasetFacadeMethods:
    """``write_dataset``, ``read_dataset`` and their kin, blocking."""

    if TYPE_CHECKING:
        _async: Any  #: the async store (its class lives in the store core, which imports this package)
        _lease: Lease

    def write_dataset(
        self,
        data: Any,
        name: str,
        *,
        partition_cols: Sequence[str] = (),
        mode: WriteMode = "error",
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> list[str]:
        """Blocking version of :meth:`AsyncPipelineStore.write_dataset`."""
        return self._lease.call(
            self._async.write_dataset, data, name, partition_cols=partition_cols, mode=mode,
            concurrency=concurrency, progress=progress,
        )

    def read_dataset(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        progress: ByteProgress | None = None,
    ) -> Any:
        """Blocking version of :meth:`AsyncPipelineStore.read_dataset`."""
        return self._lease.call(
            self._async.read_dataset, name, columns=columns, filters=filters, result_type=result_type,
            progress=progress,
        )

    def iter_dataset_batches(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        result_type: ResultKind = "pandas",
    ) -> Iterator[Any]:
        """Blocking version of :meth:`AsyncPipelineStore.iter_dataset_batches`: a plain iterator."""
        return self._lease.iterate(
            self._async.iter_dataset_batches, name, columns=columns, filters=filters, batch_rows=batch_rows,
            result_type=result_type,
        )

    def dataset_exists(self, name: str) -> bool:
        """Blocking version of :meth:`AsyncPipelineStore.dataset_exists`."""
        return bool(self._lease.call(self._async.dataset_exists, name))

    def delete_dataset(self, name: str, *, missing_ok: bool = False) -> None:
        """Blocking version of :meth:`AsyncPipelineStore.delete_dataset`."""
        self._lease.call(self._async.delete_dataset, name, missing_ok=missing_ok)

    def to_dask(self, name: str, *, columns: Sequence[str] | None = None, filters: Filters | None = None) -> Any:
        """Blocking version of :meth:`AsyncPipelineStore.to_dask`."""
        return self._lease.call(self._async.to_dask, name, columns=columns, filters=filters)
