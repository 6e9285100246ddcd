"""Versions of an artifact (``version=``, ``list_versions``) and compare-and-swap writes (``if_match=``),
on every backend: S3 versioned buckets (moto, SeaweedFS), GCS generations (both emulators), local."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import (
    ArtifactChangedError,
    ArtifactNotFoundError,
    ArtifactVersion,
    ConfigurationError,
    IntegrityError,
    UnsupportedOperationError,
    VersionNotFoundError,
)
from clinops_async._stores.backend import PutRequest
from clinops_async._stores.checksum import crc32c_b64
from tests.support.frames import icu_windows
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from tests.support.servers import Server
    from tests.support.store_envs import StoreEnv


def enable_versioning(store_env: StoreEnv) -> None:
    """Turn on versioning of the test's bucket, as its owner would (S3 versioning, GCS object versioning)."""
    if isinstance(store_env, S3Env):
        store_env.client.put_bucket_versioning(
            Bucket=store_env.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
    elif isinstance(store_env, GCSEnv):
        request = urllib.request.Request(
            f"{store_env.endpoint}/storage/v1/b/{store_env.bucket}", method="PATCH",
            data=json.dumps({"versioning": {"enabled": True}}).encode(), headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()


#: Where versions are kept: the clouds (the local store keeps none; test_version_arguments...).
CLOUDS = pytest.mark.parametrize("store_env", ["s3", "seaweedfs", "gcs-emulator", "fake-gcs"], indirect=True)


def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return icu_windows(stays=2), icu_windows(stays=3)


@CLOUDS
async def test_reads_pinned_to_an_older_version_return_that_version(store_env: StoreEnv) -> None:
    enable_versioning(store_env)
    first, second = frames()
    async with store_env.make("v") as store:
        await store.upload(first, "w")
        old = await store.info("w")
        await store.upload(second, "w")
        assert old.version is not None
        versions = await store.list_versions("w")
        assert [type(v) for v in versions] == [ArtifactVersion, ArtifactVersion]
        assert [v.is_latest for v in versions] == [True, False]
        assert versions[1].version == old.version and versions[1].checksum == old.checksum
        assert versions[0].version == (await store.info("w")).version
        pd.testing.assert_frame_equal(await store.download("w", version=old.version), first)
        pd.testing.assert_frame_equal(await store.download("w"), second)
        assert (await store.info("w", version=old.version)).checksum == old.checksum
        batches = [batch async for batch in store.iter_batches("w", version=old.version, result_type="arrow")]
        assert sum(batch.num_rows for batch in batches) == len(first)
        projected = await store.download("w", version=old.version, columns=["heart_rate"])
        pd.testing.assert_series_equal(projected["heart_rate"], first["heart_rate"])


@CLOUDS
async def test_a_version_that_does_not_exist_is_named(store_env: StoreEnv) -> None:
    enable_versioning(store_env)
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=1), "w")
        missing = "123456789" if store_env.scheme == "gs" else "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"
        with pytest.raises(VersionNotFoundError, match="list_versions"):
            await store.download("w", version=missing)
        with pytest.raises(ArtifactNotFoundError):  # VersionNotFoundError is one
            await store.info("w", version=missing)
        assert await store.list_versions("never-written") == []


@CLOUDS
async def test_a_pinned_download_checks_that_versions_own_checksum(store_env: StoreEnv) -> None:
    enable_versioning(store_env)
    good = icu_windows(stays=1)
    async with store_env.make() as store:
        await store.upload(good, "w")
        kept = (await store.info("w")).version
        damaged = store_env.get_bytes("w.parquet")
        metadata = {**store_env.metadata("w.parquet")}
        store_env.put_bytes("w.parquet", damaged[:100] + bytes([damaged[100] ^ 1]) + damaged[101:], metadata)
        latest = (await store.info("w")).version
        assert latest != kept
        with pytest.raises(IntegrityError):
            await store.download("w", version=latest)
        pd.testing.assert_frame_equal(await store.download("w", version=kept), good)


