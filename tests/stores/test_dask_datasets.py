"""A dataset on Dask: one partition per surviving fragment, read in worker processes by the store."""

from __future__ import annotations

import pickle
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from clinops_async import LocalPipelineStore, S3PipelineStore
from tests.stores.test_partitioned_datasets import MONTHS, SITES, cohort
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from distributed import Client

    from clinops_async._stores.sync import PipelineStoreFacade
    from tests.support.servers import Server

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def cluster_client() -> Iterator[Client]:
    """Two worker processes on loopback; each unpickles the stores it is sent."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(params=["local", "s3"])
def facade(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[PipelineStoreFacade]:
    store: PipelineStoreFacade
    if request.param == "local":
        store = LocalPipelineStore(tmp_path / "store", "clinops")
    else:
        server: Server = request.getfixturevalue("moto")
        env = S3Env(server.url)
        store = S3PipelineStore(env.bucket, "clinops", endpoint_url=env.endpoint)
    with store:
        yield store


@pytest.mark.slow
def test_to_dask_reads_each_surviving_fragment_in_a_worker(
    cluster_client: Client, facade: PipelineStoreFacade
) -> None:
    table = cohort(rows_per_partition=300)
    facade.write_dataset(table, "vitals", partition_cols=["site", "month"])
    filters = (pc.field("site").isin(SITES[:2])) & (pc.field("month").isin(MONTHS[:3])) & (pc.field("age") > 65)
    frame = facade.to_dask("vitals", columns=["subject_id", "age", "site", "month"], filters=filters)
    assert frame.npartitions == 6  # 2 sites x 3 months of 18 fragments
    assert list(frame.columns) == ["subject_id", "age", "site", "month"]
    computed = cluster_client.compute(frame).result()  # type: ignore[no-untyped-call]
    expected = table.filter(filters).select(["subject_id", "age", "site", "month"]).to_pandas()
    order = ["site", "month", "subject_id"]
    pd.testing.assert_frame_equal(  # dask hands strings out as its own string dtype
        computed.sort_values(order).reset_index(drop=True), expected.sort_values(order).reset_index(drop=True),
        check_dtype=False,
    )
    assert int(cluster_client.compute(frame["age"].count()).result()) == len(expected)  # type: ignore[no-untyped-call]


def test_to_dask_on_the_threaded_scheduler_and_the_pickled_store(facade: PipelineStoreFacade) -> None:
    table = cohort(rows_per_partition=20, months=MONTHS[:2])
    facade.write_dataset(table, "vitals", partition_cols=["site", "month"])
    frame = facade.to_dask("vitals", filters=[("site", "=", "site-c")])
    assert frame.npartitions == 2
    computed = frame.compute(scheduler="threads")
    assert len(computed) == 40 and set(computed["site"]) == {"site-c"}
    clone = pickle.loads(pickle.dumps(facade.async_store))
    assert repr(clone) == repr(facade.async_store)


def test_to_dask_over_one_artifact_has_a_partition_per_surviving_row_group(facade: PipelineStoreFacade) -> None:
    table = pa.table({"t": pa.array(range(4000), pa.int64()), "hr": [float(i % 90) for i in range(4000)]})
    facade.upload(pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=1000)), "icu")
    frame = facade.to_dask("icu", columns=["hr"], filters=[("t", ">=", 2500)])
    assert frame.npartitions == 2  # row groups 2 and 3 of 4
    computed = frame.compute(scheduler="threads")
    assert list(computed.columns) == ["hr"] and len(computed) == 1500
    assert len(facade.to_dask("icu").compute(scheduler="threads")) == 4000
