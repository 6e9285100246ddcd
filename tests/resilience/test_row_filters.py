"""Row filters and streamed reads on the cloud stores, counted through the HTTP proxy: row groups that
a filter rules out by their statistics never move, and of the others only the needed column chunks do."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clinops_async import AsyncS3PipelineStore, TransientStoreError
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from clinops_async._stores.projection import FIRST_READ, FOOTER_GUESS
from tests.support.fault_proxy import FaultProxy
from tests.support.store_envs import GCSEnv, S3Env, StoreEnv

if TYPE_CHECKING:
    from collections.abc import Iterator

    from clinops_async._stores.core import AsyncPipelineStore

CLOUDS = ["s3", "gcs-emulator", "fake-gcs"]
ROWS = 32_768  #: rows per row group: 256 KiB per float64 column chunk
GROUPS = 8
COLUMNS = 8
#: What a ranged read adds to the payload besides the bytes asked for (GCS: the object's JSON).
SLACK = 16 << 10


class Cloud:
    """A fresh bucket on one cloud backend and a counting proxy in front of its server."""

    def __init__(self, env: StoreEnv, proxy: FaultProxy) -> None:
        self.env = env
        self.proxy = proxy

    def through(self, **options: Any) -> AsyncPipelineStore:
        if isinstance(self.env, S3Env):
            return AsyncS3PipelineStore(self.env.bucket, endpoint_url=self.proxy.url, **options)
        return AsyncGCSPipelineStore(self.env.bucket, emulator_host=self.proxy.url, **options)


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[Cloud]:
    env: StoreEnv
    if request.param == "s3":
        env, flavor = S3Env(request.getfixturevalue("moto").url), "s3"
    else:
        server = request.getfixturevalue("gcs_emulator" if request.param == "gcs-emulator" else "fake_gcs")
        env, flavor = GCSEnv(request.param, server.url), "gcs"
    with FaultProxy(env.endpoint, flavor=flavor) as proxy:
        yield Cloud(env, proxy)


def vitals() -> pa.Table:
    """Incompressible synthetic floats and a time column ``t`` that rises with the row number."""
    rng = np.random.default_rng(11)
    columns = {f"c{i}": rng.random(GROUPS * ROWS) for i in range(COLUMNS - 1)}
    return pa.table({"t": np.arange(GROUPS * ROWS, dtype=np.int64), **columns})


async def store_vitals(cloud: Cloud, table: pa.Table) -> pq.FileMetaData:
    reader = pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=ROWS))
    async with cloud.env.make() as store:
        await store.upload(reader, "vitals", overwrite=True)
    metadata = pq.ParquetFile(io.BytesIO(cloud.env.get_bytes("vitals.parquet"))).metadata
    assert metadata.num_row_groups == GROUPS
    return metadata


def chunk_bytes(metadata: pq.FileMetaData, group: int, names: list[str]) -> int:
    row_group = metadata.row_group(group)
    return sum(
        row_group.column(i).total_compressed_size for i in range(metadata.num_columns)
        if metadata.schema.column(i).name in names
    )


#: Rows of row group 3 only: its statistics are the only ones that may hold them.
IN_GROUP_3 = [("t", ">=", 3 * ROWS + 100), ("t", "<", 4 * ROWS - 100)]


async def test_pruned_row_groups_never_move(cloud: Cloud) -> None:
    table = vitals()
    metadata = await store_vitals(cloud, table)
    # The first read and the footer read are fixed costs; beyond them exactly the chunks of the
    # column asked for and of the filter's column in row group 3 travel (each chunk is 256 KiB,
    # so any chunk of another row group would show).
    needed = chunk_bytes(metadata, 3, ["t", "c2"])
    async with cloud.through() as store:
        before = cloud.proxy.response_bytes
        got = await store.download("vitals", columns=["c2"], filters=IN_GROUP_3, result_type="arrow")
        moved = cloud.proxy.response_bytes - before
    expected = table.filter((pc.field("t") >= 3 * ROWS + 100) & (pc.field("t") < 4 * ROWS - 100)).select(["c2"])
    assert got.equals(expected)
    fixed = FIRST_READ + FOOTER_GUESS
    assert fixed + needed <= moved <= fixed + needed + SLACK, (moved, fixed, needed)
    assert moved < metadata.serialized_size + fixed + 2 * needed


async def test_a_filter_on_an_unrequested_column_fetches_its_chunks_too(cloud: Cloud) -> None:
    table = vitals()
    metadata = await store_vitals(cloud, table)
    expression = (pc.field("t") >= 5 * ROWS) & (pc.field("t") < 5 * ROWS + 10)
    async with cloud.through() as store:
        before = cloud.proxy.response_bytes
        got = await store.download("vitals", columns=["c4"], filters=expression)
        moved = cloud.proxy.response_bytes - before
    assert got["c4"].tolist() == table.column("c4").to_pylist()[5 * ROWS : 5 * ROWS + 10]
    fixed = FIRST_READ + FOOTER_GUESS
    needed = chunk_bytes(metadata, 5, ["t", "c4"])
    assert fixed + needed <= moved <= fixed + needed + SLACK, (moved, fixed, needed)


async def test_iter_batches_moves_only_the_surviving_row_groups(cloud: Cloud) -> None:
    table = vitals()
    metadata = await store_vitals(cloud, table)
    filters = [[("t", "<", 10)], [("t", ">=", 6 * ROWS)]]  # row groups 0, 6 and 7
    async with cloud.through() as store:
        before = cloud.proxy.response_bytes
        batches = [b async for b in store.iter_batches("vitals", columns=["c1"], filters=filters, result_type="arrow")]
        moved = cloud.proxy.response_bytes - before
    got = pa.Table.from_batches(batches)
    wanted = table.column("c1").to_pylist()
    assert got.column("c1").to_pylist() == wanted[:10] + wanted[6 * ROWS :]
    needed = sum(chunk_bytes(metadata, g, ["t", "c1"]) for g in (0, 6, 7))
    # The first read and the tail hold some of those chunks already: at most what is needed moves.
    fixed = FIRST_READ + FOOTER_GUESS
    assert moved <= fixed + needed + SLACK, (moved, fixed, needed)
    assert moved < fixed + needed + chunk_bytes(metadata, 1, ["t"])


@pytest.mark.parametrize("cloud", [
    "s3", "fake-gcs",
    pytest.param("gcs-emulator", marks=pytest.mark.xfail(
        strict=True, reason="gcp-storage-emulator sends no generation and ignores ifGenerationMatch, so a "
        "stream cannot pin its reads to one version there (real GCS has generations)",
    )),
], indirect=True)
async def test_iter_batches_stays_on_one_version(cloud: Cloud) -> None:
    table = vitals()
    await store_vitals(cloud, table)
    async with cloud.through() as store:
        batches = store.iter_batches("vitals", columns=["c0"], result_type="arrow")
        first = await anext(batches)
        assert first.num_rows > 0
        await store_vitals(cloud, table.slice(0, GROUPS * ROWS).replace_schema_metadata({b"v": b"2"}))
        with pytest.raises(TransientStoreError, match="replaced while it was being streamed"):
            async for _ in batches:
                pass


async def test_iter_batches_reads_a_bounded_number_of_row_groups_ahead(cloud: Cloud) -> None:
    from clinops_async._stores.batches import READ_AHEAD_GROUPS

    table = vitals()
    metadata = await store_vitals(cloud, table)
    async with cloud.through() as store:
        before = cloud.proxy.response_bytes
        batches = store.iter_batches("vitals", columns=["c3"], result_type="arrow")
        first = await anext(batches)
        moved = cloud.proxy.response_bytes - before
        await batches.aclose()
    assert first.column(0).to_pylist() == table.column("c3").to_pylist()[: first.num_rows]
    window = sum(chunk_bytes(metadata, g, ["c3"]) for g in range(READ_AHEAD_GROUPS))
    fixed = FIRST_READ + FOOTER_GUESS
    assert moved <= fixed + window + SLACK, (moved, fixed, window)
    assert moved < fixed + window + chunk_bytes(metadata, READ_AHEAD_GROUPS, ["c3"])


async def test_a_stream_cancelled_mid_read_leaves_the_store_usable(cloud: Cloud) -> None:
    import anyio

    table = vitals()
    await store_vitals(cloud, table)
    async with cloud.through() as store:
        batches = store.iter_batches("vitals", columns=["c0"], result_type="arrow", batch_rows=ROWS)
        await anext(batches)
        await anext(batches)  # the first window (two row groups) is handed out; the next needs reads
        cloud.proxy.add("stall", lambda r: r.method == "GET", delay=1.0)
        with anyio.move_on_after(0.5) as scope:
            await anext(batches)
        assert scope.cancelled_caught
        with pytest.raises(StopAsyncIteration):
            await anext(batches)  # the cancelled stream is finished, not half-open
        got = await store.download("vitals", columns=["c0"], filters=[("t", "<", 5)], result_type="arrow")
    assert got.column("c0").to_pylist() == table.column("c0").to_pylist()[:5]
