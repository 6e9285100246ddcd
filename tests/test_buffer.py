"""The download buffer: committing pages never changes bytes; releasing gives back whole pages only."""

from __future__ import annotations

import mmap
import sys

import pytest

from clinops_async._buffer import ReceiveBuffer

PAGE = mmap.PAGESIZE


async def test_committing_pages_keeps_the_bytes_already_received() -> None:
    buffer = ReceiveBuffer(10 * PAGE + 123)
    try:
        buffer.view[PAGE : 3 * PAGE] = b"\x5a" * (2 * PAGE)
        await buffer.populate(0, buffer.size)
        assert buffer.view[PAGE : 3 * PAGE] == b"\x5a" * (2 * PAGE)
        assert not any(buffer.view[: PAGE]) and not any(buffer.view[3 * PAGE :])
    finally:
        buffer.close()


@pytest.mark.skipif(sys.platform != "linux", reason="pages are handed back on Linux only")
def test_release_gives_back_the_whole_pages_inside_the_range_only() -> None:
    buffer = ReceiveBuffer(8 * PAGE)
    try:
        buffer.view[:] = b"\x01" * (8 * PAGE)
        buffer.release(PAGE + 10, 5 * PAGE - 10)  # pages 2 and 3 lie wholly inside the range
        assert buffer.released == 2 * PAGE
        assert not any(buffer.view[2 * PAGE : 4 * PAGE])
        assert buffer.view[: 2 * PAGE] == b"\x01" * (2 * PAGE)
        assert buffer.view[4 * PAGE :] == b"\x01" * (4 * PAGE)
    finally:
        buffer.close()
