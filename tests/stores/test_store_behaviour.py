"""Behaviour every store shares (local, S3, GCS), run once per backend against real local servers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ConfigurationError,
    IntegrityError,
    SerializationError,
    StorageFormat,
    TransferConfig,
)
from tests.support.frames import hourly_series, icu_windows, wide_frame

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.store_envs import StoreEnv


async def test_round_trip_is_exact_and_uri_follows_original_layout(store_env: StoreEnv) -> None:
    df = icu_windows()
    async with store_env.make("clinops/prod/v2/") as store:
        uri = await store.upload(df, "features/windows_2024_01")
        assert uri.endswith("clinops/prod/v2/features/windows_2024_01.parquet")
        if store_env.scheme != "file":
            assert uri == f"{store_env.scheme}://{store_env.bucket}/clinops/prod/v2/features/windows_2024_01.parquet"
        out = await store.download("features/windows_2024_01")
    pd.testing.assert_frame_equal(out, df)


async def test_datetime_index_frequency_survives(store_env: StoreEnv) -> None:
    df = hourly_series()
    async with store_env.make() as store:
        await store.upload(df, "series")
        out = await store.download("series")
    pd.testing.assert_frame_equal(out, df)
    assert isinstance(out.index, pd.DatetimeIndex) and out.index.freqstr == "h"


async def test_csv_format_uses_csv_extension_and_round_trips_values(store_env: StoreEnv) -> None:
    df = pd.DataFrame({"subject_id": [10000001, 10000002], "heart_rate": [80.5, 91.0]})
    async with store_env.make("p", format=StorageFormat.CSV) as store:
        uri = await store.upload(df, "vitals")
        assert uri.endswith("p/vitals.csv")
        assert "p/vitals.csv" in store_env.keys()
        pd.testing.assert_frame_equal(await store.download("vitals"), df)
        assert await store.list_artifacts() == ["vitals"]


@pytest.mark.parametrize("size", ["small", pytest.param("ranged", marks=pytest.mark.slow)])
async def test_downloaded_frames_can_be_changed_in_place(store_env: StoreEnv, size: str) -> None:
    # Arrow hands some columns to pandas without a copy, as read-only views; a user who sets a cell
    # or adds to a column in place must not get "assignment destination is read-only".
    rows = 6 if size == "small" else 400_000  # the larger one arrives in ranged reads where it can
    df = pd.DataFrame({
        "hr": np.linspace(60, 90, rows), "n": np.arange(rows), "flag": pd.array([True, None] * (rows // 2)),
        "site": pd.Categorical(["icu", "ward"] * (rows // 2)), "lab": pd.array([1, None] * (rows // 2), dtype="Int64"),
        "ts": pd.date_range("2024-01-01", periods=rows, freq="s", tz="UTC"),
    })
    async with store_env.make() as store:
        await store.upload(df, "editable")
        got = await store.download("editable")
    got.loc[0, "hr"] = 1.5
    got.loc[1, "n"] = -1
    got.loc[0, "flag"] = False
    got.loc[0, "site"] = "ward"
    got.loc[0, "lab"] = 7
    got.loc[0, "ts"] = pd.Timestamp("2020-01-01", tz="UTC")
    got["hr"] += 1
    assert got.loc[0, "hr"] == 2.5 and got.loc[1, "n"] == -1 and got.loc[0, "lab"] == 7
    assert got.loc[0, "site"] == "ward" and not got.loc[0, "flag"]
    pd.testing.assert_frame_equal(got.iloc[2:].assign(hr=got["hr"].iloc[2:] - 1), df.iloc[2:])


async def test_list_artifacts_returns_sorted_relative_names(store_env: StoreEnv) -> None:
    df = pd.DataFrame({"a": [1]})
    async with store_env.make("clinops/prod") as store:
        for name in ["features/b", "features/a", "labels/x", "features/sub/c"]:
            await store.upload(df, name)
        store_env.put_bytes("clinops/prod/features/notes.txt", b"not an artifact")
        store_env.put_bytes("clinops/production/features/z.parquet", b"other prefix")
        assert await store.list_artifacts("features/") == ["features/a", "features/b", "features/sub/c"]
        assert await store.list_artifacts() == ["features/a", "features/b", "features/sub/c", "labels/x"]
        assert await store.list_artifacts("feat") == ["features/a", "features/b", "features/sub/c"]
        for name in await store.list_artifacts():
            assert (await store.download(name)).equals(df)


@pytest.mark.slow  # 1,050 artifacts, to cross the 1,000-key page
async def test_list_artifacts_reads_every_page(store_env: StoreEnv) -> None:
    df = pd.DataFrame({"a": [1]})
    async with store_env.make("many") as store:
        result = await store.upload_many({f"item/{i:04d}": df for i in range(1_050)})
        assert result.ok
        names = await store.list_artifacts("item/")
    assert names == [f"item/{i:04d}" for i in range(1_050)]


async def test_exists_info_delete(store_env: StoreEnv) -> None:
    df = icu_windows(stays=2, hours=3)
    async with store_env.make("p") as store:
        assert not await store.exists("a")
        await store.upload(df, "a")
        assert await store.exists("a")
        info = await store.info("a")
        assert (info.name, info.rows, info.columns) == ("a", 6, df.shape[1])
        assert info.size == len(store_env.get_bytes("p/a.parquet"))
        assert info.last_modified is not None and info.last_modified.tzinfo is not None
        await store.delete("a")
        assert not await store.exists("a")
        with pytest.raises(ArtifactNotFoundError):
            await store.delete("a")
        await store.delete("a", missing_ok=True)
        with pytest.raises(ArtifactNotFoundError):
            await store.info("a")


async def test_missing_artifact_raises_not_found_naming_it(store_env: StoreEnv) -> None:
    async with store_env.make("p") as store:
        with pytest.raises(ArtifactNotFoundError) as caught:
            await store.download("nope")
    assert caught.value.uri is not None and caught.value.uri.endswith("p/nope.parquet")
    assert isinstance(caught.value, FileNotFoundError)


async def test_overwrite_false_never_replaces(store_env: StoreEnv) -> None:
    first, second = pd.DataFrame({"v": [1]}), pd.DataFrame({"v": [2]})
    async with store_env.make() as store:
        await store.upload(first, "x", overwrite=False)
        with pytest.raises(ArtifactExistsError):
            await store.upload(second, "x", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("x"), first)
        await store.upload(second, "x")
        pd.testing.assert_frame_equal(await store.download("x"), second)


@pytest.mark.parametrize(
    "name",
    ["", "/abs", "a/../b", "..", "a//b", "a/", "back\\slash", "ctrl\x00char", "tab\tname", "./a", "é" * 600],
)
async def test_invalid_names_rejected_before_any_io(store_env: StoreEnv, name: str) -> None:
    async with store_env.make("p") as store:
        before = store_env.keys()
        with pytest.raises(ConfigurationError):
            await store.upload(pd.DataFrame({"a": [1]}), name)
        with pytest.raises(ConfigurationError):
            await store.download(name)
        with pytest.raises(ConfigurationError):
            await store.exists(name)
        assert store_env.keys() == before


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({1: [1.0], "b": [2.0]}),
        pd.DataFrame([[1, 2]], columns=["a", "a"]),
        pd.DataFrame({"mixed": [1, "x", 2.5]}),
        "not a frame",
    ],
    ids=["non-string-column", "duplicate-columns", "mixed-object-column", "not-a-frame"],
)
async def test_unencodable_frames_raise_serialization_error_and_keep_previous(
    store_env: StoreEnv, frame: object
) -> None:
    good = pd.DataFrame({"a": [1.0]})
    async with store_env.make() as store:
        await store.upload(good, "x")
        before = store_env.get_bytes("x.parquet")
        with pytest.raises(SerializationError) as caught:
            await store.upload(frame, "x")
        assert "secret" not in str(caught.value)
        assert store_env.get_bytes("x.parquet") == before


#: Dtypes Parquet alone would change on the way back; each must come back exactly.
EXACT_DTYPES = {
    "integer categories": pd.Categorical([3, 1, 3], categories=[3, 1, 7], ordered=True),
    "float categories": pd.Categorical([1.5, None, 2.5]),
    "bool categories": pd.Categorical([True, False, True]),
    "zoned timestamp categories": pd.Categorical(
        pd.DatetimeIndex(["2024-01-01", "2024-01-02", "2024-01-01"]).tz_localize("Europe/Oslo")
    ),
    "seconds": pd.to_datetime(pd.Series(["2024-01-01 10:00:01", None, "2024-01-02 00:00:00"])).astype(
        "datetime64[s]"
    ),
    "zoned seconds": pd.Series(pd.to_datetime(["2024-01-01 10:00:01"] * 3)).dt.tz_localize("UTC").astype(
        "datetime64[s, UTC]"
    ),
    "milliseconds": pd.Series(pd.to_datetime(["2024-01-01 10:00:01.500"] * 3)).astype("datetime64[ms]"),
}


@pytest.mark.parametrize("kind", list(EXACT_DTYPES))
async def test_dtypes_parquet_would_change_come_back_exactly(store_env: StoreEnv, kind: str) -> None:
    df = pd.DataFrame({"v": EXACT_DTYPES[kind]}, index=pd.DatetimeIndex(
        ["2024-01-01 00:00:00", "2024-01-01 00:00:01", "2024-01-01 00:00:02"]
    ).as_unit("s"))
    async with store_env.make() as store:
        await store.upload(df, "exact")
        out = await store.download("exact")
    pd.testing.assert_frame_equal(out, df, check_exact=True)
    assert out["v"].dtype == df["v"].dtype and out.index.dtype == df.index.dtype


#: Frames Parquet would change without an error, refused before any byte is written.
REFUSED = {
    "bytes beside str": (pd.DataFrame({"v": pd.Series([b"\x00raw", "text"], dtype=object)}), "mixes bytes and str"),
    "a lone surrogate": (pd.DataFrame({"v": pd.Series(["ok", "bad\ud800"], dtype=object)}), "not valid Unicode"),
    "a sparse column": (pd.DataFrame({"v": pd.arrays.SparseArray([0, 0, 1])}), "sparse"),
    "complex numbers": (pd.DataFrame({"v": [1 + 2j]}), "type complex, which Parquet cannot store"),
}


@pytest.mark.parametrize("kind", list(REFUSED))
async def test_frames_parquet_would_change_are_refused_before_any_write(store_env: StoreEnv, kind: str) -> None:
    frame, says = REFUSED[kind]
    async with store_env.make() as store:
        with pytest.raises(SerializationError, match=says):
            await store.upload(frame, "refused")
    assert store_env.keys() == []


async def test_serialization_error_never_quotes_values(store_env: StoreEnv) -> None:
    frame = pd.DataFrame({"note": [1, "SYNTHETIC-PATIENT-NAME", 2.5]})
    async with store_env.make() as store:
        with pytest.raises(SerializationError) as caught:
            await store.upload(frame, "x")
    assert "SYNTHETIC-PATIENT-NAME" not in str(caught.value)
    assert "note" in str(caught.value)


async def test_column_projection(store_env: StoreEnv) -> None:
    df = icu_windows()
    async with store_env.make() as store:
        await store.upload(df, "w")
        out = await store.download("w", columns=["heart_rate", "care_unit"])
        pd.testing.assert_frame_equal(out, df[["heart_rate", "care_unit"]])
        with pytest.raises(ConfigurationError):
            await store.download("w", columns=["no_such_column"])


async def test_corrupted_bytes_raise_integrity_error(store_env: StoreEnv) -> None:
    # Cloud stores check the CRC32C recorded at upload; the local store relies on Parquet page CRCs.
    df = wide_frame(2_000, 5)
    async with store_env.make() as store:
        await store.upload(df, "x")
        data = bytearray(store_env.get_bytes("x.parquet"))
        data[len(data) // 2] ^= 0xFF
        store_env.put_bytes("x.parquet", bytes(data), store_env.metadata("x.parquet"))
        with pytest.raises(IntegrityError):
            await store.download("x")


async def test_bulk_results_are_per_item(store_env: StoreEnv) -> None:
    frames = {f"batch/{i}": icu_windows(stays=1, hours=2, seed=i) for i in range(20)}
    frames_with_bad = {**frames, "batch/bad": pd.DataFrame({"m": [1, "x"]})}
    seen: list[tuple[str, int, int | None]] = []
    async with store_env.make() as store:
        result = await store.upload_many(
            frames_with_bad, concurrency=4, progress=lambda o, done, total: seen.append((o.name, done, total))
        )
        assert len(result) == 21 and not result.ok
        assert [o.name for o in result.failed] == ["batch/bad"]
        assert isinstance(result.failed[0].error, SerializationError)
        assert sorted(n for n, _, _ in seen) == sorted(frames_with_bad)
        assert [d for _, d, _ in seen] == list(range(1, 22))
        down = await store.download_many([*frames, "batch/missing"], concurrency=4)
        assert [o.name for o in down.failed] == ["batch/missing"]
        assert isinstance(down.failed[0].error, ArtifactNotFoundError)
        for name, df in frames.items():
            pd.testing.assert_frame_equal(down.values[name], df)
        with pytest.raises(ExceptionGroup):
            down.raise_for_errors()


async def test_bulk_rejects_invalid_names_before_any_io(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError):
            await store.upload_many({"ok": pd.DataFrame({"a": [1]}), "../bad": pd.DataFrame({"a": [1]})})
        assert store_env.keys() == []
        with pytest.raises(ConfigurationError):
            await store.upload_many({"ok": pd.DataFrame({"a": [1]})}, concurrency=0)


async def test_multipart_path_round_trips(store_env: StoreEnv) -> None:
    mib = 1024 * 1024
    df = wide_frame(120_000, 20)  # ~19 MB of Parquet
    transfer = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=4)
    async with store_env.make(transfer=transfer) as store:
        await store.upload(df, "big")
        pd.testing.assert_frame_equal(await store.download("big"), df)
        assert (await store.info("big")).rows == 120_000
    assert store_env.incomplete_uploads() == 0


async def test_use_after_close_is_a_runtime_error(store_env: StoreEnv) -> None:
    store = store_env.make()
    async with store:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await store.exists("x")


async def test_concurrent_writers_exactly_one_wins_without_overwrite(store_env: StoreEnv) -> None:
    import asyncio

    frames = [pd.DataFrame({"writer": [i] * 100}) for i in range(8)]
    async with store_env.make() as store:
        results = await asyncio.gather(
            *(store.upload(df, "contested", overwrite=False) for df in frames), return_exceptions=True
        )
        winners = [i for i, r in enumerate(results) if isinstance(r, str)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ArtifactExistsError) for i, r in enumerate(results) if i != winners[0])
        pd.testing.assert_frame_equal(await store.download("contested"), frames[winners[0]])


async def test_concurrent_writers_leave_one_whole_artifact(store_env: StoreEnv) -> None:
    import asyncio

    frames = [wide_frame(2_000, 10, seed=i) for i in range(6)]
    async with store_env.make() as store:
        await asyncio.gather(*(store.upload(df, "shared") for df in frames))
        out = await store.download("shared")
    assert any(out.equals(df) for df in frames)


async def test_byte_progress_reaches_the_total_in_both_directions(store_env: StoreEnv) -> None:
    mib = 1024 * 1024
    transfer = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=2)
    df = wide_frame(120_000, 20)
    ups: list[tuple[int, int]] = []
    downs: list[tuple[int, int]] = []
    async with store_env.make(transfer=transfer) as store:
        await store.upload(df, "p", progress=lambda done, total: ups.append((done, total)))
        size = (await store.info("p")).size
        await store.download("p", progress=lambda done, total: downs.append((done, total)))
        with pytest.raises(ConfigurationError):
            await store.upload(df, "q", progress="not callable")  # type: ignore[arg-type]
    for events in (ups, downs):
        assert events[0][0] == 0 and events[-1] == (size, size)
        assert [d for d, _ in events] == sorted(d for d, _ in events)
        assert all(d <= t for d, t in events)
    # A download knows its total from the first answer; an upload encoded while it is sent reports
    # the frame's size in memory until the encoder is done.
    assert {t for _, t in downs} == {size}
    assert len({t for _, t in ups}) <= 2


async def test_projection_of_a_large_artifact(store_env: StoreEnv) -> None:
    df = wide_frame(20_000, 100)  # ~16 MB: large enough for ranged projection where the backend has it
    wanted = ["f0001", "f0050", "f0099"]
    async with store_env.make() as store:
        await store.upload(df, "wide")
        pd.testing.assert_frame_equal(await store.download("wide", columns=wanted), df[wanted])
        pd.testing.assert_frame_equal(await store.download("wide", columns=[]), df[[]])


async def test_upload_many_consumes_an_iterator_lazily(store_env: StoreEnv) -> None:
    pulled = 0
    in_flight_max = 0

    def frames() -> Iterator[tuple[str, pd.DataFrame]]:
        nonlocal pulled
        for i in range(30):
            pulled += 1
            yield f"lazy/{i:02d}", icu_windows(stays=1, hours=3, seed=i)
        yield "../bad", pd.DataFrame({"a": [1]})
        yield "lazy/00", pd.DataFrame({"a": [1]})

    def progress(outcome: object, done: int, total: int | None) -> None:
        nonlocal in_flight_max
        assert total is None
        in_flight_max = max(in_flight_max, pulled - done)

    async with store_env.make() as store:
        result = await store.upload_many(frames(), concurrency=3, progress=progress)
        assert [o.name for o in result.failed] == ["../bad", "lazy/00"]
        assert all(isinstance(o.error, ConfigurationError) for o in result.failed)
        assert len(result.succeeded) == 30
        assert await store.list_artifacts("lazy/") == [f"lazy/{i:02d}" for i in range(30)]
    assert in_flight_max <= 3 + 1


def long_mixed_frame(rows: int) -> pd.DataFrame:
    """More rows than one Parquet row group holds (1,048,576), with the dtypes that must survive."""
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "heart_rate": rng.integers(40, 160, rows).astype("float64"),
        "subject_id": pd.array(rng.integers(0, 500, rows), dtype="Int64"),
        "unit": pd.Categorical(rng.choice(["icu", "ward"], rows)),
        "charted": pd.date_range("2024-01-01", periods=rows, freq="s", tz="UTC"),
    })


async def test_large_artifact_of_several_row_groups_arrives_exactly(store_env: StoreEnv) -> None:
    # Received in ranges into one buffer and decoded a few columns at a time, each column's bytes
    # handed back as soon as it is decoded: the frame must not notice.
    mib = 1024 * 1024
    df = long_mixed_frame(1_100_000)
    transfer = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=4)
    async with store_env.make(transfer=transfer) as store:
        await store.upload(df, "long")
        stored = pq.ParquetFile(pa.BufferReader(store_env.get_bytes("long.parquet"))).metadata
        assert stored.num_row_groups > 1 and (await store.info("long")).size > 5 * mib
        got = await store.download("long")
    # pandas compares a long categorical value by value (half a minute): compare its codes instead.
    pd.testing.assert_frame_equal(got.drop(columns="unit"), df.drop(columns="unit"))
    assert got["unit"].dtype == df["unit"].dtype
    assert np.array_equal(got["unit"].cat.codes.to_numpy(), df["unit"].cat.codes.to_numpy())


async def test_a_damaged_byte_in_a_large_artifact_returns_nothing(store_env: StoreEnv) -> None:
    mib = 1024 * 1024
    df = wide_frame(120_000, 20)  # ~19 MB of Parquet, received as four ranges
    transfer = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=4)
    async with store_env.make(transfer=transfer) as store:
        await store.upload(df, "big")
        data = bytearray(store_env.get_bytes("big.parquet"))
        data[len(data) * 3 // 4] ^= 0x01
        store_env.put_bytes("big.parquet", bytes(data), store_env.metadata("big.parquet"))
        with pytest.raises(IntegrityError):
            await store.download("big")
