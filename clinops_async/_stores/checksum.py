"""CRC32C of buffers, as S3 and GCS spell it (base64 of the big-endian 4 bytes), off the event loop."""

from __future__ import annotations

import base64

import anyio
import crc32c as _crc32c_impl

__all__ = ["crc32c_b64", "crc32c_b64_async", "crc32c_int", "encode_crc32c", "steer_crc32c"]

#: Buffers at least this large are checksummed in a worker thread, in slices.
_THREAD_CRC_BYTES = 1 << 20
_CRC_SLICE = 8 << 20


def _crc32c_int(data: memoryview) -> int:
    crc = 0
    for start in range(0, len(data), _CRC_SLICE):
        crc = _crc32c_impl.crc32c(data[start : start + _CRC_SLICE], crc)
    return int(crc)


def encode_crc32c(crc: int) -> str:
    """A CRC32C value as S3 and GCS spell it: base64 of the big-endian 4 bytes."""
    return base64.b64encode(crc.to_bytes(4, "big")).decode("ascii")


_b64 = encode_crc32c


def crc32c_b64(data: bytes | bytearray | memoryview) -> str:
    """CRC32C of ``data`` as S3 and GCS spell it: base64 of the big-endian 4 bytes."""
    return _b64(_crc32c_int(memoryview(data)))


async def crc32c_b64_async(data: memoryview) -> str:
    if len(data) < _THREAD_CRC_BYTES:
        return _b64(_crc32c_int(data))
    return _b64(await anyio.to_thread.run_sync(_crc32c_int, data))


#: A byte of the fill field is one of these two, which differ in one bit: each byte is one unknown.
_FILL_BYTES = (ord("a"), ord("c"))


def crc32c_int(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC32C of ``data``, continuing from ``value`` (the CRC32C of the bytes before it)."""
    return int(_crc32c_impl.crc32c(data, value))


def steer_crc32c(tail: bytearray, start: int, length: int, *, before: int, target: int) -> None:
    """Fill ``tail[start:start + length]`` with ``a``/``c`` so that the CRC32C of everything is ``target``.

    ``before`` is the CRC32C of the bytes that precede ``tail``. CRC32C is affine in the message bits
    for a fixed length, so flipping byte ``k`` of the field (``a`` <-> ``c``) changes the result by a
    fixed 32-bit vector; choosing which bytes to flip is a linear system over GF(2), solved here by
    elimination. This lets an artifact's checksum be recorded before its bytes exist.

    Raises:
        ValueError: The field is too short to reach every 32-bit value (use at least 40 bytes).
    """
    tail[start : start + length] = bytes([_FILL_BYTES[0]]) * length
    state = crc32c_int(memoryview(tail)[:start], before)
    suffix = bytearray(tail[start:])
    base = crc32c_int(suffix, state)
    flip = _FILL_BYTES[0] ^ _FILL_BYTES[1]
    basis: dict[int, tuple[int, int]] = {}  # leading bit -> (effect on the CRC, field bytes flipped)
    for k in range(length):
        suffix[k] ^= flip
        effect = crc32c_int(suffix, state) ^ base
        suffix[k] ^= flip
        chosen = 1 << k
        while effect:
            lead = effect.bit_length() - 1
            if lead not in basis:
                basis[lead] = (effect, chosen)
                break
            effect ^= basis[lead][0]
            chosen ^= basis[lead][1]
    want, chosen = base ^ target, 0
    while want:
        lead = want.bit_length() - 1
        if lead not in basis:
            raise ValueError("the fill field is too short to reach every CRC32C")
        want ^= basis[lead][0]
        chosen ^= basis[lead][1]
    for k in range(length):
        if chosen >> k & 1:
            tail[start + k] = _FILL_BYTES[1]
