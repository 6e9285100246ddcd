"""S3 under injected faults: retries land the artifact exactly once; corruption never reaches the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import IntegrityError, RetryConfig, TransferConfig, TransientStoreError
from tests.support.fault_proxy import ErrorAnswer, FaultProxy, s3_error
from tests.support.frames import icu_windows, wide_frame
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import Iterator

    from aiohttp import web

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.servers import Server

MiB = 1024 * 1024
FAST_RETRY = RetryConfig(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


@pytest.fixture
def s3(moto: Server) -> S3Env:
    return S3Env(moto.url)


@pytest.fixture
def proxy(moto: Server) -> Iterator[FaultProxy]:
    with FaultProxy(moto.url) as p:
        yield p


def through(proxy: FaultProxy, s3: S3Env, **options: object) -> AsyncPipelineStore:
    from clinops_async import AsyncS3PipelineStore

    return AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, retry=FAST_RETRY, **options)  # type: ignore[arg-type]


def is_put(r: web.Request) -> bool:
    return r.method == "PUT"


def is_get(r: web.Request) -> bool:
    return r.method == "GET"


@pytest.mark.parametrize("fault", [
    pytest.param(s3_error("SlowDown", 503), id="503-slowdown"),
    pytest.param(s3_error("InternalError", 500), id="500", marks=pytest.mark.slow),  # the 503 path again
    pytest.param(s3_error("Throttling", 429), id="429", marks=pytest.mark.slow),
])
async def test_throttling_and_5xx_are_retried_and_the_artifact_lands_once(
    s3: S3Env, proxy: FaultProxy, fault: ErrorAnswer
) -> None:
    df = icu_windows(stays=2, hours=5)
    proxy.add("status", is_put, times=2, **fault)
    async with through(proxy, s3) as store:
        await store.upload(df, "a", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("a"), df)
    assert proxy.applied == ["status", "status"] and s3.keys() == ["a.parquet"]


async def test_persistent_throttling_becomes_transient_error_after_all_attempts(
    s3: S3Env, proxy: FaultProxy
) -> None:
    proxy.add("status", is_put, times=10, **s3_error("SlowDown", 503))
    async with through(proxy, s3) as store:
        with pytest.raises(TransientStoreError) as caught:
            await store.upload(pd.DataFrame({"a": [1]}), "a")
    assert caught.value.attempts == FAST_RETRY.max_attempts
    assert s3.keys() == []


async def test_connection_reset_before_answer_is_retried(s3: S3Env, proxy: FaultProxy) -> None:
    df = icu_windows(stays=2, hours=5)
    proxy.add("reset_before", is_put)
    proxy.add("reset_before", is_get)
    async with through(proxy, s3) as store:
        await store.upload(df, "a")
        pd.testing.assert_frame_equal(await store.download("a"), df)
    assert proxy.pending() == 0


async def test_dropped_ranged_read_is_retried(s3: S3Env, proxy: FaultProxy) -> None:
    df = wide_frame(120_000, 20)
    transfer = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)
    async with through(proxy, s3, transfer=transfer) as store:
        await store.upload(df, "big")
        proxy.add("reset_during", lambda r: is_get(r) and "bytes=0-" not in r.headers.get("Range", ""))
        pd.testing.assert_frame_equal(await store.download("big"), df)
    assert proxy.applied == ["reset_during"]


async def test_bytes_flipped_on_the_way_down_raise_integrity_error(s3: S3Env, proxy: FaultProxy) -> None:
    df = wide_frame(2_000, 5)
    async with through(proxy, s3) as store:
        await store.upload(df, "a")
        proxy.add("flip_response", is_get)
        with pytest.raises(IntegrityError):
            await store.download("a")
        pd.testing.assert_frame_equal(await store.download("a"), df)  # the stored artifact is intact


async def test_access_denied_is_translated_and_not_retried(s3: S3Env, proxy: FaultProxy) -> None:
    from clinops_async import AccessDeniedError

    proxy.add("status", is_get, **s3_error("AccessDenied", 403))
    async with through(proxy, s3) as store:
        with pytest.raises(AccessDeniedError) as caught:
            await store.download("a")
    assert isinstance(caught.value, PermissionError)
    assert proxy.requests == 1


async def test_column_projection_moves_only_the_footer_and_needed_chunks(s3: S3Env, proxy: FaultProxy) -> None:
    df = wide_frame(20_000, 400)  # ~64 MB of incompressible floats
    wanted = ["f0003", "f0100", "f0200", "f0300", "f0399"]
    async with through(proxy, s3, transfer=TransferConfig(max_concurrency=4)) as store:
        await store.upload(df, "wide")
        size = (await store.info("wide")).size
        before = proxy.response_bytes
        out = await store.download("wide", columns=wanted)
        moved = proxy.response_bytes - before
    pd.testing.assert_frame_equal(out, df[wanted])
    needed = size * len(wanted) / 400
    assert moved < 2 * needed + 2 * 1024 * 1024, (moved, needed)
    assert moved < size / 10


@pytest.mark.slow  # projects a damaged 16 MB artifact column by column
async def test_projection_of_damaged_column_chunk_raises_integrity_error(s3: S3Env) -> None:
    df = wide_frame(20_000, 100)
    async with s3.make() as store:
        await store.upload(df, "wide")
        data = bytearray(s3.get_bytes("wide.parquet"))
        data[len(data) // 3] ^= 0xFF  # inside some column chunk's data pages
        s3.put_bytes("wide.parquet", bytes(data), s3.metadata("wide.parquet"))
        with pytest.raises(IntegrityError):
            await store.download("wide")
        # A projection that touches the damaged chunk fails; the page CRCs catch it without the whole-object CRC.
        failures = 0
        for column in df.columns:
            try:
                await store.download("wide", columns=[column])
            except IntegrityError:
                failures += 1
        assert failures >= 1
