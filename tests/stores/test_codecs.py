"""Encoding choices that matter for size and speed, checked on the Parquet the codec writes."""

from __future__ import annotations

import mmap
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async._stores.buffer import ReceiveBuffer
from clinops_async._stores.codecs import StorageFormat, decode, encode, encode_parts
from clinops_async._stores.codecs.parquet_read import _read_releasing


def test_mostly_distinct_floats_skip_the_dictionary_and_rounded_ones_keep_it() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({
        "lactate_raw": rng.random(50_000),                      # a measurement: nearly all distinct
        "heart_rate": rng.integers(40, 160, 50_000).astype(float),  # rounded vitals: few distinct values
        "subject_id": rng.integers(10_000_000, 10_000_100, 50_000),
    })
    data = encode(df, StorageFormat.PARQUET).data
    meta = pq.ParquetFile(pa.BufferReader(data)).metadata
    encodings = {meta.schema.column(i).name: meta.row_group(0).column(i).encodings for i in range(meta.num_columns)}
    assert not any("DICTIONARY" in e for e in encodings["lactate_raw"])
    assert any("DICTIONARY" in e for e in encodings["heart_rate"])
    assert any("DICTIONARY" in e for e in encodings["subject_id"])
    pd.testing.assert_frame_equal(decode(data, StorageFormat.PARQUET), df)


def _mixed_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({
        "lactate": rng.random(rows),
        "heart_rate": rng.integers(40, 160, rows).astype(float),
        "subject_id": pd.array(rng.integers(0, 1_000, rows), dtype="Int64"),
        "unit": pd.Categorical(rng.choice(["icu", "ward", "ed"], rows)),
        "charted": pd.date_range("2024-01-01", periods=rows, freq="min", tz="UTC"),
        "note": pd.Series([None if i % 7 == 0 else f"n{i % 13}" for i in range(rows)], dtype=object),
    }, index=pd.RangeIndex(rows))


@pytest.mark.parametrize("compression", ["snappy", "none"])
def test_a_buffer_is_released_as_it_is_decoded_and_the_frame_is_unchanged(compression: str) -> None:
    df = _mixed_frame(60_000)
    encoded = encode(df, StorageFormat.PARQUET, compression=compression).data
    table = pq.read_table(pa.BufferReader(encoded))
    sink = pa.BufferOutputStream()
    compress = None if compression == "none" else compression
    pq.write_table(table, sink, row_group_size=20_000, compression=compress, write_page_checksum=True)
    data = sink.getvalue()
    assert pq.ParquetFile(pa.BufferReader(data)).metadata.num_row_groups == 3
    buffer = ReceiveBuffer(len(data))
    buffer.view[:] = memoryview(data).cast("B")
    ranges: list[tuple[int, int]] = []

    def release(start: int, end: int) -> None:
        ranges.append((start, end))
        buffer.release(start, end)

    try:
        got = decode(buffer.view, StorageFormat.PARQUET, release=release)
        # Every column chunk of every row group is handed back, each once.
        meta = pq.ParquetFile(pa.BufferReader(data)).metadata
        assert len(ranges) == len(set(ranges)) == meta.num_row_groups * meta.num_columns
        if sys.platform == "linux":
            # What was handed back really left the process: those pages read as zeros now.
            assert buffer.released > 0
            page, base = mmap.PAGESIZE, buffer._address
            for start, end in ranges:
                first = -(-(base + start) // page) * page - base
                last = (base + end) // page * page - base
                assert not any(buffer.view[first:last])
    finally:
        buffer.close()
    pd.testing.assert_frame_equal(got, df)


def test_reading_while_releasing_builds_the_same_arrow_table() -> None:
    df = _mixed_frame(30_000)
    table = pq.read_table(pa.BufferReader(encode(df, StorageFormat.PARQUET).data))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=7_000, write_page_checksum=True)
    parquet = pq.ParquetFile(pa.BufferReader(sink.getvalue()))
    expected = parquet.read(use_pandas_metadata=True)
    got = _read_releasing(parquet, lambda start, end: None)
    assert got.equals(expected, check_metadata=True)
    assert got.schema.equals(expected.schema, check_metadata=True)


def test_streamed_parts_are_maps_of_their_own_and_make_the_whole_file() -> None:
    # Each full part is an anonymous map that goes back to the system once its views are dropped
    # (a bytearray's memory stays in the C allocator's arenas); the tail, footer included, is the rest.
    df = _mixed_frame(20_000)
    parts: list[bytes] = []

    def emit(number: int, part: memoryview, crc: int) -> None:
        assert isinstance(part.obj, mmap.mmap) and len(part) == 64 * 1024
        parts.append(bytes(part))

    tail = encode_parts(df, compression="snappy", part_size=lambda n: 64 * 1024, rows_per_group=5_000, emit=emit)
    assert len(parts) == tail.parts > 1
    whole = b"".join(parts) + bytes(tail.data)
    assert len(whole) == tail.size
    pd.testing.assert_frame_equal(decode(whole, StorageFormat.PARQUET), df)
