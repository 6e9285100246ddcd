"""Server-side copies seen from the wire: no byte of the artifact passes through the client, GCS's
rewrite token loop, and cancellation in the middle of a multipart copy or a rewrite."""

from __future__ import annotations

import asyncio
import functools
import json
from typing import TYPE_CHECKING

import anyio
import pandas as pd
import pytest

from clinops_async import AsyncS3PipelineStore, IntegrityError, TransferConfig
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import wide_frame
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from aiohttp import web

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.servers import Server

MiB = 1024 * 1024
SMALL_COPIES = TransferConfig(copy_threshold=5 * MiB, copy_part_size=5 * MiB, rewrite_bytes_per_call=MiB)
#: Everything the copy itself sends and receives (heads, XML and JSON answers), far below one part.
CONTROL_BYTES = 64 * 1024


def big_frame() -> pd.DataFrame:
    return wide_frame(rows=40_000, cols=40)  # about 12 MB of Parquet: three 5 MiB parts


@pytest.fixture(params=["fake_gcs", "gcs_emulator"])
def gcs(request: pytest.FixtureRequest) -> GCSEnv:
    server: Server = request.getfixturevalue(request.param)
    return GCSEnv(request.param.replace("_", "-"), server.url)


def via(proxy: FaultProxy, env: S3Env | GCSEnv) -> AsyncPipelineStore:
    if isinstance(env, S3Env):
        return AsyncS3PipelineStore(env.bucket, endpoint_url=proxy.url, transfer=SMALL_COPIES)
    return AsyncGCSPipelineStore(env.bucket, emulator_host=proxy.url, transfer=SMALL_COPIES)


async def _seed(env: S3Env | GCSEnv, df: pd.DataFrame) -> int:
    async with env.make(transfer=SMALL_COPIES) as store:
        await store.upload(df, "big")
        return (await store.info("big")).size


@pytest.mark.parametrize("server", ["moto", "fake_gcs", "gcs_emulator"])
async def test_no_byte_of_a_copy_or_move_passes_through_the_client(server: str, request: pytest.FixtureRequest) -> None:
    url = request.getfixturevalue(server).url
    env: S3Env | GCSEnv = S3Env(url) if server == "moto" else GCSEnv(server.replace("_", "-"), url)
    size = await _seed(env, big_frame())
    with FaultProxy(env.endpoint, flavor="s3" if server == "moto" else "gcs") as proxy:
        async with via(proxy, env) as store:
            await store.copy("big", "copies/big")  # S3: three UploadPartCopy parts; GCS: rewrite
            await store.move("copies/big", "moved/big")
            await store.copy_prefix("moved/", "again/")
        moved = proxy.request_bytes + proxy.response_bytes
    assert size > 10 * MiB and moved < CONTROL_BYTES, f"{moved} bytes passed through the client"
    async with env.make() as store:
        pd.testing.assert_frame_equal(await store.download("again/big"), big_frame())


async def test_a_cancelled_multipart_copy_is_aborted_and_leaves_nothing(moto: Server) -> None:
    env = S3Env(moto.url)
    await _seed(env, big_frame())
    loop, stalled = asyncio.get_running_loop(), asyncio.Event()

    def second_part(r: web.Request) -> bool:
        hit = r.method == "PUT" and "x-amz-copy-source" in r.headers and r.query.get("partNumber") == "2"
        if hit:
            loop.call_soon_threadsafe(stalled.set)
        return hit

    with FaultProxy(moto.url) as proxy:
        proxy.add("stall", second_part, delay=3)
        async with via(proxy, env) as store, anyio.create_task_group() as tg:
            tg.start_soon(store.copy, "big", "copy")
            await stalled.wait()
            tg.cancel_scope.cancel()
    assert env.incomplete_uploads() == 0
    assert env.keys() == ["big.parquet"]


def _partial_rewrite(size: int, token: str) -> dict[str, object]:
    answer = {"kind": "storage#rewriteResponse", "done": False, "rewriteToken": token,
              "totalBytesRewritten": str(MiB), "objectSize": str(size)}
    return {"status": 200, "body": json.dumps(answer).encode(), "headers": {"Content-Type": "application/json"}}


async def test_the_rewrite_loop_hands_back_each_token_until_done(gcs: GCSEnv) -> None:
    # Neither emulator splits a rewrite, so the first answer is the one GCS gives a large object.
    size = await _seed(gcs, big_frame())
    continued: list[str] = []

    def first_call(r: web.Request) -> bool:
        return "/rewriteTo/" in r.path and "rewriteToken" not in r.query

    def record(r: web.Request) -> bool:
        if "/rewriteTo/" in r.path:
            continued.append(r.query.get("rewriteToken", ""))
        return False

    with FaultProxy(gcs.endpoint, flavor="gcs") as proxy:
        proxy.add("status", first_call, **_partial_rewrite(size, "token-1"))  # type: ignore[arg-type]
        proxy.add("status", record)
        seen: list[int] = []
        async with via(proxy, gcs) as store:
            await store.copy("big", "copy", progress=lambda done, total: seen.append(done))
            assert (await store.info("copy")).checksum == (await store.info("big")).checksum
    assert continued == ["token-1"]
    assert MiB in seen and seen[-1] == size


async def test_a_cancelled_rewrite_leaves_nothing(gcs: GCSEnv) -> None:
    size = await _seed(gcs, big_frame())
    loop, stalled = asyncio.get_running_loop(), asyncio.Event()

    def first_call(r: web.Request) -> bool:
        return "/rewriteTo/" in r.path and "rewriteToken" not in r.query

    def continued(r: web.Request) -> bool:
        hit = "/rewriteTo/" in r.path and r.query.get("rewriteToken") == "token-1"
        if hit:
            loop.call_soon_threadsafe(stalled.set)
        return hit

    with FaultProxy(gcs.endpoint, flavor="gcs") as proxy:
        proxy.add("status", first_call, **_partial_rewrite(size, "token-1"))  # type: ignore[arg-type]
        proxy.add("stall", continued, delay=3)
        async with via(proxy, gcs) as store, anyio.create_task_group() as tg:
            tg.start_soon(functools.partial(store.copy, "big", "copy", verify=True))  # the pinned rewrite loop
            await stalled.wait()
            tg.cancel_scope.cancel()
    assert gcs.keys() == ["big.parquet"]


@pytest.mark.parametrize("server", ["moto", "fake_gcs", "gcs_emulator"])
async def test_a_copy_that_does_not_match_the_sources_checksum_is_removed(
    server: str, request: pytest.FixtureRequest
) -> None:
    # The source's recorded CRC32C is wrong (damaged metadata): the server computes the copy's from
    # the bytes, the two differ, and neither the copy nor a move's deletion of the source may stand.
    url = request.getfixturevalue(server).url
    env: S3Env | GCSEnv = S3Env(url) if server == "moto" else GCSEnv(server.replace("_", "-"), url)
    async with env.make() as store:
        await store.upload(wide_frame(rows=100, cols=3), "a")
    data, metadata = env.get_bytes("a.parquet"), env.metadata("a.parquet")
    env.put_bytes("a.parquet", data, {**metadata, "clinops-crc32c": "AAAAAA=="})
    async with env.make() as store:
        with pytest.raises(IntegrityError, match="the copy was removed"):
            await store.move("a", "b")
    assert env.keys() == ["a.parquet"] and env.get_bytes("a.parquet") == data
