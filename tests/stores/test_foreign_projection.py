"""Column projection of Parquet files this library did not write (pyarrow, polars): only the footer and
the wanted column chunks move, page CRCs are verified where the writer added them, and a footer that
does not fit the object is not trusted."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from clinops_async import IntegrityError, SerializationError
from tests.support.frames import wide_frame

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.support.store_envs import StoreEnv

WANTED = ["f0003", "f0031", "f0058"]


def pyarrow_file(df: pd.DataFrame, *, page_checksums: bool) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), sink, row_group_size=5_000,
                   write_page_checksum=page_checksums, compression="snappy")
    return sink.getvalue()


def polars_file(df: pd.DataFrame) -> bytes:
    polars = pytest.importorskip("polars")
    sink = io.BytesIO()
    polars.from_pandas(df).write_parquet(sink, row_group_size=5_000)
    return sink.getvalue()


def moved_bytes() -> tuple[list[int], Callable[[int, int], None]]:
    """A progress callback and the list of the bytes it was told of (the last is what arrived)."""
    seen: list[int] = []

    def progress(done: int, total: int) -> None:
        seen.append(done)

    return seen, progress


@pytest.mark.parametrize("writer", ["pyarrow with page CRCs", "pyarrow without page CRCs", "polars"])
async def test_a_foreign_file_moves_only_the_wanted_columns(store_env: StoreEnv, writer: str) -> None:
    df = wide_frame(20_000, 60, seed=4)  # ~9.6 MB, 4 row groups
    data = polars_file(df) if writer == "polars" else pyarrow_file(df, page_checksums="with" in writer)
    store_env.put_bytes("foreign.parquet", data)  # no metadata: not written by clinops_async
    seen, progress = moved_bytes()
    async with store_env.make() as store:
        got = await store.download("foreign", columns=WANTED, progress=progress)
    pd.testing.assert_frame_equal(got, df[WANTED])
    if store_env.name == "local":
        return  # a local file is read from disk, not by ranges
    footer = int.from_bytes(data[-8:-4], "little")
    needed = len(data) * len(WANTED) // df.shape[1]
    assert seen[-1] < 256 * 1024 + (1 << 20) + footer + 2 * needed, (seen[-1], len(data))
    assert seen[-1] < len(data) // 3


async def test_a_damaged_page_of_a_foreign_file_with_page_crcs_raises(store_env: StoreEnv) -> None:
    df = wide_frame(20_000, 60, seed=5)
    data = bytearray(pyarrow_file(df, page_checksums=True))
    chunk = pq.ParquetFile(pa.BufferReader(bytes(data))).metadata.row_group(1).column(31)
    start = chunk.dictionary_page_offset if chunk.has_dictionary_page else chunk.data_page_offset
    data[start + chunk.total_compressed_size // 2] ^= 0xFF  # inside a wanted column
    store_env.put_bytes("damaged.parquet", bytes(data))
    async with store_env.make() as store:
        with pytest.raises(IntegrityError, match="page checksum"):
            await store.download("damaged", columns=WANTED)
        # A column that does not travel is not read, so its damage is not seen either way.
        got = await store.download("damaged", columns=["f0001"])
    pd.testing.assert_frame_equal(got, df[["f0001"]])


async def test_a_footer_that_does_not_fit_the_object_is_not_trusted(store_env: StoreEnv) -> None:
    # The first half of the file is cut out, the footer kept: its column chunks point before its own
    # start or past the data. The file is then read whole and its decoding reports the damage.
    data = pyarrow_file(wide_frame(20_000, 60, seed=6), page_checksums=False)
    footer = int.from_bytes(data[-8:-4], "little")
    spliced = b"PAR1" + data[len(data) // 2 :]
    assert int.from_bytes(spliced[-8:-4], "little") == footer
    store_env.put_bytes("spliced.parquet", spliced)
    async with store_env.make() as store:
        with pytest.raises((SerializationError, IntegrityError)):
            await store.download("spliced", columns=WANTED)
