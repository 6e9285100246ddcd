"""S3-specific behaviour against moto in server mode: multipart, cancellation, errors, documented snippets."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
import textwrap
import time
from typing import TYPE_CHECKING, Any

import anyio
import boto3  # type: ignore[import-untyped]
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async import (
    AccessDeniedError,
    ArtifactExistsError,
    AsyncS3PipelineStore,
    BucketNotFoundError,
    ConfigurationError,
    IntegrityError,
    RetryConfig,
    TransferConfig,
    TransientStoreError,
)
from clinops_async._stores.checksum import crc32c_b64
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import icu_windows, wide_frame
from tests.support.servers import ROOT, Server
from tests.support.store_envs import S3Env
from tests.support.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from collections.abc import Callable

MiB = 1024 * 1024
SMALL_PARTS = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB, max_concurrency=2)


@pytest.fixture
def s3(moto: Server) -> S3Env:
    return S3Env(moto.url)


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> None:
    """Poll ``condition`` until it holds (a condition, not a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.01)


async def test_upload_sends_crc32c_and_records_counts(s3: S3Env) -> None:
    df = icu_windows(stays=3, hours=4)
    async with s3.make("p") as store:
        await store.upload(df, "a")
        info = await store.info("a")
    head = s3.client.head_object(Bucket=s3.bucket, Key="p/a.parquet", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32C"] == info.checksum
    assert head["Metadata"]["clinops-rows"] == "12"
    assert head["ContentType"] == "application/octet-stream"


@pytest.mark.slow
async def test_200_mb_artifact_goes_through_concurrent_multipart(s3: S3Env) -> None:
    df = wide_frame(270_000, 100)  # ~200 MB of float64 Parquet
    transfer = TransferConfig(multipart_threshold=16 * MiB, part_size=16 * MiB, max_concurrency=8)
    async with s3.make(transfer=transfer) as store:
        await store.upload(df, "big")
        head = s3.client.head_object(Bucket=s3.bucket, Key="big.parquet")
        assert head["ContentLength"] > 190 * 1e6
        assert head["ETag"].strip('"').endswith(f"-{-(-head['ContentLength'] // (16 * MiB))}")
        out = await store.download("big")
    pd.testing.assert_frame_equal(out, df)
    assert s3.incomplete_uploads() == 0


def _footer_keys(data: bytes) -> set[bytes]:
    return set(pq.read_schema(pa.BufferReader(data)).metadata or {})


async def test_big_frame_is_streamed_under_s3s_full_object_crc32c(s3: S3Env) -> None:
    # Encoded while its parts go up, so its CRC32C is only known at the end: it goes up with the
    # completion as the object's full-object checksum, which the server reports from then on.
    df = wide_frame(200_000, 20, seed=4)  # 32 MB in memory: six 5 MiB parts and a tail
    async with s3.make(transfer=SMALL_PARTS) as store:
        await store.upload(df, "streamed")
        await store.upload(df, "again")
        info = await store.info("streamed")
        out = await store.download("streamed")
    stored = s3.get_bytes("streamed.parquet")
    head = s3.client.head_object(Bucket=s3.bucket, Key="streamed.parquet", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "FULL_OBJECT" and head["ChecksumCRC32C"] == crc32c_b64(stored)
    assert int(head["ETag"].strip('"').rsplit("-", 1)[1]) >= 6
    assert info.checksum == crc32c_b64(stored) and info.size == len(stored)
    assert (info.rows, info.columns) == (200_000, 20)
    assert "clinops-crc32c" not in head["Metadata"]  # nothing recorded that the server does not check
    assert _footer_keys(stored) <= {b"pandas", b"clinops_async", b"ARROW:schema"}
    assert s3.get_bytes("again.parquet") == stored  # the same frame, the same bytes
    pd.testing.assert_frame_equal(out, df)
    assert s3.incomplete_uploads() == 0


async def test_whole_file_multipart_also_carries_a_full_object_crc32c(s3: S3Env) -> None:
    df = wide_frame(60_000, 20, seed=5)  # CSV is encoded whole first: about 20 MB, four parts
    async with s3.make(format="csv", transfer=SMALL_PARTS) as store:
        await store.upload(df, "whole")
        out = await store.download("whole")
    stored = s3.get_bytes("whole.csv")
    head = s3.client.head_object(Bucket=s3.bucket, Key="whole.csv", ChecksumMode="ENABLED")
    assert head["ChecksumType"] == "FULL_OBJECT" and head["ChecksumCRC32C"] == crc32c_b64(stored)
    assert head["Metadata"]["clinops-crc32c"] == crc32c_b64(stored)
    assert int(head["ETag"].strip('"').rsplit("-", 1)[1]) >= 4
    assert len(out) == len(df)


async def test_artifact_written_by_0_1_0_with_its_checksum_fill_still_verifies(s3: S3Env) -> None:
    # 0.1.0 streamed uploads carried a footer key that steered the file to a CRC32C recorded in
    # advance; such files keep their recorded CRC32C and must still download, and be refused when damaged.
    df = wide_frame(80_000, 20, seed=6)
    table = pa.Table.from_pandas(df, preserve_index=None)
    sink = pa.BufferOutputStream()
    with pq.ParquetWriter(sink, table.schema, write_page_checksum=True) as writer:
        writer.write_table(table)
        writer.add_key_value_metadata({"clinops_async.crc32c_fill": "acacacacacacacacacacacacacacacacacacacac"})
    data = sink.getvalue().to_pybytes()
    meta = {"clinops-crc32c": crc32c_b64(data), "clinops-rows": "80000", "clinops-columns": "20",
            "clinops-format": "parquet", "clinops-write": "0" * 32}
    s3.put_bytes("old.parquet", data, meta)
    damaged = bytearray(data)
    damaged[len(damaged) // 3] ^= 0x01
    s3.put_bytes("damaged.parquet", bytes(damaged), meta)
    async with s3.make(transfer=SMALL_PARTS) as store:
        pd.testing.assert_frame_equal(await store.download("old"), df)
        assert (await store.info("old")).checksum == crc32c_b64(data)
        with pytest.raises(IntegrityError):
            await store.download("damaged")


async def test_server_without_full_object_checksums_gets_the_recorded_crc32c_instead(
    s3: S3Env, moto: Server, caplog: pytest.LogCaptureFixture
) -> None:
    # A server that ignores ChecksumType answers CreateMultipartUpload without it: the streamed upload
    # it started is aborted, the frame is encoded whole and its CRC32C recorded, and said so, once.
    df = wide_frame(200_000, 20, seed=7)
    starts: list[str] = []

    def start(request: Any) -> bool:
        if request.method == "POST" and "uploads" in request.query:
            starts.append(request.path)
            return True
        return False

    with FaultProxy(moto.url) as proxy:
        proxy.add("strip_headers", start, times=10, headers={"x-amz-checksum-type": ""})
        store = AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=SMALL_PARTS)
        with caplog.at_level(logging.WARNING, logger="clinops_async"):
            async with store:
                await store.upload(df, "first")
                await store.upload(df, "second")
                out = await store.download("second")
    pd.testing.assert_frame_equal(out, df)
    for key in ("first.parquet", "second.parquet"):
        assert s3.metadata(key)["clinops-crc32c"] == crc32c_b64(s3.get_bytes(key))
    assert len(starts) == 3  # the streamed start that found out, then one per whole-file upload
    assert sum("full-object CRC32C" in r.getMessage() for r in caplog.records) == 1
    assert s3.incomplete_uploads() == 0


async def test_refused_part_stops_the_encoder_and_leaves_nothing(s3: S3Env, moto: Server) -> None:
    previous = icu_windows(stays=2)
    async with s3.make() as store:
        await store.upload(previous, "vitals")
    with FaultProxy(moto.url) as proxy:
        proxy.add("status", lambda r: r.method == "PUT" and r.query.get("partNumber") == "2",
                  times=10, **proxy.error(403))
        store = AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=SMALL_PARTS)
        async with store:
            with anyio.fail_after(60), pytest.raises(AccessDeniedError):
                await store.upload(wide_frame(200_000, 20), "vitals")
    assert s3.incomplete_uploads() == 0
    assert s3.keys() == ["vitals.parquet"]
    async with s3.make() as store:
        pd.testing.assert_frame_equal(await store.download("vitals"), previous)


async def test_cancelled_multipart_upload_is_aborted_and_leaves_nothing(s3: S3Env) -> None:
    df = wide_frame(200_000, 20)
    async with s3.make(transfer=SMALL_PARTS) as store:
        task = asyncio.create_task(store.upload(df, "cancelled"))
        await asyncio.to_thread(wait_until, lambda: s3.incomplete_uploads() > 0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert s3.incomplete_uploads() == 0
    assert s3.keys() == []


async def test_failed_multipart_completion_is_aborted_and_keeps_the_winner(s3: S3Env) -> None:
    df = wide_frame(200_000, 20)
    async with s3.make(transfer=SMALL_PARTS) as store:
        task = asyncio.create_task(store.upload(df, "contested", overwrite=False))
        await asyncio.to_thread(wait_until, lambda: s3.incomplete_uploads() > 0)
        s3.put_bytes("contested.parquet", b"the other writer", {})
        with pytest.raises(ArtifactExistsError):
            await task
    assert s3.incomplete_uploads() == 0
    assert s3.get_bytes("contested.parquet") == b"the other writer"


@pytest.mark.parametrize("server", ["moto", "seaweedfs"])
async def test_contested_multipart_completions_leave_one_whole_upload(
    request: pytest.FixtureRequest, server: str
) -> None:
    """Concurrent large uploads of one name with ``overwrite=False``, on both local S3 servers.

    Neither serialises conditional completions as S3 does (moto lets several win; SeaweedFS has let
    two win, see docs/testing.md), so this asserts what both honour: at least one winner, every other
    writer told ``ArtifactExistsError``, the stored object one whole upload, and no multipart upload left.
    """
    s3 = S3Env(request.getfixturevalue(server).url, "s3" if server == "moto" else server)
    frames = [wide_frame(90_000, 10, seed=i) for i in range(6)]  # about 7 MiB each: two parts
    async with s3.make(transfer=SMALL_PARTS) as store:
        results = await asyncio.gather(
            *(store.upload(df, "contested", overwrite=False) for df in frames), return_exceptions=True
        )
        winners = [i for i, result in enumerate(results) if isinstance(result, str)]
        assert winners, results
        assert all(isinstance(results[i], ArtifactExistsError) for i in range(len(frames)) if i not in winners)
        stored = await store.download("contested")  # checked against its recorded CRC32C on the way
    assert any(stored.equals(frames[i]) for i in winners)
    assert s3.keys() == ["contested.parquet"]
    assert s3.incomplete_uploads() == 0


async def test_bodies_are_sent_without_waiting_for_100_continue(s3: S3Env, moto: Server) -> None:
    # An ``Expect: 100-continue`` costs a round trip per object and per part before the body leaves.
    async with TcpProxy(moto.port, record=True) as proxy:
        store = AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=SMALL_PARTS)
        async with store:
            await store.upload(icu_windows(stays=2), "small")
            await store.upload(wide_frame(200_000, 8), "parts")
        puts = [line for line in proxy.request_lines() if line.startswith("PUT ")]
        assert any("partNumber=" in line for line in puts) and len(puts) >= 3
        assert b"100-continue" not in proxy.recorded.lower()


async def test_part_size_grows_to_stay_within_10000_parts() -> None:
    config = TransferConfig(part_size=5 * MiB)
    size = config.part_size_for(100 * 1024 * MiB)
    assert size > 5 * MiB and -(-100 * 1024 * MiB // size) <= 10_000


async def test_missing_bucket_is_named(moto: Server) -> None:
    async with AsyncS3PipelineStore("no-such-bucket-here", endpoint_url=moto.url) as store:
        with pytest.raises(BucketNotFoundError, match="no-such-bucket-here"):
            await store.upload(pd.DataFrame({"a": [1]}), "x")
        with pytest.raises(BucketNotFoundError):
            await store.list_artifacts()


async def test_unreachable_endpoint_is_retried_then_transient() -> None:
    from tests.support.servers import free_port

    retry = RetryConfig(max_attempts=3, initial_backoff=0.01, max_backoff=0.02)
    store = AsyncS3PipelineStore("bucket-x", endpoint_url=f"http://127.0.0.1:{free_port()}", retry=retry)
    async with store:
        with pytest.raises(TransientStoreError) as caught:
            await store.download("x")
    assert caught.value.attempts == 3


async def test_server_side_encryption_is_requested(s3: S3Env) -> None:
    async with s3.make(server_side_encryption="AES256") as store:
        await store.upload(pd.DataFrame({"a": [1]}), "enc")
    assert s3.client.head_object(Bucket=s3.bucket, Key="enc.parquet")["ServerSideEncryption"] == "AES256"
    async with s3.make(sse_kms_key_id="alias/clinical") as store:
        await store.upload(pd.DataFrame({"a": [1]}), "kms")
    head = s3.client.head_object(Bucket=s3.bucket, Key="kms.parquet")
    assert head["ServerSideEncryption"] == "aws:kms"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"bucket": ""},
        {"bucket": "s3://bucket"},
        {"bucket": "b/c"},
        {"bucket": "ok-bucket", "format": "json"},
        {"bucket": "ok-bucket", "region": ""},
        {"bucket": "ok-bucket", "endpoint_url": "localhost:9000"},
        {"bucket": "ok-bucket", "server_side_encryption": "rot13"},
        {"bucket": "ok-bucket", "compression": "zip"},
        {"bucket": "ok-bucket", "prefix": "../up"},
        {"bucket": "ok-bucket", "transfer": {"part_size": 1}},
    ],
)
def test_bad_constructor_arguments(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError):
        AsyncS3PipelineStore(**kwargs)  # type: ignore[arg-type]


