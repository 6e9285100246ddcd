"""Encoding choices that matter for size and speed, checked on the Parquet the codec writes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from clinops_async._codecs import StorageFormat, decode, encode


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
