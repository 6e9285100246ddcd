"""Errors that point the right way: a missing bucket is not a missing artifact, and a name the local
store cannot place beside an existing artifact is a typed error, not a raw "File exists"."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import (
    ArtifactNotFoundError,
    AsyncLocalPipelineStore,
    AsyncS3PipelineStore,
    BucketNotFoundError,
    NameConflictError,
)
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.servers import Server


async def test_info_and_exists_on_a_missing_s3_bucket_say_the_bucket_is_missing(moto: Server) -> None:
    bucket = f"missing-{uuid.uuid4().hex[:10]}"
    async with AsyncS3PipelineStore(bucket, "p", endpoint_url=moto.url) as store:
        for call in (store.info, store.exists):
            with pytest.raises(BucketNotFoundError, match=f"bucket '{bucket}' does not exist") as caught:
                await call("a")
            assert not isinstance(caught.value, ArtifactNotFoundError)


async def test_info_in_an_existing_s3_bucket_still_says_the_artifact_is_missing(moto: Server) -> None:
    s3 = S3Env(moto.url)
    async with s3.make("p") as store:
        for _ in range(2):  # the bucket is checked once, then known
            with pytest.raises(ArtifactNotFoundError, match="does not exist"):
                await store.info("a")
        assert await store.exists("a") is False


async def test_info_on_a_missing_local_root_says_the_root_is_missing(tmp_path: Path) -> None:
    store = AsyncLocalPipelineStore(tmp_path / "gone", create=False)
    with pytest.raises(BucketNotFoundError, match="local store root .* does not exist"):
        await store.info("a")
    await store.aclose()


@pytest.mark.parametrize(("first", "second"), [("x", "x.parquet/y"), ("x.parquet/y", "x")])
async def test_a_local_name_whose_path_another_artifact_holds_is_a_name_conflict(
    tmp_path: Path, first: str, second: str
) -> None:
    df = pd.DataFrame({"v": [1]})
    async with AsyncLocalPipelineStore(tmp_path, "p") as store:
        await store.upload(df, first)
        for overwrite in (True, False):
            with pytest.raises(NameConflictError, match="choose another name") as caught:
                await store.upload(df, second, overwrite=overwrite)
            message = str(caught.value)
            assert "x.parquet" in message and "File exists" not in message and "Is a directory" not in message
        assert await store.list_artifacts() == [first]
        pd.testing.assert_frame_equal(await store.download(first), df)
        with pytest.raises(ArtifactNotFoundError):
            await store.info(second)
