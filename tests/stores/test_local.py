"""The embedded local store: atomic writes, no escape from the root, private files; and open_store."""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import (
    AccessDeniedError,
    AsyncLocalPipelineStore,
    AsyncS3PipelineStore,
    ConfigurationError,
    SerializationError,
    open_store,
)

if TYPE_CHECKING:
    from pathlib import Path


async def test_files_are_private_to_their_owner_by_default(tmp_path: Path) -> None:
    async with AsyncLocalPipelineStore(tmp_path / "root", "p") as store:
        await store.upload(pd.DataFrame({"a": [1]}), "deep/name")
    assert stat.S_IMODE((tmp_path / "root/p/deep/name.parquet").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "root/p/deep").stat().st_mode) == 0o700


async def test_symlink_inside_root_cannot_lead_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "root"
    root.mkdir()
    (root / "escape").symlink_to(outside, target_is_directory=True)
    async with AsyncLocalPipelineStore(root) as store:
        with pytest.raises(AccessDeniedError):
            await store.upload(pd.DataFrame({"a": [1]}), "escape/x")
        with pytest.raises(AccessDeniedError):
            await store.download("escape/x")
    assert list(outside.iterdir()) == []


async def test_failed_write_leaves_previous_version_and_no_temporary_files(tmp_path: Path) -> None:
    async with AsyncLocalPipelineStore(tmp_path) as store:
        await store.upload(pd.DataFrame({"a": [1]}), "x")
        with pytest.raises(SerializationError):
            await store.upload(pd.DataFrame({"a": [1, "mixed"]}), "x")
        pd.testing.assert_frame_equal(await store.download("x"), pd.DataFrame({"a": [1]}))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.parquet"]


async def test_missing_root_without_create_is_named(tmp_path: Path) -> None:
    from clinops_async import BucketNotFoundError

    store = AsyncLocalPipelineStore(tmp_path / "absent", create=False)
    with pytest.raises(BucketNotFoundError, match="absent"):
        await store.exists("x")
    assert not (tmp_path / "absent").exists()


def test_open_store_picks_the_backend_from_the_uri(tmp_path: Path) -> None:
    local = open_store(tmp_path.as_uri() + "/")
    assert isinstance(local, AsyncLocalPipelineStore) and local.root == tmp_path
    s3 = open_store("s3://my-clinical-bucket/clinops/prod/")
    assert isinstance(s3, AsyncS3PipelineStore)
    assert (s3.bucket, s3.prefix) == ("my-clinical-bucket", "clinops/prod")
    assert s3.uri("features/a") == "s3://my-clinical-bucket/clinops/prod/features/a.parquet"
    for bad in ("ftp://host/x", "s3://", "", "file://remote-host/x"):
        with pytest.raises(ConfigurationError):
            open_store(bad)


def test_local_store_rejects_bad_options(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        AsyncLocalPipelineStore(tmp_path, file_mode=0o10000)
    with pytest.raises(ConfigurationError):
        AsyncLocalPipelineStore("")
    assert os.path.isdir(tmp_path)
