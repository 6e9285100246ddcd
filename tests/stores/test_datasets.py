"""Arrow and polars in and out, row filters and streamed reads, on every store (local, S3, both GCS emulators)."""

from __future__ import annotations

import datetime as dt
import io
from contextlib import aclosing
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from clinops_async import ConfigurationError, SerializationError, StorageFormat
from tests.support.frames import icu_windows

if TYPE_CHECKING:
    from tests.support.store_envs import StoreEnv

#: Rows per row group of :func:`grouped_table`; each group holds one contiguous range of ``t``.
GROUP_ROWS = 20_000
GROUPS = 6


def grouped_table(groups: int = GROUPS, rows: int = GROUP_ROWS) -> pa.Table:
    """Synthetic vitals sorted by time, so that every row group has its own range of ``t`` and ``age``."""
    n = groups * rows
    rng = np.random.default_rng(7)
    return pa.table({
        "t": pa.array(np.arange(n), pa.int64()),
        "age": pa.array(np.repeat(np.arange(groups) * 10 + 20, rows), pa.int16()),
        "site": pa.array(np.array(["icu", "ward", "er"])[np.arange(n) % 3]),
        "hr": pa.array(rng.normal(80, 10, n)),
        "spo2": pa.array(rng.normal(96, 2, n)),
    }).replace_schema_metadata({b"study": b"synthetic-vitals"})


def grouped_reader(table: pa.Table, rows: int = GROUP_ROWS) -> pa.RecordBatchReader:
    """One batch per row group: a reader is written batch by batch."""
    return pa.RecordBatchReader.from_batches(table.schema, table.to_batches(max_chunksize=rows))


def assorted_arrow() -> pa.Table:
    """Arrow types that pandas would change: small dictionary indices, large strings, nested, units."""
    fields = [
        pa.field("code", pa.dictionary(pa.int8(), pa.string())),
        pa.field("note", pa.large_string(), metadata={b"unit": b"free text"}),
        pa.field("ts", pa.timestamp("ms", tz="Europe/Paris")),
        pa.field("dose", pa.decimal128(9, 3)),
        pa.field("labs", pa.list_(pa.float32())),
        pa.field("pair", pa.struct([("a", pa.int32()), ("b", pa.string())])),
        pa.field("n", pa.uint16()),
        pa.field("day", pa.date32()),
    ]
    data = [
        pa.array(["a", "b", None]).dictionary_encode().cast(pa.dictionary(pa.int8(), pa.string())),
        pa.array(["x", None, "z"], pa.large_string()),
        pa.array([0, 86_400_000, None], pa.timestamp("ms", tz="Europe/Paris")),
        pa.array([None, "1.250", "-3.000"], pa.string()).cast(pa.decimal128(9, 3)),
        pa.array([[1.5], [], None], pa.list_(pa.float32())),
        pa.array([{"a": 1, "b": "q"}, {"a": None, "b": None}, {"a": 3, "b": None}], fields[5].type),
        pa.array([1, 2, 65_535], pa.uint16()),
        pa.array([dt.date(2024, 1, 1), None, dt.date(2024, 2, 29)]),
    ]
    return pa.Table.from_arrays(data, schema=pa.schema(fields, metadata={b"origin": b"synthetic"}))


def assorted_polars() -> pl.DataFrame:
    return pl.DataFrame({
        "i8": pl.Series([1, None, 3], dtype=pl.Int8),
        "u32": pl.Series([1, 2, 3], dtype=pl.UInt32),
        "s": ["a", None, "c"],
        "cat": pl.Series(["x", "y", "x"], dtype=pl.Categorical),
        "level": pl.Series(["lo", "hi", None], dtype=pl.Enum(["lo", "mid", "hi"])),
        "at": pl.Series([dt.datetime(2024, 1, 1), None, dt.datetime(2024, 1, 2)]).dt.replace_time_zone("UTC"),
        "gap": [dt.timedelta(hours=1), None, dt.timedelta(0)],
        "labs": [[1, 2], [], None],
        "vitals": [{"hr": 80.0, "ok": True}, {"hr": None, "ok": False}, None],
        "f32": pl.Series([1.5, None, 2.0], dtype=pl.Float32),
    })


# -- Arrow and polars in and out -------------------------------------------------------------------


