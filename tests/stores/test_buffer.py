"""The download buffer: committing pages never changes bytes; releasing gives back whole pages only."""

from __future__ import annotations

import mmap
import sys

import pytest

from clinops_async._stores.buffer import ReceiveBuffer

PAGE = mmap.PAGESIZE


async def test_committing_pages_keeps_the_bytes_already_received() -> None:
    buffer = ReceiveBuffer(10 * PAGE + 123)
    try:
        buffer.view[PAGE : 3 * PAGE] = b"\x5a" * (2 * PAGE)
        await buffer.populate(0, buffer.size)
        assert buffer.view[PAGE : 3 * PAGE] == b"\x5a" * (2 * PAGE)
    finally:
        buffer.close()


@pytest.mark.skipif(sys.platform != "linux", reason="pages are handed back on Linux only")
def test_release_gives_back_the_whole_pages_inside_the_range_only() -> None:
    buffer = ReceiveBuffer(8 * PAGE)
    try:
        buffer.view[:] = b"\x01" * (8 * PAGE)
        start, end = PAGE + 10, 5 * PAGE - 10
        buffer.release(start, end)
        # The buffer need not start on a page: find the whole pages the range covers.
        base = buffer._address
        first = -(-(base + start) // PAGE) * PAGE - base
        last = (base + end) // PAGE * PAGE - base
        assert last - first >= 2 * PAGE and buffer.released == last - first
        assert not any(buffer.view[first:last])
        assert buffer.view[:first] == b"\x01" * first
        assert buffer.view[last:] == b"\x01" * (8 * PAGE - last)
    finally:
        buffer.close()
