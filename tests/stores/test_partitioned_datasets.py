"""Hive-partitioned datasets on every store: layout, pruning, other tools' datasets, modes, bad input."""

from __future__ import annotations

import datetime as dt
import io
import pickle
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from clinops_async import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    AsyncLocalPipelineStore,
    AsyncS3PipelineStore,
    ConfigurationError,
    LocalPipelineStore,
    SerializationError,
    StorageFormat,
    StoreError,
)

if TYPE_CHECKING:
    from pathlib import Path

    from clinops_async._stores.core import AsyncPipelineStore
    from tests.support.store_envs import StoreEnv

SITES = ["site-a", "site-b", "site-c"]
MONTHS = [f"2024-{m:02d}" for m in range(1, 7)]


def cohort(rows_per_partition: int = 200, seed: int = 3, months: list[str] = MONTHS) -> pa.Table:
    """Synthetic vitals of 3 sites x 6 months, sorted by age within each partition."""
    rng = np.random.default_rng(seed)
    parts = []
    for site in SITES:
        for month in months:
            n = rows_per_partition
            parts.append(pa.table({
                "subject_id": pa.array(rng.integers(10_000_000, 19_999_999, n), pa.int64()),
                "age": pa.array(np.sort(rng.integers(18, 95, n)), pa.int16()),
                "heart_rate": pa.array(rng.normal(82, 12, n)),
                "lactate": pa.array(rng.gamma(2.0, 1.0, n)),
                "site": pa.array([site] * n),
                "month": pa.array([month] * n),
            }))
    return pa.concat_tables(parts)


def sort(table: pa.Table) -> pa.Table:
    return table.sort_by([("site", "ascending"), ("month", "ascending"), ("subject_id", "ascending")])


def data_keys(env: StoreEnv, name: str) -> list[str]:
    return [k for k in env.keys() if k.startswith(name + "/")]


def mirror_to_disk(env: StoreEnv, prefix: str, target: Path) -> Path:
    """The stored files under ``prefix``, copied byte for byte into ``target`` (for other tools)."""
    for key in env.keys():
        if key.startswith(prefix + "/"):
            path = target / key[len(prefix) + 1 :]
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(env.get_bytes(key))
    return target


def upload_dir(env: StoreEnv, source: Path, prefix: str) -> None:
    """Every file under ``source`` stored under ``prefix``, bypassing the library."""
    for path in sorted(source.rglob("*")):
        if path.is_file():
            env.put_bytes(f"{prefix}/{path.relative_to(source).as_posix()}", path.read_bytes())


async def test_a_dataset_is_written_as_hive_fragments_and_read_back_equal(store_env: StoreEnv) -> None:
    table = cohort()
    async with store_env.make("p") as store:
        uris = await store.write_dataset(table, "cohorts/vitals", partition_cols=["site", "month"])
        back = await store.read_dataset("cohorts/vitals", result_type="arrow")
        frame = await store.read_dataset("cohorts/vitals")
        polars_back = await store.read_dataset("cohorts/vitals", result_type="polars")
    assert len(uris) == 18
    keys = data_keys(store_env, "p/cohorts/vitals")
    assert len(keys) == 18
    assert all(k.startswith("p/cohorts/vitals/site=site-") and "/month=2024-0" in k for k in keys)
    assert keys[0].rsplit("/", 1)[1].startswith("part-") and keys[0].endswith(".parquet")
    expected = table.select(["subject_id", "age", "heart_rate", "lactate", "site", "month"])
    assert sort(back).equals(sort(expected))
    assert back.schema.field("site").type == pa.string()
    pd.testing.assert_frame_equal(
        frame.sort_values(["site", "month", "subject_id"]).reset_index(drop=True),
        sort(expected).to_pandas(),
    )
    assert polars_back.sort(["site", "month", "subject_id"]).equals(pl.DataFrame(sort(expected)))


async def test_partition_columns_keep_their_types(store_env: StoreEnv) -> None:
    table = pa.table({
        "year": pa.array([2023, 2024, 2024], pa.int16()),
        "day": pa.array([dt.date(2024, 1, 1), dt.date(2024, 1, 2), dt.date(2024, 1, 2)]),
        "ward": pa.array(["icu", "er", "icu"], pa.large_string()),
        "hr": [80.0, 90.0, 100.0],
    })
    async with store_env.make() as store:
        await store.write_dataset(table, "typed", partition_cols=["year", "day", "ward"])
        back = await store.read_dataset("typed", result_type="arrow", filters=[("day", ">=", dt.date(2024, 1, 2))])
    assert back.schema.equals(pa.schema([("hr", pa.float64()), *[(f.name, f.type) for f in table.schema][:3]]))
    assert sorted(back.column("hr").to_pylist()) == [90.0, 100.0]