async def test_version_arguments_are_checked_before_any_io(store_env: StoreEnv) -> None:
    store = store_env.make()
    if store_env.name == "local":
        with pytest.raises(UnsupportedOperationError, match="no versions"):
            await store.download("w", version="1")
        with pytest.raises(UnsupportedOperationError):
            store.iter_batches("w", version="1")
        with pytest.raises(UnsupportedOperationError):
            await store.list_versions("w")
    else:
        for bad in ("", 7, "a\nb"):
            with pytest.raises(ConfigurationError, match="version"):
                await store.download("w", version=bad)  # type: ignore[arg-type]
        if store_env.scheme == "gs":
            with pytest.raises(ConfigurationError, match="generation"):
                await store.info("w", version="not-a-generation")
    assert store._state == "new"  # nothing was opened


# -- compare-and-swap -----------------------------------------------------------------------------


async def test_if_match_replaces_only_the_version_that_was_read(store_env: StoreEnv) -> None:
    first, second = frames()
    async with store_env.make() as store:
        await store.upload(first, "w")
        seen = await store.info("w")
        assert seen.etag
        await store.upload(second, "w", if_match=seen.etag)
        now = await store.info("w")
        assert now.etag != seen.etag
        with pytest.raises(ArtifactChangedError, match="if_match") as raised:
            await store.upload(first, "w", if_match=seen.etag)  # the stale one: another writer won
        assert raised.value.uri == store.uri("w")
        pd.testing.assert_frame_equal(await store.download("w"), second)
        assert (await store.info("w")).etag == now.etag


async def test_if_match_with_the_etag_of_another_artifact_changes_nothing(store_env: StoreEnv) -> None:
    first, second = frames()
    async with store_env.make() as store:
        await store.upload(first, "a")
        await store.upload(first, "b")
        other = (await store.info("b")).etag
        before = store_env.get_bytes("a.parquet")
        if (await store.info("a")).etag != other:  # S3 ETags are MD5s: the same bytes, the same ETag
            with pytest.raises(ArtifactChangedError):
                await store.upload(second, "a", if_match=other)
        assert store_env.get_bytes("a.parquet") == before
        with pytest.raises(ArtifactChangedError, match="no longer exists"):
            await store.upload(second, "never-written", if_match=other)
        assert "never-written.parquet" not in store_env.keys()


async def test_if_match_and_overwrite_false_together_are_refused_before_any_io(store_env: StoreEnv) -> None:
    store = store_env.make()
    with pytest.raises(ConfigurationError, match="if_match and overwrite=False"):
        await store.upload(icu_windows(stays=1), "w", if_match="1", overwrite=False)
    with pytest.raises(ConfigurationError, match="if_match"):
        await store.upload(icu_windows(stays=1), "w", if_match="")
    assert store._state == "new"  # nothing was opened


async def test_the_server_refuses_a_write_whose_condition_no_longer_holds(store_env: StoreEnv) -> None:
    """The write itself is conditional, not only the check before it: a writer that slips in between
    the check and the write loses nothing of its own."""
    first, second = frames()
    async with store_env.make() as store:
        await store.upload(first, "w")
        stale = (await store.info("w")).etag
        await store.upload(second, "w")
        backend = await store._ready()
        body = b"\0\0\0\0"
        request = PutRequest(
            store.key("w"), store.uri("w"), 4, "application/octet-stream", {}, crc32c_b64(body), True, if_match=stale
        )
        with pytest.raises(ArtifactChangedError):
            await backend.put(request, memoryview(body))
        if store_env.name == "local":
            with pytest.raises(ArtifactChangedError):
                await backend.put_large(request, memoryview(body), 256 * 1024)
        pd.testing.assert_frame_equal(await store.download("w"), second)


@pytest.mark.parametrize("store_env", ["s3", "seaweedfs"], indirect=True)
async def test_s3_multipart_completion_carries_if_match(store_env: StoreEnv) -> None:
    """A large artifact's condition goes with CompleteMultipartUpload, the request that makes it visible."""
    from botocore.session import get_session

    model = get_session().get_service_model("s3")
    for operation in ("CompleteMultipartUpload", "PutObject"):
        shape = model.operation_model(operation).input_shape
        assert shape is not None and "IfMatch" in shape.members
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=1), "w")
        stale = (await store.info("w")).etag
        await store.upload(icu_windows(stays=2), "w")
        backend = await store._ready()
        part = b"\1" * (5 * 1024 * 1024)
        request = PutRequest(store.key("w"), store.uri("w"), len(part), "application/octet-stream", {},
                             crc32c_b64(part), True, if_match=stale)
        upload = await backend.create_multipart(request)
        done = [await backend.upload_part(upload, 1, memoryview(part), crc32c_b64(part))]
        with pytest.raises(ArtifactChangedError):
            await backend.complete_multipart(upload, done, crc32c_b64(part))
        await backend.abort_multipart(upload)
        assert len(await store.download("w")) == len(icu_windows(stays=2))


