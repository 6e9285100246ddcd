"""A failed listing page is retried from its own continuation token, never from the first page."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import AsyncS3PipelineStore, RetryConfig
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from tests.support.fault_proxy import FaultProxy
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from aiohttp import web

    from clinops_async._stores.core import AsyncPipelineStore

FAST_RETRY = RetryConfig(max_attempts=4, initial_backoff=0.01, max_backoff=0.05)


def page_token(request: web.Request) -> str | None:
    return request.query.get("continuation-token") or request.query.get("pageToken")


def is_listing(request: web.Request) -> bool:
    if request.method != "GET":
        return False
    return "list-type" in request.query or request.path.endswith("/o")


@pytest.mark.parametrize("server", ["moto", "fake_gcs"])
async def test_a_failed_page_is_retried_from_its_token_and_page_one_is_not_read_again(
    request: pytest.FixtureRequest, server: str
) -> None:
    url = request.getfixturevalue(server).url
    env: S3Env | GCSEnv = S3Env(url) if server == "moto" else GCSEnv("fake-gcs", url)
    async with env.make() as direct:
        for number in range(5):
            await direct.upload(pd.DataFrame({"x": [number]}), f"a/{number}")
    with FaultProxy(env.endpoint, flavor="s3" if server == "moto" else "gcs") as proxy:
        tokens: list[str | None] = []

        def record(r: web.Request) -> bool:
            if is_listing(r):
                tokens.append(page_token(r))
            return False  # never applied: it only sees every request

        proxy.add("status", record)
        proxy.add("status", lambda r: is_listing(r) and page_token(r) is not None, **proxy.error(503))
        store: AsyncPipelineStore
        if server == "moto":
            store = AsyncS3PipelineStore(env.bucket, endpoint_url=proxy.url, retry=FAST_RETRY)
        else:
            store = AsyncGCSPipelineStore(env.bucket, emulator_host=proxy.url, retry=FAST_RETRY)
        async with store:
            store._backend.list_page_size = 2
            names = [entry.name async for entry in store.iter_artifacts("a/")]
    assert names == [f"a/{n}" for n in range(5)]
    assert tokens[0] is None and tokens.count(None) == 1  # the first page, once
    assert len(tokens) == 4  # pages 1, 2 (refused), 2 again, 3
    assert tokens[1] == tokens[2] is not None