async def test_filters_prune_partitions_and_move_only_needed_columns(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=40_000)
    async with store_env.make() as store:
        await store.write_dataset(table, "big", partition_cols=["site", "month"])
        moved: list[int] = []
        everything = await store.read_dataset("big", result_type="arrow", progress=lambda done, _: moved.append(done))
        whole = moved[-1]
        moved.clear()
        filters = (pc.field("site") == "site-b") & (pc.field("month").isin(MONTHS[:2])) & (pc.field("age") > 65)
        some = await store.read_dataset(
            "big", columns=["subject_id", "heart_rate", "site"], filters=filters, result_type="arrow",
            progress=lambda done, _: moved.append(done),
        )
    expected = everything.filter(filters).select(["subject_id", "heart_rate", "site"])
    assert sort(some.append_column("month", pa.array(["x"] * some.num_rows))).drop_columns(["month"]).num_rows > 0
    assert some.sort_by("subject_id").equals(expected.sort_by("subject_id"))
    # 2 of 18 fragments survive the partition pruning: far fewer bytes move than for the whole.
    assert moved[-1] < whole * 2 / 18 * 1.05
    if store_env.name != "local":  # ranged reads: of those two, mostly 2 of 4 columns, older rows only
        assert moved[-1] < whole * 2 / 18 * 0.75


