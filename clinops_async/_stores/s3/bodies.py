"""Request and response bodies: parts sent from their buffer without whole copies, answers read into place."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["BufferBody", "read_body", "read_body_into", "total_size", "whole_object_crc"]


class BufferBody(io.BytesIO):
    """A seekable, read-only file over a buffer, read in small copies instead of one big one.

    botocore wraps a ``bytes`` body in a ``BytesIO`` and aiohttp then unshares that buffer (a full
    copy of every part, on the event loop). This view hands out at most one chunk at a time, which
    aiohttp sends with a yield to the loop between chunks.
    """

    def __init__(self, data: memoryview) -> None:
        super().__init__()
        self._view = data
        self._pos = 0

    def read(self, size: int | None = -1) -> bytes:
        end = len(self._view) if size is None or size < 0 else min(len(self._view), self._pos + size)
        chunk = bytes(self._view[self._pos : end])
        self._pos = max(self._pos, end)
        return chunk

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: len(self._view)}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def tell(self) -> int:
        return self._pos

    def getbuffer(self) -> memoryview:
        return self._view[:]  # a new view: callers may release it

    def getvalue(self) -> bytes:
        return bytes(self._view)


async def read_body(response: Mapping[str, Any]) -> bytes:
    async with response["Body"] as body:
        return bytes(await body.read())


async def read_body_into(response: Mapping[str, Any], buffer: memoryview) -> int:
    """Fill ``buffer`` from the response body; the number of bytes received (short if it ended early)."""
    filled = 0
    async with response["Body"] as body:
        while filled < len(buffer):
            n = await body.readinto(buffer[filled:])
            if n == 0:
                break
            filled += n
    return filled


def total_size(response: Mapping[str, Any]) -> int:
    content_range = response.get("ContentRange")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(response["ContentLength"])


def whole_object_crc(response: Mapping[str, Any]) -> str | None:
    # A composite checksum (multipart without FULL_OBJECT) is a checksum of the parts' checksums,
    # "xxx==-N" in a GET and without the "-N" in some servers' HEAD: not the bytes' CRC32C.
    value = response.get("ChecksumCRC32C")
    if value is None or "-" in value or response.get("ChecksumType") == "COMPOSITE":
        return None
    return str(value)
