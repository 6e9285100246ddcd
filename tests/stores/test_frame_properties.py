"""Property tests over hostile DataFrames, on the local store and on S3.

Each frame either round-trips exactly or raises SerializationError / ConfigurationError before any
I/O, and the artifact already stored under that name is left untouched.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clinops_async import ConfigurationError, LocalPipelineStore, S3PipelineStore, SerializationError
from clinops_async._stores import codecs as _codecs
from clinops_async._stores.buffer import ReceiveBuffer
from clinops_async._stores.checksum import crc32c_int
from clinops_async._stores.codecs import StorageFormat, decode, encode
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.servers import Server

SENTINEL = pd.DataFrame({"kept": [1, 2, 3]})

names = st.text(st.characters(exclude_categories=["Cs"]), min_size=0, max_size=12)
floats = st.floats(allow_nan=True, allow_infinity=True)
timestamps = st.one_of(
    st.just(pd.Timestamp.min), st.just(pd.Timestamp.max), st.just(pd.NaT),
    st.datetimes(min_value=dt.datetime(1678, 1, 1), max_value=dt.datetime(2261, 12, 31)).map(pd.Timestamp),
)
nested = st.one_of(
    st.lists(st.integers(-5, 5), max_size=3), st.dictionaries(st.sampled_from("ab"), st.integers(0, 3), max_size=2),
    st.none(),
)


@st.composite
def column(draw: Any, rows: int) -> pd.Series:
    kind = draw(st.sampled_from(
        ["float", "int", "Int64", "boolean", "string", "object_str", "category", "ts", "ts_tz", "nested", "mixed"]
    ))
    if kind == "float":
        return pd.Series(draw(st.lists(floats, min_size=rows, max_size=rows)), dtype="float64")
    if kind == "int":
        return pd.Series(draw(st.lists(st.integers(-(2**63), 2**63 - 1), min_size=rows, max_size=rows)), dtype="int64")
    if kind == "Int64":
        values = draw(st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=rows, max_size=rows))
        return pd.Series(values, dtype="Int64")
    if kind == "boolean":
        return pd.Series(draw(st.lists(st.one_of(st.none(), st.booleans()), min_size=rows, max_size=rows)),
                         dtype="boolean")
    if kind in ("string", "object_str"):
        values = draw(st.lists(st.one_of(st.none(), names), min_size=rows, max_size=rows))
        return pd.Series(values, dtype="string" if kind == "string" else object)
    if kind == "category":
        cats = draw(st.lists(names, min_size=1, max_size=4, unique=True))
        values = draw(st.lists(st.one_of(st.none(), st.sampled_from(cats)), min_size=rows, max_size=rows))
        return pd.Series(pd.Categorical(values, categories=cats, ordered=draw(st.booleans())))
    if kind in ("ts", "ts_tz"):
        series = pd.Series(draw(st.lists(timestamps, min_size=rows, max_size=rows)), dtype="datetime64[ns]")
        return series.dt.tz_localize("UTC") if kind == "ts_tz" else series
    if kind == "nested":
        return pd.Series(draw(st.lists(nested, min_size=rows, max_size=rows)), dtype=object)
    values = draw(st.lists(st.one_of(st.integers(0, 9), names, floats), min_size=rows, max_size=rows))
    return pd.Series(values, dtype=object)


@st.composite
def frames(draw: Any) -> pd.DataFrame:
    rows = draw(st.integers(0, 5))
    cols = draw(st.lists(names, max_size=5))  # duplicates allowed: they must be refused
    data = {i: draw(column(rows)) for i in range(len(cols))}
    df = pd.DataFrame(data, index=pd.RangeIndex(rows)) if data else pd.DataFrame(index=pd.RangeIndex(rows))
    df.columns = pd.Index(cols)
    return df


def check(store: Any, keys: Any, df: pd.DataFrame) -> None:
    """Round trip exactly, or a typed error with nothing stored touched."""
    before = keys()
    try:
        store.upload(df, "frame")
    except (SerializationError, ConfigurationError):
        assert keys() == before
        pd.testing.assert_frame_equal(store.download("sentinel"), SENTINEL)
        return
    got = store.download("frame")
    if len(df.columns) == 0:
        # An empty column Index has no labels whose dtype could matter (pandas picks one on read).
        assert got.shape == df.shape
        pd.testing.assert_index_equal(got.index, df.index)
    else:
        pd.testing.assert_frame_equal(got, df)
    store.delete("frame")


@pytest.fixture(scope="module")
def local_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, Any]]:
    root = tmp_path_factory.mktemp("frames")
    with LocalPipelineStore(root) as store:
        store.upload(SENTINEL, "sentinel")
        yield store, lambda: {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def s3_store(moto_server: Server) -> Iterator[tuple[Any, Any]]:
    s3 = S3Env(moto_server.url)
    with S3PipelineStore(s3.bucket, endpoint_url=moto_server.url) as store:
        store.upload(SENTINEL, "sentinel")
        yield store, lambda: {k: s3.get_bytes(k) for k in s3.keys()}


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_local_frames_round_trip_or_fail_typed_before_io(local_store: tuple[Any, Any], df: pd.DataFrame) -> None:
    check(*local_store, df)


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(df=frames())
def test_s3_frames_round_trip_or_fail_typed_before_io(s3_store: tuple[Any, Any], df: pd.DataFrame) -> None:
    check(*s3_store, df)


@pytest.mark.parametrize("backend", ["local", "s3"])
@pytest.mark.parametrize(
    "shape",
    [pytest.param("10000-columns", marks=pytest.mark.slow), "empty", "zero-columns", "duplicates", "non-string"],
)
def test_edge_shapes(request: pytest.FixtureRequest, backend: str, shape: str) -> None:
    store, keys = request.getfixturevalue(f"{backend}_store")
    if shape == "10000-columns":
        df = pd.DataFrame(np.arange(20_000, dtype="float64").reshape(2, 10_000),
                          columns=[f"c{i}" for i in range(10_000)])
    elif shape == "empty":
        df = pd.DataFrame()
    elif shape == "zero-columns":
        df = pd.DataFrame(index=pd.RangeIndex(4))
    elif shape == "duplicates":
        df = pd.DataFrame([[1, 2]], columns=["a", "a"])
    else:
        df = pd.DataFrame({0: [1.0]})
    check(store, keys, df)


def _streamed(df: pd.DataFrame) -> bytes:
    parts: list[bytes] = []

    def emit(number: int, part: memoryview, crc: int) -> None:
        assert number == len(parts) + 1 and crc == crc32c_int(part)
        parts.append(bytes(part))

    tail = _codecs.encode_parts(
        df, compression="snappy", part_size=lambda n: 64 * n, rows_per_group=2, emit=emit
    )
    assert tail.parts == len(parts) and tail.crc32c == crc32c_int(tail.data)
    whole = b"".join(parts) + bytes(tail.data)
    assert tail.size == len(whole) and tail.file_crc32c == crc32c_int(whole)
    return whole


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(df=frames())
def test_streamed_encoding_matches_whole_encoding(df: pd.DataFrame) -> None:
    # Row groups of two rows and parts of 64 bytes and up: every frame the whole-file encoder takes
    # comes back the same from the streamed file, whose CRC32C the encoder reports, and the same
    # frame always encodes to the same bytes, with nothing in the footer but what readers need.
    try:
        whole = _codecs.encode(df, _codecs.StorageFormat.PARQUET)
    except SerializationError:
        with pytest.raises(SerializationError):
            _streamed(df)
        return
    streamed = _streamed(df)
    assert _streamed(df) == streamed
    footer_keys = set(pq.read_schema(pa.BufferReader(streamed)).metadata or {})
    assert footer_keys <= {b"pandas", b"clinops_async", b"ARROW:schema"}
    expected = _codecs.decode(whole.data, _codecs.StorageFormat.PARQUET)
    pd.testing.assert_frame_equal(_codecs.decode(streamed, _codecs.StorageFormat.PARQUET), expected)


def _row_groups_of(data: Any, rows: int) -> bytes:
    """The same artifact rewritten with several row groups (the encoder writes one for small frames)."""
    table = pq.read_table(pa.BufferReader(data))
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, row_group_size=max(1, rows // 3), write_page_checksum=True)
    return bytes(sink.getvalue().to_pybytes())


@pytest.mark.slow
@settings(max_examples=150, deadline=None)
@given(df=frames(), split=st.booleans())
def test_decoding_while_releasing_the_buffer_gives_the_same_frame(df: pd.DataFrame, split: bool) -> None:
    """A large download hands each decoded range of its buffer back to the system (the pages then read
    as zeros); the frame must come out exactly as from an untouched buffer."""
    try:
        data: Any = encode(df, StorageFormat.PARQUET).data
    except SerializationError:
        return
    if split and len(df.columns) and len(df):
        data = _row_groups_of(data, len(df))
    expected = decode(data, StorageFormat.PARQUET)
    buffer = ReceiveBuffer(len(data))
    buffer.view[:] = memoryview(data).cast("B")
    try:
        got = decode(buffer.view, StorageFormat.PARQUET, release=buffer.release)
    finally:
        buffer.close()
    pd.testing.assert_frame_equal(got, expected)
