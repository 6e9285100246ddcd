"""Streamed writes (``upload_batches``) and streamed listings (``iter_artifacts``) on every backend."""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async import (
    ArtifactEntry,
    ArtifactExistsError,
    AsyncS3PipelineStore,
    ConfigurationError,
    SchemaMismatchError,
    SerializationError,
    StorageFormat,
    TransferConfig,
)
from clinops_async._stores.checksum import crc32c_b64
from tests.support.fault_proxy import FaultProxy
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from tests.support.servers import Server
    from tests.support.store_envs import StoreEnv

MiB = 1 << 20
#: Parts of 5 MiB (the smallest S3 takes), so a stream of a few MiB goes up in several parts.
SMALL_PARTS = TransferConfig(part_size=5 * MiB, multipart_threshold=5 * MiB)


def vitals_batch(number: int, rows: int = 1_000) -> pd.DataFrame:
    rng = np.random.default_rng(number)
    return pd.DataFrame({
        "subject_id": np.arange(number * rows, (number + 1) * rows, dtype="int64"),
        "heart_rate": rng.normal(80, 10, rows),
        "unit": pd.Series(["icu", "ward"] * (rows // 2), dtype="string"),
    })


def noisy_batch(number: int, rows: int = 131_072) -> pd.DataFrame:
    """1 MiB of incompressible floats: Parquet bytes about as large as the frame."""
    return pd.DataFrame({"x": np.random.default_rng(number).random(rows)})


@pytest.fixture(autouse=True)
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Spooled files go to a directory of this test's own, so a file left behind is seen."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def assert_nothing_left(store_env: StoreEnv, spool_dir: Path, keys: list[str]) -> None:
    assert store_env.keys() == keys
    assert store_env.incomplete_uploads() == 0
    assert [p for p in spool_dir.iterdir() if p.name.startswith("clinops-stream-")] == []


# -- upload_batches ---------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["generator", "async", "arrow", "list"])
async def test_a_stream_of_batches_reads_back_as_one_artifact(store_env: StoreEnv, spool_dir: Path, kind: str) -> None:
    frames = [vitals_batch(i) for i in range(4)]
    expected = pd.concat(frames, ignore_index=True)
    source: Any
    if kind == "generator":
        source = iter(frames)
    elif kind == "list":
        source = frames
    elif kind == "arrow":
        source = pa.Table.from_pandas(expected, preserve_index=False).to_reader(max_chunksize=1_000)

    if kind == "async":
        async def arrive() -> AsyncIterator[pd.DataFrame]:
            for frame in frames:
                await anyio.lowlevel.checkpoint()
                yield frame

        source = arrive()
    async with store_env.make() as store:
        uri = await store.upload_batches(source, "vitals/stream")
        assert uri == store.uri("vitals/stream")
        out = await store.download("vitals/stream")
        info = await store.info("vitals/stream")
    pd.testing.assert_frame_equal(out, expected)
    assert (info.rows, info.columns) == (4_000, 3)
    assert_nothing_left(store_env, spool_dir, [store.key("vitals/stream")])


async def test_a_stream_larger_than_a_part_goes_up_in_parts_and_streams_back(
    store_env: StoreEnv, spool_dir: Path
) -> None:
    frames = [noisy_batch(i) for i in range(24)]  # 24 MiB: row groups of 10 MiB, parts of 5 MiB
    seen: list[tuple[int, int]] = []
    async with store_env.make(transfer=SMALL_PARTS) as store:
        await store.upload_batches(iter(frames), "big", progress=lambda done, total: seen.append((done, total)))
        data = store_env.get_bytes(store.key("big"))
        back = [b async for b in store.iter_batches("big", batch_rows=100_000)]
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.num_row_groups == 3
    pd.testing.assert_frame_equal(pd.concat(back, ignore_index=True), pd.concat(frames, ignore_index=True))
    assert seen[-1] == (len(data), len(data))
    assert_nothing_left(store_env, spool_dir, [store.key("big")])


async def test_a_failing_source_mid_stream_leaves_nothing_and_keeps_the_old_version(
    store_env: StoreEnv, spool_dir: Path
) -> None:
    def failing() -> Iterator[pd.DataFrame]:
        for i in range(30):  # past the first row groups, so parts are already up on S3
            yield noisy_batch(i)
        raise RuntimeError("the source broke")

    async with store_env.make(transfer=SMALL_PARTS) as store:
        await store.upload(vitals_batch(0), "stream")
        with pytest.raises(RuntimeError, match="the source broke"):
            await store.upload_batches(failing(), "stream")
        pd.testing.assert_frame_equal(await store.download("stream"), vitals_batch(0))
    assert_nothing_left(store_env, spool_dir, [store.key("stream")])


async def test_a_cancelled_stream_leaves_nothing(store_env: StoreEnv, spool_dir: Path) -> None:
    stuck = anyio.Event()
    closed: list[bool] = []

    async def never_ends() -> AsyncIterator[pd.DataFrame]:
        try:
            for i in range(30):
                yield noisy_batch(i)
            stuck.set()
            await anyio.Event().wait()  # a source that stops producing
            yield noisy_batch(99)
        finally:
            closed.append(True)

    async with store_env.make(transfer=SMALL_PARTS) as store:
        async with anyio.create_task_group() as tg:
            tg.start_soon(store.upload_batches, never_ends(), "stream")
            await stuck.wait()
            tg.cancel_scope.cancel()
        assert not await store.exists("stream")
    assert closed == [True]
    assert_nothing_left(store_env, spool_dir, [])


async def test_schema_drift_is_refused_and_nothing_is_stored(store_env: StoreEnv, spool_dir: Path) -> None:
    drifted = vitals_batch(1).assign(heart_rate=lambda d: d.heart_rate.astype("int64"))
    async with store_env.make() as store:
        with pytest.raises(SchemaMismatchError, match="'heart_rate' is int64, expected double"):
            await store.upload_batches([vitals_batch(0), drifted], "drift")
        with pytest.raises(SchemaMismatchError, match="other columns"):
            await store.upload_batches([vitals_batch(0), vitals_batch(1).drop(columns="unit")], "drift")
        with pytest.raises(SerializationError, match="batch 2 of the stream is a builtins.dict"):
            await store.upload_batches([vitals_batch(0), {"a": 1}], "drift")
    assert_nothing_left(store_env, spool_dir, [])


async def test_schema_gives_an_empty_stream_and_all_null_columns_their_types(store_env: StoreEnv) -> None:
    schema = pa.schema([("subject_id", pa.int64()), ("note", pa.string())])
    first = pa.table({"subject_id": pa.array([1, 2]), "note": pa.nulls(2)})
    second = pa.table({"subject_id": pa.array([3]), "note": pa.array(["ok"])})
    async with store_env.make() as store:
        await store.upload_batches([], "empty", schema=schema)
        await store.upload_batches([first, second], "notes", schema=schema)
        empty = await store.download("empty", result_type="arrow")
        notes = await store.download("notes", result_type="arrow")
        with pytest.raises(ConfigurationError, match="no batches and no schema"):
            await store.upload_batches([], "nothing")
    assert empty.num_rows == 0 and empty.schema.equals(schema)
    assert notes.column("note").to_pylist() == [None, None, "ok"]


async def test_overwrite_false_holds_for_streams(store_env: StoreEnv, spool_dir: Path) -> None:
    pulled: list[int] = []

    def counted() -> Iterator[pd.DataFrame]:
        for i in range(2):
            pulled.append(i)
            yield vitals_batch(i)

    async with store_env.make() as store:
        await store.upload(vitals_batch(7), "kept")
        with pytest.raises(ArtifactExistsError):
            await store.upload_batches(counted(), "kept", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("kept"), vitals_batch(7))
    assert pulled == []  # refused before the stream is read
    assert_nothing_left(store_env, spool_dir, [store.key("kept")])


async def test_polars_batches_read_back_as_polars(tmp_path: Path) -> None:
    import polars as pl

    from clinops_async import AsyncLocalPipelineStore

    frames = [pl.DataFrame({"stay_id": [i, i + 1], "unit": ["icu", "ward"]}) for i in range(0, 6, 2)]
    async with AsyncLocalPipelineStore(tmp_path / "store") as store:
        await store.upload_batches(frames, "polars")
        back = await store.download("polars", result_type="polars")
    assert back.equals(pl.concat(frames))


async def test_bad_arguments_are_refused_before_any_io(tmp_path: Path) -> None:
    from clinops_async import AsyncLocalPipelineStore

    store = AsyncLocalPipelineStore(tmp_path / "never", create=False)  # any I/O would fail differently
    with pytest.raises(ConfigurationError, match="not one DataFrame"):
        await store.upload_batches(vitals_batch(0), "x")
    with pytest.raises(ConfigurationError, match="iterable"):
        await store.upload_batches(42, "x")
    with pytest.raises(ConfigurationError, match="schema must be a pyarrow.Schema"):
        await store.upload_batches([], "x", schema={"a": "int"})
    with pytest.raises(ConfigurationError):
        await store.upload_batches([], "../x")
    csv = AsyncLocalPipelineStore(tmp_path / "never", format=StorageFormat.CSV, create=False)
    with pytest.raises(ConfigurationError, match="stores Parquet"):
        await csv.upload_batches([], "x")


def test_the_blocking_store_takes_a_plain_generator(tmp_path: Path) -> None:
    from clinops_async import LocalPipelineStore

    with LocalPipelineStore(tmp_path / "store") as store:
        store.upload_batches((vitals_batch(i) for i in range(3)), "gen")
        entries = list(store.iter_artifacts())
        out = store.download("gen")
    pd.testing.assert_frame_equal(out, pd.concat([vitals_batch(i) for i in range(3)], ignore_index=True))
    assert [e.name for e in entries] == ["gen"]


# -- iter_artifacts ---------------------------------------------------------------------------------


async def test_iter_artifacts_reports_what_info_does_page_by_page(store_env: StoreEnv) -> None:
    async with store_env.make("p") as store:
        for name in ["b/two", "a/one", "c"]:
            await store.upload(vitals_batch(0), name)
        store_env.put_bytes("p/notes.txt", b"not an artifact")
        store._backend.list_page_size = 2  # several pages on S3 and fake-gcs
        entries = [e async for e in store.iter_artifacts()]
        under_a = [e.name async for e in store.iter_artifacts("a/")]
        infos = [await store.info(e.name) for e in entries]
        listed = await store.list_artifacts()
    assert [e.name for e in entries] == listed == ["a/one", "b/two", "c"]
    assert under_a == ["a/one"]
    for entry, info in zip(entries, infos, strict=True):
        assert isinstance(entry, ArtifactEntry)
        assert (entry.uri, entry.size, entry.last_modified) == (info.uri, info.size, info.last_modified)
        assert entry.etag


async def test_iter_artifacts_refuses_a_bad_prefix_at_the_call(tmp_path: Path) -> None:
    from clinops_async import AsyncLocalPipelineStore

    store = AsyncLocalPipelineStore(tmp_path / "never", create=False)
    with pytest.raises(ConfigurationError):
        store.iter_artifacts("../up")


async def test_an_s3_server_without_full_object_checksums_gets_the_spooled_file(moto: Server, spool_dir: Path) -> None:
    # The probe's CreateMultipartUpload answer loses its ChecksumType, as from a server that ignores it:
    # the probe is aborted before the stream is read, and the stream is spooled and sent with its CRC32C.
    s3 = S3Env(moto.url)
    frames = [noisy_batch(i) for i in range(12)]
    with FaultProxy(moto.url) as proxy:
        proxy.add("strip_headers", lambda r: r.method == "POST" and "uploads" in r.query, times=10,
                  headers={"x-amz-checksum-type": ""})
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=SMALL_PARTS) as store:
            await store.upload_batches(iter(frames), "spooled")
            out = await store.download("spooled")
    pd.testing.assert_frame_equal(out, pd.concat(frames, ignore_index=True))
    assert s3.metadata("spooled.parquet")["clinops-crc32c"] == crc32c_b64(s3.get_bytes("spooled.parquet"))
    assert_nothing_left(s3, spool_dir, ["spooled.parquet"])


def test_response_timestamps_are_parsed_as_botocore_parses_them() -> None:
    from botocore.utils import parse_timestamp as botocore_parse

    from clinops_async._aws import parse_timestamp

    values: list[Any] = ["2026-12-02T10:33:06.000Z", "2026-12-02T10:33:06Z", "2026-12-02T10:33:06.123456+02:00",
                         "Wed, 02 Dec 2026 10:33:06 GMT", "1764671586", 1764671586.5]
    for value in values:
        assert parse_timestamp(value) == botocore_parse(value), value