async def test_arrow_table_round_trips_with_schema_and_metadata(store_env: StoreEnv) -> None:
    table = assorted_arrow()
    async with store_env.make() as store:
        await store.upload(table, "arrow/assorted")
        back = await store.download("arrow/assorted", result_type="arrow")
        info = await store.info("arrow/assorted")
    assert isinstance(back, pa.Table)
    assert back.schema.equals(table.schema, check_metadata=True)
    assert back.equals(table, check_metadata=True)
    assert (info.rows, info.columns) == (3, 8)


async def test_record_batch_reader_is_consumed_into_one_artifact(store_env: StoreEnv) -> None:
    table = grouped_table(groups=3, rows=1_000)
    async with store_env.make("p") as store:
        await store.upload(grouped_reader(table, rows=1_000), "vitals")
        back = await store.download("vitals", result_type="arrow")
    assert store_env.keys() == ["p/vitals.parquet"]
    assert back.equals(table, check_metadata=True)
    assert pq.ParquetFile(io.BytesIO(store_env.get_bytes("p/vitals.parquet"))).num_row_groups == 3


async def test_polars_frame_round_trips_with_its_dtypes(store_env: StoreEnv) -> None:
    frame = assorted_polars()
    async with store_env.make() as store:
        await store.upload(frame, "polars/assorted")
        back = await store.download("polars/assorted", result_type="polars")
    assert isinstance(back, pl.DataFrame)
    assert back.schema == frame.schema
    assert back.equals(frame)


async def test_pandas_artifacts_read_as_arrow_and_polars(store_env: StoreEnv) -> None:
    df = icu_windows(stays=3, hours=4)
    async with store_env.make() as store:
        await store.upload(df, "windows")
        table = await store.download("windows", result_type="arrow")
        frame = await store.download("windows", result_type="polars", columns=["heart_rate"])
    expected = pa.Table.from_pandas(df, preserve_index=None)
    assert table.column_names == expected.column_names
    assert table.column("heart_rate").equals(expected.column("heart_rate"))
    assert frame.to_arrow().column("heart_rate").equals(expected.column("heart_rate"))


async def test_arrow_and_polars_artifacts_read_as_pandas(store_env: StoreEnv) -> None:
    table = grouped_table(groups=1, rows=50)
    async with store_env.make() as store:
        await store.upload(table, "a")
        await store.upload(pl.from_arrow(table), "p")
        pd.testing.assert_frame_equal(await store.download("a"), table.to_pandas())
        from_polars = await store.download("p", columns=["t", "hr"])
    pd.testing.assert_frame_equal(from_polars, table.select(["t", "hr"]).to_pandas())


async def test_arrow_into_csv_and_back(store_env: StoreEnv) -> None:
    table = pa.table({"subject_id": [10000001, 10000002], "heart_rate": [80.5, 91.0]})
    async with store_env.make(format=StorageFormat.CSV) as store:
        await store.upload(table, "vitals")
        assert (await store.download("vitals", result_type="arrow")).equals(table)
        pd.testing.assert_frame_equal(await store.download("vitals"), table.to_pandas())


@pytest.mark.parametrize("data", [[{"a": 1}], {"a": [1]}, np.zeros(3), pl.DataFrame({"a": [1]}).lazy()],
                         ids=["list", "dict", "ndarray", "polars-lazy"])
async def test_other_upload_types_are_refused_before_any_io(store_env: StoreEnv, data: object) -> None:
    async with store_env.make() as store:
        with pytest.raises(SerializationError, match="pandas DataFrame, a pyarrow Table"):
            await store.upload(data, "x")
        result = await store.upload_many({"y": data})
    assert isinstance(result[0].error, SerializationError)
    assert store_env.keys() == []


async def test_arrow_types_parquet_cannot_hold_are_refused(store_env: StoreEnv) -> None:
    union = pa.UnionArray.from_sparse(pa.array([0, 1], pa.int8()), [pa.array([1, 2]), pa.array(["a", "b"])])
    async with store_env.make() as store:
        with pytest.raises(SerializationError, match="cannot encode the Arrow data as Parquet"):
            await store.upload(pa.table({"u": union}), "x")
    assert store_env.keys() == []


@pytest.mark.parametrize("bad", ["numpy", "Arrow", None, 1])
async def test_unknown_result_type_is_refused_before_any_io(store_env: StoreEnv, bad: object) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match="result_type must be one of"):
            await store.download("missing", result_type=bad)  # type: ignore[call-overload]
        with pytest.raises(ConfigurationError, match="result_type must be one of"):
            store.iter_batches("missing", result_type=bad)  # type: ignore[arg-type]


