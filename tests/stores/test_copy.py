"""Server-side copy, move and rename, of one artifact, a prefix and in bulk, on every backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    AsyncLocalPipelineStore,
    ConfigurationError,
    StorageFormat,
    TransferConfig,
)
from clinops_async._stores.backend import ByteCounter, CopyRequest
from clinops_async._stores.metadata import recorded_crc32c
from tests.support.frames import icu_windows, wide_frame

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.store_envs import StoreEnv

MiB = 1024 * 1024
#: Small parts and thresholds, so a ~12 MB artifact copies in several S3 parts and GCS rewrite calls.
SMALL_COPIES = TransferConfig(copy_threshold=5 * MiB, copy_part_size=5 * MiB, rewrite_bytes_per_call=MiB)


async def test_copy_keeps_bytes_metadata_and_checksum_and_leaves_the_source(store_env: StoreEnv) -> None:
    df = icu_windows(stays=3, hours=6)
    async with store_env.make("p") as store:
        await store.upload(df, "staging/a")
        seen: list[tuple[int, int]] = []
        uri = await store.copy("staging/a", "prod/a", progress=lambda done, total: seen.append((done, total)))
        assert uri == store.uri("prod/a")
        source, copy = await store.info("staging/a"), await store.info("prod/a")
        pd.testing.assert_frame_equal(await store.download("prod/a"), df)
        pd.testing.assert_frame_equal(await store.download("staging/a"), df)
    assert store_env.get_bytes("p/prod/a.parquet") == store_env.get_bytes("p/staging/a.parquet")
    assert (copy.size, copy.rows, copy.columns) == (source.size, source.rows, source.columns)
    assert copy.checksum == source.checksum
    assert seen[0] == (0, source.size) and seen[-1] == (source.size, source.size)


async def test_move_deletes_the_source_only_after_the_copy_and_rename_is_move(store_env: StoreEnv) -> None:
    df = icu_windows(stays=2, hours=4)
    async with store_env.make() as store:
        await store.upload(df, "a")
        await store.move("a", "b")
        assert await store.list_artifacts() == ["b"]
        await store.rename("b", "c/d")
        assert await store.list_artifacts() == ["c/d"]
        pd.testing.assert_frame_equal(await store.download("c/d"), df)


async def test_overwrite_false_refuses_an_existing_destination_and_changes_nothing(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=2, hours=3), "a")
        await store.upload(icu_windows(stays=3, hours=3), "b")
        before = store_env.get_bytes("b.parquet")
        with pytest.raises(ArtifactExistsError):
            await store.copy("a", "b", overwrite=False)
        with pytest.raises(ArtifactExistsError):
            await store.move("a", "b", overwrite=False)
        assert await store.list_artifacts() == ["a", "b"]
    assert store_env.get_bytes("b.parquet") == before


async def test_the_server_holds_overwrite_false_when_a_destination_appears_after_the_check(
    store_env: StoreEnv,
) -> None:
    # The store checks first; the copy itself must still be conditional, for a writer that gets in
    # between. Called on the backend directly, past the store's check.
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=2, hours=3), "a")
        await store.upload(icu_windows(stays=3, hours=3), "b")
        backend = store._backend
        meta = await backend.head(store.key("a"))
        request = CopyRequest(meta, backend.bucket, store.uri("a"), store.key("b"), store.uri("b"), False,
                              recorded_crc32c(meta))
        before = store_env.get_bytes("b.parquet")
        with pytest.raises(ArtifactExistsError):
            await backend.copy_object(request, ByteCounter(None), store.retry_config)
    assert store_env.get_bytes("b.parquet") == before


async def test_bad_input_is_refused_before_any_change(store_env: StoreEnv, tmp_path: Path) -> None:
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=2, hours=3), "a")
        keys = store_env.keys()
        with pytest.raises(ConfigurationError, match="onto itself"):
            await store.copy("a", "a")
        with pytest.raises(ConfigurationError, match="onto itself"):
            await store.copy_prefix("x/", "x/")
        with pytest.raises(ArtifactNotFoundError):
            await store.move("missing", "b")
        with pytest.raises(ArtifactNotFoundError) as missing:
            await store.copy("missing", "b")  # one request, no HEAD first: the server's answer names the source
        assert missing.value.uri == store.uri("missing")
        with pytest.raises(ConfigurationError, match="verify"):
            await store.copy_many({"a": "b"}, verify="yes")  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError):
            await store.copy("a", "../b")
        with pytest.raises(ConfigurationError):
            await store.copy("a", "b", overwrite="no")  # type: ignore[arg-type]
        async with store_env.make(format=StorageFormat.CSV) as csv_store:
            with pytest.raises(ConfigurationError, match="keeps the bytes"):
                await store.copy("a", "b", to=csv_store)
        other_kind = AsyncLocalPipelineStore(tmp_path / "elsewhere") if store_env.scheme != "file" else None
        if other_kind is not None:
            with pytest.raises(ConfigurationError, match="cannot go from"):
                await store.copy("a", "b", to=other_kind)
            with pytest.raises(ConfigurationError, match="cannot go from"):
                await store.copy_many({"a": "b"}, to=other_kind)
    assert store_env.keys() == keys


async def test_copy_to_another_store_of_the_same_kind(store_env: StoreEnv) -> None:
    df = icu_windows(stays=2, hours=5)
    async with store_env.make("staging") as staging, store_env.make("prod") as prod:
        await staging.upload(df, "features/w")
        await staging.copy("features/w", "features/w", to=prod)
        with pytest.raises(ArtifactExistsError):
            await staging.copy("features/w", "features/w", to=prod, overwrite=False)
        pd.testing.assert_frame_equal(await prod.download("features/w"), df)
        await staging.move("features/w", "w2", to=prod)
        assert await staging.list_artifacts() == [] and await prod.list_artifacts() == ["features/w", "w2"]


async def test_copy_prefix_copies_every_object_and_move_prefix_promotes(store_env: StoreEnv) -> None:
    frames = {f"staging/run/{i}": icu_windows(stays=2, hours=2 + i) for i in range(3)}
    async with store_env.make("p") as store:
        await store.upload_many(frames)
        store_env.put_bytes("p/staging/run/_manifest.json", b'{"fragments": 3}')
        await store.upload(icu_windows(stays=2, hours=2), "staging-other")  # a string prefix, not a folder
        done: list[int] = []
        result = await store.copy_prefix("staging/", "prod/", progress=lambda o, n, t: done.append(n))
        assert result.ok and len(result) == 4 and done == [1, 2, 3, 4]
        assert [o.name for o in result] == [
            "staging/run/0.parquet", "staging/run/1.parquet", "staging/run/2.parquet", "staging/run/_manifest.json"]
        assert store_env.get_bytes("p/prod/run/_manifest.json") == b'{"fragments": 3}'
        for i in range(3):
            pd.testing.assert_frame_equal(await store.download(f"prod/run/{i}"), frames[f"staging/run/{i}"])
        moved = await store.move_prefix("prod/", "release/v1/")
        assert moved.ok
        assert await store.list_artifacts() == [
            "release/v1/run/0", "release/v1/run/1", "release/v1/run/2",
            "staging-other", "staging/run/0", "staging/run/1", "staging/run/2"]


async def test_copy_many_reports_each_item_and_one_failure_hides_no_other(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        await store.upload_many({"a": icu_windows(stays=2, hours=2), "b": icu_windows(stays=2, hours=3)})
        result = await store.copy_many([("a", "x/a"), ("missing", "x/m"), ("b", "x/b")])
        assert [o.ok for o in result] == [True, False, True]
        assert isinstance(result[1].error, ArtifactNotFoundError)
        assert result.values == {"a": store.uri("x/a"), "b": store.uri("x/b")}
        with pytest.raises(ConfigurationError, match="same destination"):
            await store.copy_many({"a": "y", "b": "y"})
        moved = await store.move_many({"x/a": "y/a", "x/b": "y/b"})
        assert moved.ok and await store.list_artifacts() == ["a", "b", "y/a", "y/b"]


async def test_a_large_copy_goes_in_parts_and_keeps_its_checksum(store_env: StoreEnv) -> None:
    df = wide_frame(rows=40_000, cols=40)  # about 12 MB of float64 Parquet: several 5 MiB parts
    async with store_env.make(transfer=SMALL_COPIES) as store:
        await store.upload(df, "big")
        seen: list[int] = []
        await store.copy("big", "copy/big", progress=lambda done, total: seen.append(done))
        source, copy = await store.info("big"), await store.info("copy/big")
        assert copy.size == source.size > 10 * MiB and copy.checksum == source.checksum
        pd.testing.assert_frame_equal(await store.download("copy/big"), df)
    if store_env.scheme == "s3":
        assert len(seen) >= 4  # the start, three parts at least
    assert store_env.incomplete_uploads() == 0


def test_blocking_stores_copy_and_move(tmp_path: Path) -> None:
    from clinops_async import LocalPipelineStore

    df = icu_windows(stays=2, hours=2)
    with LocalPipelineStore(tmp_path / "a") as a, LocalPipelineStore(tmp_path / "b") as b:
        a.upload(df, "x")
        assert a.copy("x", "y", verify=True) == a.uri("y")
        a.move("y", "z", to=b)
        a.rename("x", "w")
        assert a.copy_prefix("", "all/", to=b).ok
        assert a.copy_many({"w": "v"}).ok and a.move_many({"v": "u"}).ok
        assert a.move_prefix("u", "t").ok
        assert a.list_artifacts() == ["t", "w"] and b.list_artifacts() == ["all/w", "z"]


async def test_a_local_copy_is_a_hard_link_that_keeps_its_version(tmp_path: Path) -> None:
    async with AsyncLocalPipelineStore(tmp_path) as store:
        await store.upload(icu_windows(stays=2, hours=2), "a")
        await store.copy("a", "b")
        assert (tmp_path / "a.parquet").stat().st_ino == (tmp_path / "b.parquet").stat().st_ino
        replacement = icu_windows(stays=3, hours=2)
        await store.upload(replacement, "a")  # a write replaces the file: the copy keeps the old version
        pd.testing.assert_frame_equal(await store.download("b"), icu_windows(stays=2, hours=2))

