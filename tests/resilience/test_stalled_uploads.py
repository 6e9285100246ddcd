"""Uploads to a peer that stops reading the request body: they end, in bounded time, leaving nothing.

A proxy reads the first bytes of each matching upload request and then nothing more, so the client's
send blocks once the socket buffers are full, and no answer ever comes. Every request has a deadline
of ``connect_timeout + read_timeout + body size / min_transfer_rate`` (see ``TransferConfig``); after
the retries the upload raises ``TransientStoreError``, and the multipart upload (S3) is aborted on
another connection. Each test fails, instead of hanging, past ``LIMIT`` seconds.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import anyio
import pandas as pd
import pytest

from clinops_async import (
    AsyncS3PipelineStore,
    ConfigurationError,
    RetryConfig,
    TransferConfig,
    TransientStoreError,
)
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import wide_frame
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from aiohttp import web

    from tests.support.servers import Server

MiB = 1 << 20
FAST_RETRY = RetryConfig(max_attempts=3, initial_backoff=0.01, max_backoff=0.05)
#: How long the proxy holds a stalled connection before dropping it: far past every deadline below.
STALL = 120.0
#: The bound each test holds the library to (it fails, rather than hangs, past this).
LIMIT = 30.0
#: Short deadlines: 0.5 s to connect, 0.5 s without an answer, and at least 32 MiB/s for a body.
S3_TRANSFER = {"connect_timeout": 0.5, "read_timeout": 0.5, "min_transfer_rate": 32 * MiB, "max_concurrency": 2}


def big_frame() -> pd.DataFrame:
    """About 22 MiB of incompressible Parquet: more than loopback's socket buffers hold."""
    return wide_frame(280_000, 10)


def is_s3_body(request: web.Request) -> bool:
    """A PutObject or UploadPart (not the start, completion or abort of a multipart upload)."""
    return request.method == "PUT"


def is_gcs_chunk(request: web.Request) -> bool:
    return request.method == "PUT" and "upload_id" in request.query


def test_the_request_deadline_is_the_one_the_configuration_states() -> None:
    assert TransferConfig().request_deadline(0) == 10 + 60
    assert TransferConfig().request_deadline(16 * MiB) == 10 + 60 + 64  # 16 MiB at 256 KiB/s
    assert TransferConfig(**S3_TRANSFER).request_deadline(8 * MiB) == 0.5 + 0.5 + 0.25  # type: ignore[arg-type]
    for rate in (0, -1, 1.5, True):
        with pytest.raises(ConfigurationError, match="min_transfer_rate"):
            TransferConfig(min_transfer_rate=rate)  # type: ignore[arg-type]


def through(proxy: FaultProxy, s3: S3Env, transfer: TransferConfig) -> AsyncS3PipelineStore:
    return AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=transfer, retry=FAST_RETRY)


@pytest.mark.slow  # each case waits out a request deadline on purpose
@pytest.mark.parametrize("path", ["one-request", "multipart"])
async def test_s3_upload_to_a_peer_that_stops_reading_ends_and_leaves_nothing(moto: Server, path: str) -> None:
    s3 = S3Env(moto.url)
    threshold = 64 * MiB if path == "one-request" else 8 * MiB
    transfer = TransferConfig(multipart_threshold=threshold, part_size=8 * MiB, **S3_TRANSFER)  # type: ignore[arg-type]
    df = big_frame()
    with FaultProxy(moto.url) as proxy:
        proxy.add("stop_reading", is_s3_body, times=100, after=MiB, delay=STALL)
        started = time.monotonic()
        async with through(proxy, s3, transfer) as store:
            with anyio.fail_after(LIMIT), pytest.raises(TransientStoreError) as caught:
                await store.upload(df, "vitals")
        elapsed = time.monotonic() - started
    assert caught.value.attempts == FAST_RETRY.max_attempts
    assert caught.value.uri is not None and caught.value.uri.endswith("vitals.parquet")
    assert "stop_reading" in proxy.applied
    assert s3.keys() == []
    assert s3.incomplete_uploads() == 0, "the stalled multipart upload was not aborted"
    print(f"S3 {path}: stalled upload ended in {elapsed:.1f} s")


async def test_s3_upload_stalled_once_is_retried_on_a_fresh_connection_and_lands(moto: Server) -> None:
    s3 = S3Env(moto.url)
    # Only the stalled body must miss its deadline: on a busy machine moto may take longer than 0.5 s
    # to answer the other requests (the start and completion), which must still land.
    patient = {**S3_TRANSFER, "read_timeout": 5.0}
    transfer = TransferConfig(multipart_threshold=8 * MiB, part_size=8 * MiB, **patient)  # type: ignore[arg-type]
    df = big_frame()
    with FaultProxy(moto.url) as proxy:
        proxy.add("stop_reading", is_s3_body, after=MiB, delay=STALL)
        async with through(proxy, s3, transfer) as store:
            with anyio.fail_after(LIMIT):
                await store.upload(df, "vitals", overwrite=False)
    assert proxy.applied == ["stop_reading"]
    assert s3.keys() == ["vitals.parquet"]
    assert s3.incomplete_uploads() == 0
    async with s3.make() as direct:
        pd.testing.assert_frame_equal(await direct.download("vitals"), df)


@pytest.mark.parametrize("emulator", ["gcs_emulator", "fake_gcs"])
async def test_gcs_upload_to_a_peer_that_stops_reading_ends_and_leaves_nothing(
    request: pytest.FixtureRequest, emulator: str
) -> None:
    server: Server = request.getfixturevalue(emulator)
    gcs = GCSEnv("gcs-emulator" if emulator == "gcs_emulator" else "fake-gcs", server.url)
    transfer = TransferConfig(multipart_threshold=MiB, connect_timeout=0.5, read_timeout=0.5)
    with FaultProxy(server.url, flavor="gcs") as proxy:
        proxy.add("stop_reading", is_gcs_chunk, times=100, after=256 * 1024, delay=STALL)
        started = time.monotonic()
        store = AsyncGCSPipelineStore(gcs.bucket, emulator_host=proxy.url, transfer=transfer, retry=FAST_RETRY,
                                      chunk_size=MiB)
        async with store:
            with anyio.fail_after(LIMIT), pytest.raises(TransientStoreError) as caught:
                await store.upload(big_frame(), "vitals")
        elapsed = time.monotonic() - started
    assert caught.value.uri is not None and caught.value.uri.endswith("vitals.parquet")
    assert "stop_reading" in proxy.applied
    assert gcs.keys() == []
    assert gcs.incomplete_uploads() == 0
    print(f"GCS {emulator}: stalled upload ended in {elapsed:.1f} s")
