"""Parquet written row group by row group and cut into parts as it goes, for streamed uploads."""

from __future__ import annotations

import mmap
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.parquet as pq

from ..._exceptions import SerializationError
from ..checksum import crc32c_int
from .frames import check_frame, describe_failure, dictionary_columns, with_extra_metadata

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

__all__ = ["PartSink", "StreamedTail", "encode_parts"]


#: ``MAP_POPULATE`` where the platform has it: a part's pages are committed by one system call in the
#: encoding thread instead of one page fault at a time as the writer fills them.
_POPULATE = getattr(mmap, "MAP_POPULATE", 0)


def part_buffer(size: int) -> mmap.mmap:
    """A fresh, zeroed part of ``size`` bytes, mapped on its own so that it goes back to the system as
    soon as the last view of it is gone.

    A ``bytearray`` of a part's size comes from the C allocator, which keeps freed parts in its arenas
    for reuse once it has seen a few (glibc raises its mmap threshold past the part size), so a
    streamed upload left ~140 MiB of a 512 MiB frame's parts resident after it ended, and its peak grew
    by what the arenas held while parts were in flight.
    """
    flags = getattr(mmap, "MAP_PRIVATE", 0) | getattr(mmap, "MAP_ANONYMOUS", 0)
    if not flags:  # pragma: no cover - Windows: an anonymous map of the paging file
        return mmap.mmap(-1, size)
    try:
        return mmap.mmap(-1, size, flags=flags | _POPULATE)
    except OSError:  # pragma: no cover - a kernel that refuses MAP_POPULATE faults the pages in instead
        return mmap.mmap(-1, size, flags=flags)


class PartSink:
    """The Parquet writer's output, cut into parts as it is written.

    Each full part (a fresh map of its own, see :func:`part_buffer`, handed over without a copy) goes
    to ``emit(number, part, crc32c)`` with its CRC32C; ``final()`` stops the cutting, so the last part
    and the footer stay here.
    """

    closed = False

    def __init__(self, part_size: Callable[[int], int], emit: Callable[[int, memoryview, int], None]) -> None:
        self._part_size = part_size
        self._emit = emit
        self.number = 1
        self.crc = 0  #: CRC32C of the bytes emitted so far
        self.emitted = 0
        self.part: mmap.mmap | bytearray = part_buffer(part_size(1))
        self._fill = 0
        self._final = False

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        if self._final:
            assert isinstance(self.part, bytearray)
            self.part += view
            return len(view)
        pos = 0
        while pos < len(view):
            take = min(len(view) - pos, len(self.part) - self._fill)
            self.part[self._fill : self._fill + take] = view[pos : pos + take]
            self._fill += take
            pos += take
            if self._fill == len(self.part):
                part = memoryview(self.part)
                crc = crc32c_int(part)
                self.crc = crc32c_int(part, self.crc)
                self.emitted += len(part)
                self._emit(self.number, part, crc)
                del part
                self.number += 1
                self.part, self._fill = part_buffer(self._part_size(self.number)), 0
        return len(view)

    def final(self) -> None:
        with memoryview(self.part) as filled:
            self.part = bytearray(filled[: self._fill])  # the footer is appended to it
        self._final = True

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def tail(self) -> StreamedTail:
        """What is left once the writer is closed: the last part, footer included, and the totals."""
        if not self._final:
            self.final()
        tail = self.part
        assert isinstance(tail, bytearray)
        return StreamedTail(
            memoryview(tail), crc32c_int(tail), crc32c_int(tail, self.crc), self.number - 1, self.emitted + len(tail)
        )


@dataclass(frozen=True)
class StreamedTail:
    """What is left after the streamed parts: the last part (footer included) and the totals."""

    data: memoryview
    crc32c: int  #: CRC32C of the last part
    file_crc32c: int  #: CRC32C of the whole file
    parts: int  #: full parts emitted before it
    size: int  #: bytes of the whole artifact


def encode_parts(
    df: object,
    *,
    compression: str,
    part_size: Callable[[int], int],
    rows_per_group: int,
    emit: Callable[[int, memoryview, int], None],
) -> StreamedTail:
    """Encode ``df`` as Parquet row group by row group, handing out parts while it goes.

    The whole file never exists in memory: only one row group's Arrow table and the part being
    filled. ``emit(number, part, crc32c)`` may block (back pressure); an exception it raises stops
    the encoding and is raised as is. The same frame with the same options gives the same bytes.

    Raises:
        SerializationError: The frame cannot be stored losslessly.
    """
    frame = check_frame(df)
    schema = _schema_of(frame)
    emitted: list[BaseException] = []

    def guarded_emit(number: int, part: memoryview, crc: int) -> None:
        try:
            emit(number, part, crc)
        except BaseException as exc:
            emitted.append(exc)  # the writer turns it into an ArrowException: keep the original
            raise

    sink = PartSink(part_size, guarded_emit)
    try:
        writer = pq.ParquetWriter(
            sink,
            schema,
            compression=None if compression == "none" else compression,
            use_dictionary=dictionary_columns(frame, schema),
            write_page_checksum=True,
        )
        for start in range(0, len(frame), rows_per_group):
            piece = frame.iloc[start : start + rows_per_group]
            writer.write_table(pa.Table.from_pandas(piece, schema=schema, preserve_index=None, nthreads=1))
            del piece
        sink.final()
        writer.close()
        # The row groups' Arrow memory is free now; Arrow's allocator would keep it for reuse, which
        # a download after this upload could use but the frame's own allocations could not.
        pa.default_memory_pool().release_unused()
    except Exception:
        if emitted:
            raise emitted[0] from None
        raise SerializationError(f"cannot encode the DataFrame as Parquet: {describe_failure(frame)}") from None
    return sink.tail()


def _schema_of(frame: pd.DataFrame) -> pa.Schema:
    try:
        schema = pa.Schema.from_pandas(frame, preserve_index=None)
    except (pa.ArrowException, TypeError, ValueError):
        raise SerializationError(
            f"cannot encode the DataFrame as Parquet: {describe_failure(frame)}"
        ) from None
    return schema.with_metadata(with_extra_metadata(frame, schema))