async def test_concurrent_writers_with_one_etag_exactly_one_wins(store_env: StoreEnv) -> None:
    """Compare-and-swap under contention: of writers that all read the same version, one replaces it and
    every other one is told it lost; the artifact is the winner's, whole."""
    import asyncio

    contenders = [icu_windows(stays=n) for n in range(2, 7)]
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=1), "w")
        seen = (await store.info("w")).etag
        assert seen is not None
        results = await asyncio.gather(
            *(store.upload(df, "w", if_match=seen) for df in contenders), return_exceptions=True
        )
        winners = [i for i, result in enumerate(results) if isinstance(result, str)]
        assert len(winners) == 1, results
        assert all(isinstance(results[i], ArtifactChangedError) for i in range(len(contenders)) if i not in winners)
        pd.testing.assert_frame_equal(await store.download("w"), contenders[winners[0]])


async def test_large_artifacts_are_replaced_only_while_if_match_holds(store_env: StoreEnv) -> None:
    """The multipart (S3), resumable (GCS) and streamed paths carry the condition as the small one does."""
    from clinops_async import TransferConfig
    from tests.support.frames import wide_frame

    mib = 1024 * 1024
    parts = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=2)
    big, bigger = wide_frame(150_000, 8), wide_frame(160_000, 8)  # about 9.6 MB in memory: streamed on S3
    async with store_env.make(compression="none", transfer=parts) as store:
        await store.upload(icu_windows(stays=1), "w")
        seen = (await store.info("w")).etag
        assert seen is not None
        await store.upload(big, "w", if_match=seen)
        with pytest.raises(ArtifactChangedError):
            await store.upload(bigger, "w", if_match=seen)
        assert store_env.incomplete_uploads() == 0
        pd.testing.assert_frame_equal(await store.download("w"), big)


async def test_facades_mirror_versions_signing_and_if_match(moto: Server) -> None:
    from clinops_async import S3PipelineStore

    s3 = S3Env(moto.url)
    enable_versioning(s3)
    first, second = frames()
    with S3PipelineStore(s3.bucket, endpoint_url=moto.url) as store:
        store.upload(first, "w")
        seen = store.info("w")
        store.upload(second, "w", if_match=seen.etag)
        with pytest.raises(ArtifactChangedError):
            store.upload(first, "w", if_match=seen.etag)
        assert [v.version for v in store.list_versions("w")][1] == seen.version
        pd.testing.assert_frame_equal(store.download("w", version=seen.version), first)
        assert store.info("w", version=seen.version).etag == seen.etag
        assert sum(len(b) for b in store.iter_batches("w", version=seen.version)) == len(first)
        assert "versionId=" in store.signed_url("w", version=seen.version, expires=60)


async def test_a_gcs_resumable_upload_asks_for_the_generation_it_replaces(fake_gcs: Server) -> None:
    """fake-gcs-server ignores preconditions on resumable sessions (it honours them on single
    requests), so what is checked is that the session's start carries ``ifGenerationMatch``, where GCS
    checks it (and again when the session is finalized)."""
    from clinops_async import AsyncGCSPipelineStore, TransferConfig
    from tests.support.tcp_proxy import TcpProxy

    gcs = GCSEnv("fake-gcs", fake_gcs.url)
    large = TransferConfig(multipart_threshold=1024 * 1024)
    async with TcpProxy(fake_gcs.port, record=True) as proxy:
        async with AsyncGCSPipelineStore(gcs.bucket, emulator_host=proxy.url, transfer=large) as store:
            await store.upload(icu_windows(stays=1), "w")
            seen = (await store.info("w")).etag
            from tests.support.frames import wide_frame

            await store.upload(wide_frame(40_000, 8), "w", if_match=seen)
        starts = [line for line in proxy.request_lines() if "uploadType=resumable" in line]
    assert len(starts) == 1 and f"ifGenerationMatch={seen}" in starts[0]