async def test_upload_many_and_download_many_take_arrow_and_polars(store_env: StoreEnv) -> None:
    table = grouped_table(groups=1, rows=30)
    async with store_env.make() as store:
        sent = await store.upload_many({"a": table, "p": pl.from_arrow(table), "d": table.to_pandas()})
        assert sent.ok
        got = await store.download_many(["a", "p", "d"], result_type="arrow", filters=[("t", "<", 10)])
    assert got.ok
    assert got.values["a"].equals(table.filter(pc.field("t") < 10), check_metadata=True)
    assert got.values["p"].equals(pl.from_arrow(table).to_arrow().filter(pc.field("t") < 10))
    assert got.values["d"].column("t").to_pylist() == list(range(10))


# -- row filters -----------------------------------------------------------------------------------

FILTERS = {
    "dnf-and": [("age", ">=", 40), ("site", "=", "icu")],
    "dnf-or": [[("t", "<", 5)], [("t", ">", 119_990), ("hr", ">", 0)]],
    "dnf-in": [("site", "in", ["er", "ward"]), ("age", "not in", [20, 30, 40])],
    "expression": (pc.field("age") == 50) & (pc.field("spo2") > 96),
    "no-rows": [("t", ">", 10**9)],
}


@pytest.mark.parametrize("name", list(FILTERS))
async def test_filters_select_the_rows_pyarrow_selects(store_env: StoreEnv, name: str) -> None:
    table = grouped_table()
    filters = FILTERS[name]
    expected = pq.read_table(pa.BufferReader(_parquet(table)), filters=filters)
    async with store_env.make() as store:
        await store.upload(grouped_reader(table), "vitals")
        arrow = await store.download("vitals", filters=filters, result_type="arrow")
        frame = await store.download("vitals", filters=filters, columns=["t", "hr"])
        polars = await store.download("vitals", filters=filters, columns=["hr"], result_type="polars")
    assert arrow.equals(expected, check_metadata=True)
    pd.testing.assert_frame_equal(frame, expected.select(["t", "hr"]).to_pandas())
    expected_polars = pl.from_arrow(expected.select(["hr"]))
    assert isinstance(expected_polars, pl.DataFrame) and polars.equals(expected_polars)


async def test_filters_on_a_pandas_artifact_keep_its_index_and_dtypes(store_env: StoreEnv) -> None:
    df = icu_windows(stays=4, hours=6)
    assert isinstance(df.index, pd.DatetimeIndex)
    async with store_env.make() as store:
        await store.upload(df, "windows")
        got = await store.download("windows", filters=[("heart_rate", ">", 80)], columns=["heart_rate"])
    pd.testing.assert_frame_equal(got, df.loc[df["heart_rate"] > 80, ["heart_rate"]])


@pytest.mark.parametrize("filters", ["age > 3", [], [("age",)], [("age", "~", 3)], [(3, "=", 1)], 42],
                         ids=["string", "empty", "short", "operator", "column-type", "number"])
async def test_malformed_filters_are_refused_before_any_io(store_env: StoreEnv, filters: object) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match="filter"):
            await store.download("never-uploaded", filters=filters)
        with pytest.raises(ConfigurationError, match="filter"):
            store.iter_batches("never-uploaded", filters=filters)


@pytest.mark.parametrize("filters", [[("weight", ">", 3)], pc.field("age") == "old", [("site", "=", 3)]],
                         ids=["missing-column", "expression-wrong-type", "dnf-wrong-type"])
@pytest.mark.parametrize("size", ["small", "ranged"])
async def test_filters_that_do_not_fit_name_the_artifact(store_env: StoreEnv, filters: object, size: str) -> None:
    table = grouped_table(groups=1 if size == "small" else GROUPS, rows=100 if size == "small" else GROUP_ROWS)
    async with store_env.make() as store:
        await store.upload(grouped_reader(table), "vitals")
        with pytest.raises(ConfigurationError, match="vitals.parquet") as caught:
            await store.download("vitals", filters=filters)
        with pytest.raises(ConfigurationError, match="vitals.parquet"):
            async for _ in store.iter_batches("vitals", filters=filters):
                pass
    assert "the filter does not apply" in str(caught.value)