def test_transfer_config_rejects_tiny_parts() -> None:
    with pytest.raises(ConfigurationError, match="5 MiB"):
        TransferConfig(part_size=1024)


def test_endpoint_from_environment_variables(moto: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket="env-bucket")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)

    async def main() -> list[str]:
        async with AsyncS3PipelineStore("env-bucket") as store:
            await store.upload(pd.DataFrame({"a": [1]}), "x")
            return await store.list_artifacts()

    assert asyncio.run(main()) == ["x"]


DOCUMENTED_S3_SNIPPET = """
from clinops.orchestrate import S3PipelineStore
store = S3PipelineStore(
bucket="my-clinical-bucket",
prefix="clinops/prod",
region="us-east-1",
)
uri = store.upload(windows_df, "features/windows_2024_01")
# → 's3://my-clinical-bucket/clinops/prod/features/windows_2024_01.parquet'
df = store.download("features/windows_2024_01")
"""

DOCUMENTED_FORMAT_SNIPPET = """
from clinops.orchestrate import StorageFormat
assert StorageFormat.PARQUET == "parquet" and StorageFormat.CSV == "csv"
"""


def test_documented_s3_snippets_run_as_written(moto: Server, tmp_path: os.PathLike[str]) -> None:
    """The documented snippets, unchanged but for the module name, in a fresh interpreter.

    They reach moto only through the standard environment variables, and the script never closes
    its store: it must still exit promptly.
    """
    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket="my-clinical-bucket")
    snippet = DOCUMENTED_S3_SNIPPET.replace("clinops.orchestrate", "clinops_async.orchestrate")
    fmt = DOCUMENTED_FORMAT_SNIPPET.replace("clinops.orchestrate", "clinops_async.orchestrate")
    script = textwrap.dedent(
        """
        import pandas as pd
        from clinops_async.synthetic import icu_windows
        windows_df = icu_windows(stays=3, hours=6)
        """
    ) + snippet + fmt + textwrap.dedent(
        """
        assert uri == 's3://my-clinical-bucket/clinops/prod/features/windows_2024_01.parquet', uri
        pd.testing.assert_frame_equal(df, windows_df)
        assert store.list_artifacts("features/") == ["features/windows_2024_01"]
        print("ok")
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
