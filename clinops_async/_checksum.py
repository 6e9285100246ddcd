"""CRC32C of buffers, as S3 and GCS spell it (base64 of the big-endian 4 bytes), off the event loop."""

from __future__ import annotations

import base64

import anyio
import crc32c as _crc32c_impl

__all__ = ["crc32c_b64", "crc32c_b64_async"]

#: Buffers at least this large are checksummed in a worker thread, in slices.
_THREAD_CRC_BYTES = 1 << 20
_CRC_SLICE = 8 << 20


def _crc32c_int(data: memoryview) -> int:
    crc = 0
    for start in range(0, len(data), _CRC_SLICE):
        crc = _crc32c_impl.crc32c(data[start : start + _CRC_SLICE], crc)
    return int(crc)


def _b64(crc: int) -> str:
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


def crc32c_b64(data: bytes | bytearray | memoryview) -> str:
    """CRC32C of ``data`` as S3 and GCS spell it: base64 of the big-endian 4 bytes."""
    return _b64(_crc32c_int(memoryview(data)))


async def crc32c_b64_async(data: memoryview) -> str:
    if len(data) < _THREAD_CRC_BYTES:
        return _b64(_crc32c_int(data))
    return _b64(await anyio.to_thread.run_sync(_crc32c_int, data))
