"""A large Parquet frame encoded row group by row group while its finished parts go up.

The encoder runs in a worker thread and hands each full part over a stream that holds one part,
so memory holds the frame, one row group's Arrow table and ``max_concurrency + 1`` parts, never the
whole file. The whole file's CRC32C is only known once the encoder is done: it goes up with the
completion as the upload's full-object CRC32C, which the server checks and reports from then on.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING

import anyio
import anyio.abc

from .checksum import encode_crc32c
from .codecs import StreamedTail, encode_parts
from .metadata import META_CRC

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd

    from .backend import ByteCounter, MultipartUpload, PutRequest
    from .upload import Uploader

__all__ = ["NoFullObjectChecksum", "StreamedUpload", "upload_streamed"]

logger = logging.getLogger("clinops_async")

#: Rows of a streamed upload's row group: about this much of the frame's memory each.
ROW_GROUP_BYTES = 64 * 1024 * 1024

_Part = tuple[int, memoryview, int]


class NoFullObjectChecksum(Exception):
    """The server keeps no full-object CRC32C, so a file's checksum cannot follow its parts (the
    upload was aborted; the caller encodes the file whole and records its CRC32C instead)."""


class StreamedUpload:
    """One streamed upload: ``await StreamedUpload(...).run()`` returns the stored size.

    Three kinds of task share a task group: the encoder (a worker thread), a receiver that starts
    the multipart upload at the first part and a sender per part (at most ``max_concurrency``).
    The first failure cancels the rest, and a started upload is aborted.
    """

    def __init__(
        self, uploader: Uploader, request: PutRequest, df: pd.DataFrame | None, *, compression: str,
        counter: ByteCounter,
    ) -> None:
        self.uploader = uploader
        self.request = request
        self.df = df
        self.compression = compression
        self.counter = counter
        self.upload: MultipartUpload | None = None
        self.parts: dict[int, object] = {}
        self.tail: StreamedTail | None = None
        self.failure: BaseException | None = None
        # No buffer: a part changes hands only when a sender is free to take it, so the parts alive
        # are those in flight and the one the encoder waits to hand over (the encoder still runs
        # ahead by that one part).
        self._send, self._receive = anyio.create_memory_object_stream[_Part](0)

    async def run(self) -> int:
        self.counter.start(self.request.size)
        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._encode, tg.cancel_scope)
                tg.start_soon(self._receive_parts, tg)
            if self.failure is not None:
                raise self.failure
            assert self.tail is not None
            await self._finish(self.tail)
        except BaseException as exc:
            if self.upload is not None:
                await self.uploader.abort(self.upload, self.request, exc)
            raise
        return self.tail.size

    def _fail(self, exc: BaseException, scope: anyio.CancelScope) -> None:
        if self.failure is None:
            self.failure = exc
        scope.cancel()

    async def _encode(self, scope: anyio.CancelScope) -> None:
        def emit(number: int, part: memoryview, crc: int) -> None:
            anyio.from_thread.run(self._send.send, (number, part, crc))

        try:
            with self._send:
                self.tail = await anyio.to_thread.run_sync(self.encode, emit)
        except Exception as exc:
            self._fail(exc, scope)

    def encode(self, emit: Callable[[int, memoryview, int], None]) -> StreamedTail:
        """Encode the file in this worker thread, handing each full part to ``emit``; the tail."""
        transfer = self.uploader.transfer
        assert self.df is not None
        rows = len(self.df)
        rows_per_group = max(1, ROW_GROUP_BYTES * max(rows, 1) // max(self.request.size, 1))
        return encode_parts(
            self.df, compression=self.compression, part_size=transfer.streamed_part_size,
            rows_per_group=rows_per_group, emit=emit,
        )

    async def _receive_parts(self, tg: anyio.abc.TaskGroup) -> None:
        slots = anyio.Semaphore(self.uploader.transfer.max_concurrency)
        try:
            async with self._receive:
                while True:
                    await slots.acquire()  # before taking a part, so that none waits here for a sender
                    try:
                        number, part, crc = await self._receive.receive()
                    except anyio.EndOfStream:
                        break
                    if self.upload is None:
                        self.upload = await self._start()
                    tg.start_soon(self._send_part, number, part, crc, slots, tg.cancel_scope)
        except Exception as exc:
            self._fail(exc, tg.cancel_scope)

    async def _start(self) -> MultipartUpload:
        upload = await self.uploader.start_multipart(self.request)
        if not upload.full_object_crc32c:
            await self.uploader.abort(upload, self.request)
            raise NoFullObjectChecksum(self.request.uri)
        return upload

    async def _send_part(
        self, number: int, part: memoryview, crc: int, slots: anyio.Semaphore, scope: anyio.CancelScope
    ) -> None:
        assert self.upload is not None
        try:
            self.parts[number] = await self.uploader.send_part(
                self.upload, self.request, number, part, encode_crc32c(crc), self.counter
            )
        except Exception as exc:
            self._fail(exc, scope)
        finally:
            slots.release()

    async def _finish(self, tail: StreamedTail) -> None:
        """Send the last part (footer included) and complete with the file's CRC32C; a file smaller
        than one part goes up as one request, its CRC32C recorded as for any small artifact."""
        self.counter.settle(tail.size)
        file_crc = encode_crc32c(tail.file_crc32c)
        if self.upload is None:
            request = dataclasses.replace(
                self.request, size=tail.size, crc32c=file_crc,
                metadata={**self.request.metadata, META_CRC: file_crc},
            )
            await self.uploader.put(request, tail.data, self.counter)
            return
        last = tail.parts + 1
        self.parts[last] = await self.uploader.send_part(
            self.upload, self.request, last, tail.data, encode_crc32c(tail.crc32c), self.counter
        )
        await self.uploader.complete(self.upload, self.request, [self.parts[n] for n in sorted(self.parts)], file_crc)
        logger.debug("uploaded %s (%d bytes, encoded while sent)", self.request.uri, tail.size)


async def upload_streamed(
    uploader: Uploader, request: PutRequest, df: pd.DataFrame, *, compression: str, counter: ByteCounter
) -> bool:
    """Store a big pandas frame encoded row group by row group while its parts are sent. False when
    the server keeps no full-object CRC32C: the caller encodes the file whole and records its CRC32C."""
    await uploader.refuse_existing(request)
    try:
        await StreamedUpload(uploader, request, df, compression=compression, counter=counter).run()
    except NoFullObjectChecksum:
        return False
    return True
