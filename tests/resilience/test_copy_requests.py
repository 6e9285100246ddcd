"""What a copy sends, counted at the wire: one request for a plain copy on S3 and GCS, the full check
for ``verify=True`` and for a move, the fallback when the source is too large for one CopyObject,
and what a damaged source's copy does without and with ``verify``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from clinops_async import AsyncS3PipelineStore, IntegrityError
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from tests.support.fault_proxy import ErrorAnswer, FaultProxy
from tests.support.frames import icu_windows, wide_frame
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from aiohttp import web

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.servers import Server

SERVERS = ["moto", "seaweedfs", "fake_gcs", "gcs_emulator"]
#: AWS's answer to a CopyObject of a source above 5 GiB.
TOO_LARGE: ErrorAnswer = {
    "status": 400,
    "body": b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code><Message>The specified '
            b"copy source is larger than the maximum allowable size for a copy source: 5368709120</Message></Error>",
    "headers": {"Content-Type": "application/xml"},
}


def env_of(server: str, request: pytest.FixtureRequest) -> S3Env | GCSEnv:
    url = request.getfixturevalue(server).url
    if server in ("moto", "seaweedfs"):
        return S3Env(url, name="s3" if server == "moto" else server)
    return GCSEnv(server.replace("_", "-"), url)


def via(proxy: FaultProxy, env: S3Env | GCSEnv) -> AsyncPipelineStore:
    if isinstance(env, S3Env):
        return AsyncS3PipelineStore(env.bucket, endpoint_url=proxy.url)
    return AsyncGCSPipelineStore(env.bucket, emulator_host=proxy.url)


def is_copy(r: web.Request) -> bool:
    return "x-amz-copy-source" in r.headers or "/rewriteTo/" in r.path


class Recorder:
    """Every request through the proxy, by kind: copy, info (S3 HEAD, GCS GET of an object), list,
    delete, or its method."""

    def __init__(self, proxy: FaultProxy) -> None:
        self.seen: list[str] = []
        proxy.add("status", self.record)

    def record(self, r: web.Request) -> bool:
        listing = r.method == "GET" and ("prefix" in r.query or "list-type" in r.query)
        kind = "copy" if is_copy(r) else "list" if listing else {"HEAD": "info", "GET": "info"}.get(r.method)
        self.seen.append(kind or r.method.lower())
        return False


@pytest.mark.parametrize("server", SERVERS)
async def test_a_plain_copy_is_one_request_and_verify_or_move_check_the_copy(
    server: str, request: pytest.FixtureRequest
) -> None:
    env = env_of(server, request)
    async with env.make() as store:
        await store.upload_many({f"src/{i}": icu_windows(stays=2, hours=2 + i) for i in range(3)})
    with FaultProxy(env.endpoint, flavor="gcs" if isinstance(env, GCSEnv) else "s3") as proxy:
        recorder = Recorder(proxy)
        async with via(proxy, env) as store:
            await store.exists("warm-up")
            recorder.seen.clear()
            await store.copy("src/0", "one/0")
            assert recorder.seen == ["copy"]
            recorder.seen.clear()
            assert (await store.copy_prefix("src/", "all/")).ok
            assert recorder.seen == ["list", "copy", "copy", "copy"]  # one listing, one request per object
            recorder.seen.clear()
            await store.copy("src/0", "checked/0", verify=True)
            assert recorder.seen[:2] == ["info", "copy"] and set(recorder.seen[2:]) <= {"info"}
            recorder.seen.clear()
            await store.move("one/0", "moved/0")
            assert recorder.seen[:2] == ["info", "copy"] and recorder.seen[-1] == "delete"
            assert (await store.info("all/2")).checksum == (await store.info("src/2")).checksum
            # The server's own CRC32C travels with a one-request copy too (what reads of streamed
            # artifacts, which record none, are checked against).
            source, copy = await store._backend.head(store.key("src/2")), await store._backend.head(store.key("all/2"))
            assert copy.server_crc32c == source.server_crc32c


async def test_a_source_too_large_for_one_copy_object_is_read_then_copied(moto: Server) -> None:
    env = S3Env(moto.url)
    async with env.make() as store:
        await store.upload(wide_frame(rows=100, cols=3), "a")
    with FaultProxy(env.endpoint) as proxy:
        recorder = Recorder(proxy)
        proxy.add("status", is_copy, **TOO_LARGE)
        async with via(proxy, env) as store:
            await store.exists("warm-up")
            recorder.seen.clear()
            await store.copy("a", "b")
            assert recorder.seen[:3] == ["copy", "info", "copy"]
            assert (await store.info("b")).checksum == (await store.info("a")).checksum


# Not SeaweedFS: it reports no CRC32C of a copy, so even verify=True has only the size to compare.
@pytest.mark.parametrize("server", ["moto", "fake_gcs", "gcs_emulator"])
async def test_a_damaged_source_is_caught_by_verify_by_every_read_and_on_gcs_at_once(
    server: str, request: pytest.FixtureRequest
) -> None:
    # The source's recorded CRC32C is wrong (damaged metadata). S3's one-request copy has nothing to
    # compare it with: the copy stands, and its first read fails. GCS's rewrite answer carries the
    # copy's metadata and CRC32C: the copy is checked and removed at once. verify=True checks on both.
    env = env_of(server, request)
    async with env.make() as store:
        await store.upload(wide_frame(rows=100, cols=3), "a")
    data, metadata = env.get_bytes("a.parquet"), env.metadata("a.parquet")
    env.put_bytes("a.parquet", data, {**metadata, "clinops-crc32c": "AAAAAA=="})
    async with env.make() as store:
        with pytest.raises(IntegrityError, match="the copy was removed"):
            await store.copy("a", "checked", verify=True)
        if isinstance(env, GCSEnv):
            with pytest.raises(IntegrityError, match="the copy was removed"):
                await store.copy("a", "plain")
        else:
            await store.copy("a", "plain")
            with pytest.raises(IntegrityError):
                await store.download("plain")
            await store.delete("plain")
    assert env.keys() == ["a.parquet"] and env.get_bytes("a.parquet") == data


@pytest.mark.parametrize("server", ["fake_gcs", "gcs_emulator"])
async def test_a_rewrite_gcs_does_not_finish_in_one_call_starts_again_pinned(
    server: str, request: pytest.FixtureRequest
) -> None:
    # Neither emulator splits a rewrite, so the proxy gives the answer GCS gives a large object.
    env = env_of(server, request)
    async with env.make() as store:
        await store.upload(wide_frame(rows=100, cols=3), "a")
    unfinished = json.dumps({"kind": "storage#rewriteResponse", "done": False, "rewriteToken": "t"})
    with FaultProxy(env.endpoint, flavor="gcs") as proxy:
        pinned: list[bool] = []

        def record(r: web.Request) -> bool:
            if "/rewriteTo/" in r.path:
                pinned.append("sourceGeneration" in r.query)
            return False

        proxy.add("status", record)
        proxy.add("status", lambda r: "/rewriteTo/" in r.path and "sourceGeneration" not in r.query, status=200,
                  body=unfinished.encode(), headers={"Content-Type": "application/json"})
        async with via(proxy, env) as store:
            await store.copy("a", "b")
            assert (await store.info("b")).checksum == (await store.info("a")).checksum
    assert pinned == [False, True]