@pytest.mark.parametrize("store_env", ["s3", "seaweedfs"], indirect=True)  # it counts botocore's requests
async def test_on_s3_a_fragment_costs_one_footer_request_then_its_chunks(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        await store.write_dataset(cohort(rows_per_partition=40_000), "big", partition_cols=["site", "month"])
        client = (await store._ready()).client  # type: ignore[attr-defined]
        ranges: list[str] = []
        client.meta.events.register(
            "provide-client-params.s3.GetObject", lambda params, **_: ranges.append(params.get("Range", "whole"))
        )
        filters = (pc.field("site") == "site-b") & pc.field("month").isin(MONTHS[:2])
        back = await store.read_dataset("big", columns=["subject_id", "lactate"], filters=filters, result_type="arrow")
    assert back.num_rows == 2 * 40_000
    # The first file's footer (the schema), then per surviving fragment its footer and one range per
    # column (heart_rate lies between them): no first read to learn a size the listing gave.
    assert len(ranges) == 1 + 2 + 2 * 2, ranges
    assert not [r for r in ranges if r.startswith("bytes=0-") or r == "whole"], ranges


@pytest.mark.parametrize("writer", ["pyarrow", "polars"])
async def test_datasets_other_tools_wrote_read_back_equal(store_env: StoreEnv, writer: str, tmp_path: Path) -> None:
    table = cohort(rows_per_partition=50).select(["subject_id", "age", "heart_rate", "site", "month"])
    source = tmp_path / writer
    if writer == "pyarrow":
        ds.write_dataset(table, source, format="parquet", partitioning=["site", "month"], partitioning_flavor="hive")
    else:
        pl.from_arrow(table).write_parquet(source, partition_by=["site", "month"])  # type: ignore[union-attr]
    upload_dir(store_env, source, f"foreign/{writer}")
    async with store_env.make("foreign") as store:
        back = await store.read_dataset(writer, result_type="arrow")
        filtered = await store.read_dataset(writer, columns=["age", "site"], filters=[("site", "=", "site-c")])
    back = back.select(table.column_names)
    assert sort(back.cast(table.schema)).equals(sort(table))
    expected = table.filter(pc.field("site") == "site-c").select(["age", "site"]).to_pandas()
    assert sorted(filtered["age"].tolist()) == sorted(expected["age"].tolist())
    assert set(filtered["site"]) == {"site-c"}


async def test_our_datasets_read_back_equal_in_pyarrow_and_polars(store_env: StoreEnv, tmp_path: Path) -> None:
    table = cohort(rows_per_partition=50)
    async with store_env.make("p") as store:
        await store.write_dataset(table, "vitals", partition_cols=["site", "month"])
    root = mirror_to_disk(store_env, "p/vitals", tmp_path / "vitals")
    schema = pa.schema([table.schema.field(c) for c in ("site", "month")])
    by_pyarrow = ds.dataset(root, format="parquet", partitioning=ds.partitioning(schema, flavor="hive")).to_table()
    assert sort(by_pyarrow.select(table.column_names)).equals(sort(table))
    by_polars = pl.scan_parquet(root, hive_partitioning=True).collect()
    assert by_polars.sort(["site", "month", "subject_id"]).select(table.column_names).equals(
        pl.DataFrame(sort(table))
    )


async def test_modes_error_append_overwrite_and_overwrite_partitions(store_env: StoreEnv) -> None:
    first = cohort(rows_per_partition=20, seed=1)
    async with store_env.make() as store:
        await store.write_dataset(first, "d", partition_cols=["site", "month"])
        before = data_keys(store_env, "d")
        with pytest.raises(ArtifactExistsError, match="mode='append'"):
            await store.write_dataset(first, "d", partition_cols=["site", "month"])
        assert data_keys(store_env, "d") == before
        await store.write_dataset(first, "d", partition_cols=["site", "month"], mode="append")
        assert (await store.read_dataset("d", result_type="arrow")).num_rows == 2 * first.num_rows
        january = cohort(rows_per_partition=5, seed=2, months=["2024-01"])
        await store.write_dataset(january, "d", partition_cols=["site", "month"], mode="overwrite_partitions")
        back = await store.read_dataset("d", result_type="arrow")
        assert back.filter(pc.field("month") == "2024-01").num_rows == january.num_rows
        assert back.filter(pc.field("month") == "2024-02").num_rows == 2 * 3 * 20
        await store.write_dataset(january, "d", partition_cols=["site", "month"], mode="overwrite")
        assert sort(await store.read_dataset("d", result_type="arrow")).equals(sort(january.select(back.column_names)))
        assert len(data_keys(store_env, "d")) == 3


@pytest.mark.parametrize("mode", ["overwrite", "overwrite_partitions"])
async def test_an_overwrite_stores_the_new_fragments_before_it_removes_the_old(
    store_env: StoreEnv, mode: Literal["overwrite", "overwrite_partitions"]
) -> None:
    old = cohort(rows_per_partition=10, seed=1, months=["2024-01"])
    new = cohort(rows_per_partition=7, seed=2, months=["2024-01"])
    seen: list[list[str]] = []
    async with store_env.make() as store:
        await store.write_dataset(old, "d", partition_cols=["site", "month"])
        old_keys = data_keys(store_env, "d")

        def progress(outcome: Any, done: int, total: int | None) -> None:
            if done == total:  # every new fragment is stored; the cleanup has not started
                seen.append(data_keys(store_env, "d"))

        await store.write_dataset(new, "d", partition_cols=["site", "month"], mode=mode, progress=progress)
        back = await store.read_dataset("d", result_type="arrow")
    # Between the write and the cleanup, a reader sees the old fragments and the new ones.
    assert set(old_keys) < set(seen[0]) and len(seen[0]) == 2 * len(old_keys)
    assert not set(old_keys) & set(data_keys(store_env, "d"))
    assert back.num_rows == new.num_rows


async def test_a_read_in_the_overwrite_window_sees_old_and_new_rows(tmp_path: Path) -> None:
    old = cohort(rows_per_partition=10, seed=1, months=["2024-01"])
    new = cohort(rows_per_partition=7, seed=2, months=["2024-01"])
    rows: list[int] = []
    async with AsyncLocalPipelineStore(tmp_path) as store:
        await store.write_dataset(old, "d", partition_cols=["site", "month"])

        def progress(outcome: Any, done: int, total: int | None) -> None:
            if done == total:  # another reader (pyarrow) between the write and the cleanup
                rows.append(ds.dataset(tmp_path / "d", format="parquet", partitioning="hive").count_rows())

        await store.write_dataset(new, "d", partition_cols=["site", "month"], mode="overwrite", progress=progress)
        assert (await store.read_dataset("d", result_type="arrow")).num_rows == new.num_rows
    assert rows == [old.num_rows + new.num_rows]


def _bad(column: str, values: list[Any]) -> pa.Table:
    return pa.table({column: values, "x": list(range(len(values)))})


@pytest.mark.parametrize(
    ("data", "partition_cols", "match"),
    [
        (_bad("site", ["a", "b"]), ["ward"], "not in the data"),
        (_bad("site", ["a", "b/c"]), ["site"], "'/'"),
        (_bad("site", ["a", "b=c"]), ["site"], "'='"),
        (_bad("site", ["a", ""]), ["site"], "empty strings"),
        (_bad("site", ["a", None]), ["site"], "null"),
        (_bad("site", [1.5, 2.5]), ["site"], "strings, integers or dates"),
        (_bad("site", ["a", "b"]), "site", "list of column names"),
        (_bad("site", ["a", "b"]), ["site", "site"], "twice"),
        (_bad("site", ["a", "b"]), ["site", "x"], "at least one column"),
    ],
)
async def test_bad_partitions_are_refused_before_any_byte(
    store_env: StoreEnv, data: pa.Table, partition_cols: Any, match: str
) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match=match):
            await store.write_dataset(data, "d", partition_cols=partition_cols)
    assert store_env.keys() == []


