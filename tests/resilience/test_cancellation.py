"""Cancellation at random (seeded) points of uploads and downloads, on every store backend.

A cancelled task or an expired ``anyio.fail_after`` must leave the artifact whole (the previous or the
new version, never a mix), no pending multipart upload, resumable session or temporary component or
file, and, once the store is closed, no connection, file descriptor or thread it opened.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
from typing import TYPE_CHECKING, Any

import anyio
import pandas as pd
import pytest

from clinops_async import RetryConfig, TransferConfig
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import wide_frame
from tests.support.store_envs import S3Env, StoreEnv

if TYPE_CHECKING:
    from collections.abc import Callable

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.servers import Server

MiB = 1 << 20
# One seed in the quick loop (make test-fast), all three in the full run.
SEEDS = [11, pytest.param(12, marks=pytest.mark.slow), pytest.param(13, marks=pytest.mark.slow)]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def chunked(env: StoreEnv, **options: Any) -> AsyncPipelineStore:
    """A store that moves ``big()`` in several parts, chunks or ranges."""
    if env.scheme == "s3":
        return env.make(transfer=TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB), **options)
    if env.name == "local":
        return env.make(**options)
    transfer = TransferConfig(multipart_threshold=MiB, part_size=5 * MiB)
    return env.make(transfer=transfer, chunk_size=MiB, **options)


def big(seed: int) -> pd.DataFrame:
    return wide_frame(90_000, 10, seed=seed)  # about 7 MiB of Parquet


async def interrupt(how: str, delay: float, work: Any) -> bool:
    """Run ``work`` and interrupt it after ``delay`` s; True when it finished first."""
    if how == "cancel":
        task = asyncio.ensure_future(work)
        await asyncio.sleep(delay)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            return False
        return True
    try:
        with anyio.fail_after(delay):
            await work
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("how", ["cancel", "fail_after"])
@pytest.mark.parametrize("op", ["upload", "download"])
@pytest.mark.parametrize("seed", SEEDS)
async def test_interrupted_transfer_leaves_a_whole_artifact_and_no_leaks(
    store_env: StoreEnv, op: str, how: str, seed: int
) -> None:
    rng = random.Random(f"{store_env.name}-{op}-{how}-{seed}")
    old, new = big(seed), big(seed + 100)
    async with chunked(store_env) as warm:  # worker threads and connections exist before the baseline
        await warm.upload(old, "vitals")
        await warm.download("vitals")
    key_before = store_env.keys()
    fds, threads = open_fds(), threading.active_count()
    store = chunked(store_env)
    async with store:
        await store.exists("vitals")  # the connection pool is open: the interruption hits the transfer
        delay = rng.uniform(0.0, 0.4)
        work = store.upload(new, "vitals") if op == "upload" else store.download("vitals")
        finished = await interrupt(how, delay, work)
    assert store_env.keys() == key_before, "a partial artifact or temporary file was left"
    assert store_env.incomplete_uploads() == 0
    async with store_env.make() as direct:
        got = await direct.download("vitals")
    expected = new if op == "upload" and finished else None
    if expected is not None:
        pd.testing.assert_frame_equal(got, expected)
    else:
        try:
            pd.testing.assert_frame_equal(got, old)
        except AssertionError:
            pd.testing.assert_frame_equal(got, new)  # the upload landed just as it was interrupted
    http = getattr(store._backend, "http", None)  # the GCS backend's HTTP client
    assert http is None or not http.is_open, "the store's HTTP session is still open after aclose"
    for _ in range(50):  # give the transports a moment to close
        if open_fds() <= fds + 2:
            break
        await asyncio.sleep(0.02)
    assert open_fds() <= fds + 2, (open_fds(), fds)
    assert threading.active_count() <= threads + 2, (threading.active_count(), threads)


@pytest.mark.parametrize("fmt", ["parquet", "csv"])  # encoded while sent / encoded first
@pytest.mark.parametrize("how", ["cancel", "fail_after"])
async def test_cancelled_multipart_start_aborts_the_upload_it_created(moto: Server, how: str, fmt: str) -> None:
    """Interrupted while S3 is creating the multipart upload: the upload it creates is aborted too,
    and a deadline surfaces as ``TimeoutError``, never as a bare ``CancelledError``."""
    s3 = S3Env(moto.url)
    with FaultProxy(moto.url) as proxy:
        proxy.add("stall", lambda r: r.method == "POST" and "uploads" in r.query, delay=0.5)
        from clinops_async import AsyncS3PipelineStore

        transfer = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=transfer, format=fmt,
                                        retry=RetryConfig(max_attempts=2, initial_backoff=0.01)) as store:
            await store.exists("x")

            async def when_stalled(interrupt: Callable[[], object]) -> None:
                # The proxy runs its own loop in another thread: its state is polled, not awaited.
                while proxy.applied != ["stall"]:  # noqa: ASYNC110 - the start is being held
                    await asyncio.sleep(0.01)
                interrupt()

            if how == "cancel":
                task = asyncio.ensure_future(store.upload(big(1), "x"))
                await when_stalled(task.cancel)
                with pytest.raises(asyncio.CancelledError):
                    await task
            else:
                with pytest.raises(TimeoutError):
                    with anyio.fail_after(None) as scope:

                        def expire() -> None:
                            scope.deadline = anyio.current_time()

                        watcher = asyncio.ensure_future(when_stalled(expire))
                        await store.upload(big(1), "x")
                await watcher
        # The upload call returned only after its start ended and was undone.
    assert s3.incomplete_uploads() == 0
    assert s3.keys() == []
