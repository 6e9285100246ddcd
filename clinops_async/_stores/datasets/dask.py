"""A dataset as a ``dask.dataframe``: one partition per fragment (or per row group of one
artifact), each read in its worker.

The partitions are built with ``dask.dataframe.from_map``. The function each worker runs holds the
store (pickled as its configuration) and the read plan; it rebuilds the store, opens it on an event
loop of its own, reads its fragment with the same pruning and projection as ``read_dataset``, and
closes it again.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from ..._exceptions import ConfigurationError
from ..backend import ByteCounter
from .read import DatasetPlan, read_fragment

if TYPE_CHECKING:
    import pyarrow.compute as pc

    from .partitions import Fragment

__all__ = ["FragmentReader", "dask_frame"]


@dataclass(frozen=True)
class FragmentReader:
    """What a worker needs to read one fragment: the store's configuration and the read plan."""

    store: Any
    plan: DatasetPlan

    def __call__(self, part: tuple[Fragment, pc.Expression, list[int] | None]) -> Any:
        return anyio.run(self._read, *part)

    async def _read(self, fragment: Fragment, partition: pc.Expression, row_groups: list[int] | None) -> Any:
        # A fresh store per partition: the one held here may be bound to another thread's loop.
        store = pickle.loads(pickle.dumps(self.store))
        async with store:
            backend = await store._ready()
            table = await read_fragment(
                backend, fragment, partition, self.plan, store.transfer, store.retry_config, ByteCounter(None),
                row_groups,
            )
        return table.to_pandas()


def dask_frame(store: object, plan: DatasetPlan, row_groups: list[int] | None = None) -> Any:
    """A dask DataFrame with one partition per fragment of ``plan``, or, for an artifact's plan, per
    row group of ``row_groups``."""
    try:
        import dask.dataframe as dd
    except ImportError:
        raise ConfigurationError("to_dask needs dask: pip install 'clinops-async[dask]'") from None
    meta = plan.schema.empty_table().select(plan.columns).to_pandas()
    parts: list[tuple[Fragment, pc.Expression, list[int] | None]] = [(f, e, None) for f, e in plan.fragments]
    if row_groups is not None:
        parts = [(f, e, [rg]) for f, e in plan.fragments for rg in row_groups]
    if not parts:
        return dd.from_pandas(meta, npartitions=1)  # type: ignore[no-untyped-call]
    return dd.from_map(FragmentReader(store, plan), parts, meta=meta, label="read-dataset",  # type: ignore[no-untyped-call]
                       enforce_metadata=False)