async def test_bad_options_and_append_schema_are_refused_before_any_byte(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=5, months=["2024-01"])
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match="mode must be"):
            await store.write_dataset(table, "d", partition_cols=["site"], mode="replace")  # type: ignore[arg-type]
        with pytest.raises(SerializationError):
            await store.write_dataset([1, 2], "d")
        await store.write_dataset(table, "d", partition_cols=["site", "month"])
        before = {k: store_env.get_bytes(k) for k in data_keys(store_env, "d")}
        for bad, match in [
            (table.drop_columns(["lactate"]), "schema differs"),
            (table.set_column(1, "age", table.column("age").cast(pa.int64())), "schema differs"),
        ]:
            for mode in ("append", "overwrite_partitions"):  # type: Literal["append", "overwrite_partitions"]
                with pytest.raises(ConfigurationError, match=match):
                    await store.write_dataset(bad, "d", partition_cols=["site", "month"], mode=mode)
        with pytest.raises(ConfigurationError, match="partitioned by"):
            await store.write_dataset(table, "d", partition_cols=["site"], mode="append")
        assert {k: store_env.get_bytes(k) for k in data_keys(store_env, "d")} == before
        with pytest.raises(ConfigurationError, match="not in the dataset"):
            await store.read_dataset("d", columns=["weight"])
        with pytest.raises(ConfigurationError, match="does not apply"):
            await store.read_dataset("d", filters=[("weight", ">", 100)])
        with pytest.raises(ConfigurationError, match="does not apply"):
            await store.read_dataset("d", filters=[("age", ">", "old")])
        with pytest.raises(ConfigurationError, match="filters must be"):
            await store.read_dataset("d", filters="age > 3")
        with pytest.raises(ArtifactNotFoundError):
            await store.read_dataset("nothing")


async def test_csv_stores_refuse_datasets(store_env: StoreEnv) -> None:
    async with store_env.make(format=StorageFormat.CSV) as store:
        with pytest.raises(ConfigurationError, match="Parquet"):
            await store.write_dataset(cohort(rows_per_partition=2), "d", partition_cols=["site"])


@pytest.mark.parametrize("damage", ["not-parquet", "truncated"])
async def test_an_unreadable_file_in_a_foreign_dataset_is_named(store_env: StoreEnv, damage: str) -> None:
    table = cohort(rows_per_partition=20, months=["2024-01"]).drop_columns(["month"])
    for site in SITES:
        buffer = io.BytesIO()
        pq.write_table(table.filter(pc.field("site") == site).drop_columns(["site"]), buffer)
        store_env.put_bytes(f"ext/site={site}/part-0.parquet", buffer.getvalue())
    broken = b"subject_id,age\n1,2\n" if damage == "not-parquet" else buffer.getvalue()[:-100]
    store_env.put_bytes("ext/site=site-b/part-1.parquet", broken)
    async with store_env.make() as store:
        with pytest.raises(SerializationError, match=r"site(=|%3D)site-b/part-1\.parquet"):
            await store.read_dataset("ext")
        # Pruned away by the filter, the broken file is not read.
        rows = await store.read_dataset("ext", filters=[("site", "=", "site-a")], result_type="arrow")
    assert rows.num_rows == 20


async def test_exists_delete_and_batches(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=30, months=MONTHS[:2])
    async with store_env.make() as store:
        assert not await store.dataset_exists("d")
        await store.write_dataset(table, "d", partition_cols=["site", "month"])
        assert await store.dataset_exists("d")
        batches = [b async for b in store.iter_dataset_batches("d", filters=[("site", "=", "site-a")], batch_rows=25)]
        assert [len(b) for b in batches] == [25, 5, 25, 5]
        arrow = [b async for b in store.iter_dataset_batches("d", columns=["age"], result_type="arrow")]
        assert sum(b.num_rows for b in arrow) == table.num_rows and arrow[0].schema.names == ["age"]
        await store.delete_dataset("d")
        assert not await store.dataset_exists("d")
        with pytest.raises(ArtifactNotFoundError):
            await store.delete_dataset("d")
        await store.delete_dataset("d", missing_ok=True)
    assert store_env.keys() == []