async def test_csv_filters_are_applied_after_reading(store_env: StoreEnv) -> None:
    df = pd.DataFrame({"subject_id": [1, 2, 3, 4], "age": [70, 40, 81, 66], "ward": ["a", "b", "a", "b"]})
    async with store_env.make(format=StorageFormat.CSV) as store:
        await store.upload(df, "cohort")
        got = await store.download("cohort", filters=[("age", ">", 65)], columns=["subject_id"])
        arrow = await store.download("cohort", filters=pc.field("ward") == "b", result_type="arrow")
        with pytest.raises(ConfigurationError, match="cohort.csv"):
            await store.download("cohort", filters=[("height", ">", 1)])
    pd.testing.assert_frame_equal(got, pd.DataFrame({"subject_id": [1, 3, 4]}))
    assert arrow.column("subject_id").to_pylist() == [2, 4]


# -- streamed reads --------------------------------------------------------------------------------


@pytest.mark.parametrize("result_type", ["pandas", "arrow", "polars"])
async def test_iter_batches_yields_every_wanted_row_once(store_env: StoreEnv, result_type: str) -> None:
    table = grouped_table()
    filters = [("age", ">=", 40)]
    expected = table.filter(pc.field("age") >= 40).select(["t", "hr"])
    async with store_env.make() as store:
        await store.upload(grouped_reader(table), "vitals")
        batches = [b async for b in store.iter_batches(
            "vitals", columns=["t", "hr"], filters=filters, batch_rows=7_000, result_type=result_type  # type: ignore[arg-type]
        )]
    assert all(len(b) <= 7_000 for b in batches) and len(batches) >= expected.num_rows // 7_000
    if result_type == "pandas":
        got = pa.Table.from_pandas(pd.concat(batches, ignore_index=True), preserve_index=False)
    elif result_type == "arrow":
        assert all(isinstance(b, pa.RecordBatch) for b in batches)
        got = pa.Table.from_batches(batches)
    else:
        got = pl.concat(batches).to_arrow()
    assert got.cast(expected.schema).equals(expected)


async def test_iter_batches_of_a_pandas_artifact_restore_its_dtypes(store_env: StoreEnv) -> None:
    df = icu_windows(stays=3, hours=5)
    async with store_env.make() as store:
        await store.upload(df, "windows")
        batches = [b async for b in store.iter_batches("windows", batch_rows=4)]
    assert [len(b) for b in batches] == [4, 4, 4, 3]
    pd.testing.assert_frame_equal(pd.concat(batches), df)


async def test_iter_batches_of_csv(store_env: StoreEnv) -> None:
    df = pd.DataFrame({"subject_id": range(10), "age": range(60, 70)})
    async with store_env.make(format=StorageFormat.CSV) as store:
        await store.upload(df, "cohort")
        batches = [b async for b in store.iter_batches("cohort", batch_rows=4, filters=[("age", ">=", 63)])]
    assert [len(b) for b in batches] == [4, 3]
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), df[df["age"] >= 63].reset_index(drop=True))


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "10"])
async def test_iter_batches_refuses_a_bad_batch_size_at_the_call(store_env: StoreEnv, bad: object) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match="batch_rows"):
            store.iter_batches("x", batch_rows=bad)  # type: ignore[arg-type]


async def test_leaving_iter_batches_early_leaves_the_store_usable(store_env: StoreEnv) -> None:
    table = grouped_table()
    async with store_env.make() as store:
        await store.upload(grouped_reader(table), "vitals")
        async with aclosing(store.iter_batches("vitals", result_type="arrow", batch_rows=1_000)) as batches:
            async for batch in batches:
                first = batch
                break
        assert first.num_rows == 1_000
        assert (await store.download("vitals", columns=["t"], result_type="arrow")).num_rows == table.num_rows


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    with pq.ParquetWriter(sink, table.schema) as writer:
        for batch in table.to_batches(max_chunksize=GROUP_ROWS):
            writer.write_batch(batch)
    return sink.getvalue()


async def test_a_damaged_page_stops_a_stream_with_integrity_error(store_env: StoreEnv) -> None:
    from clinops_async import IntegrityError

    table = grouped_table()
    async with store_env.make() as store:
        await store.upload(grouped_reader(table), "vitals")
        stored = bytearray(store_env.get_bytes("vitals.parquet"))
        metadata = pq.ParquetFile(io.BytesIO(bytes(stored))).metadata
        chunk = metadata.row_group(4).column(table.schema.get_field_index("hr"))
        start = min(chunk.data_page_offset, chunk.dictionary_page_offset or chunk.data_page_offset)
        stored[start + chunk.total_compressed_size // 2] ^= 0xFF
        store_env.put_bytes("vitals.parquet", bytes(stored), store_env.metadata("vitals.parquet"))
        with pytest.raises(IntegrityError):
            async for _ in store.iter_batches("vitals", columns=["hr"], result_type="arrow"):
                pass