async def test_a_store_pickles_as_its_configuration(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=5, months=["2024-01"])
    async with store_env.make("p") as store:
        await store.write_dataset(table, "d", partition_cols=["site"])
        data = pickle.dumps(store)
        clone: AsyncPipelineStore = pickle.loads(data)
    assert repr(clone) == repr(store) and clone is not store
    assert b"testing" not in data  # the test credentials live in the environment, never in the pickle
    async with clone:
        assert (await clone.read_dataset("d", result_type="arrow")).num_rows == table.num_rows


def test_a_store_given_credentials_in_code_refuses_to_pickle() -> None:
    store = AsyncS3PipelineStore(
        "bucket", aws_access_key_id="AKIDSYNTHETIC", aws_secret_access_key="synthetic-secret-value"
    )
    with pytest.raises(ConfigurationError, match="does not pickle") as caught:
        pickle.dumps(store)
    assert "synthetic-secret-value" not in str(caught.value)


async def test_a_failed_write_removes_what_it_stored_and_keeps_the_old_data(tmp_path: Path) -> None:
    table = cohort(rows_per_partition=5, months=["2024-01"])
    blocker = tmp_path / "d" / "site=site-b"
    blocker.parent.mkdir(parents=True)
    blocker.write_bytes(b"a file where the write needs a directory")
    async with AsyncLocalPipelineStore(tmp_path) as store:
        with pytest.raises(StoreError):
            await store.write_dataset(table, "d", partition_cols=["site", "month"], mode="overwrite")
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == ["d/site=site-b"]


async def test_pandas_and_polars_data_are_written_as_datasets(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=10, months=MONTHS[:2])
    frame = table.to_pandas()
    async with store_env.make() as store:
        await store.write_dataset(frame.set_index("subject_id"), "from_pandas", partition_cols=["site"])
        await store.write_dataset(pl.DataFrame(table), "from_polars", partition_cols=["month", "site"])
        from_pandas = await store.read_dataset("from_pandas", filters=[("site", "!=", "site-a")])
        from_polars = await store.read_dataset("from_polars", result_type="polars")
    assert "subject_id" not in from_pandas.columns  # the index is not stored
    assert len(from_pandas) == 40 and from_pandas["age"].dtype == np.int16
    assert from_polars.select(table.column_names).sort(["site", "month", "subject_id"]).equals(
        pl.DataFrame(sort(table))
    )


def test_the_blocking_store_mirrors_the_dataset_methods(tmp_path: Path) -> None:
    table = cohort(rows_per_partition=10, months=MONTHS[:2])
    with LocalPipelineStore(tmp_path) as store:
        assert len(store.write_dataset(table, "d", partition_cols=["site", "month"])) == 6
        store.write_dataset(table, "d", partition_cols=["site", "month"], mode="append")
        assert store.dataset_exists("d")
        assert store.read_dataset("d", columns=["age"], result_type="arrow").num_rows == 120
        assert [len(b) for b in store.iter_dataset_batches("d", filters=[("site", "=", "site-a")])] == [10] * 4
        assert store.to_dask("d").npartitions == 12  # two fragments per partition
        store.delete_dataset("d")
        assert not store.dataset_exists("d")


async def test_an_overwrite_replaces_every_file_another_tool_left(store_env: StoreEnv) -> None:
    table = cohort(rows_per_partition=5, months=["2024-01"])
    buffer = io.BytesIO()
    pq.write_table(table.drop_columns(["site", "month"]), buffer)
    store_env.put_bytes("d/site=old/part-0.parquet", buffer.getvalue())
    store_env.put_bytes("d/_SUCCESS", b"")
    async with store_env.make() as store:
        assert (await store.read_dataset("d", result_type="arrow")).num_rows == table.num_rows
        await store.write_dataset(table, "d", partition_cols=["site"], mode="overwrite")
        back = await store.read_dataset("d", result_type="arrow")
    assert set(back.column("site").to_pylist()) == set(SITES)
    assert not [k for k in store_env.keys() if "site=old" in k or k.endswith("_SUCCESS")]
