"""``upload_batches``: a stream of frames or record batches stored as one Parquet artifact, with
memory bounded by a row group and the parts in flight, never by the stream.

The encoder (:func:`.codecs.encode_stream`) runs in a worker thread and pulls the batches itself: a
plain iterable is iterated in that thread (so a generator that reads files never blocks the event
loop), an async iterable on the event loop, one batch at a time. Where the encoded bytes go:

- **S3** (and servers that keep a full-object CRC32C): parts go up while the stream is encoded, as
  for a large in-memory frame (:class:`.streamed.StreamedUpload`); the file's CRC32C goes with the
  completion and the server checks it. Whether the server keeps one is learnt, once per store, by
  starting and aborting a multipart upload before the stream is touched: a stream cannot be read
  twice, so the fallback must be chosen before the first batch.
- **GCS** and S3 servers without full-object checksums: the file is spooled to a temporary file
  (disk, not memory), then sent from it as any artifact of that size is, with its CRC32C. A GCS
  resumable session that is lost restarts from byte 0, which only a replayable copy allows; the
  spool is that copy.
- **The local store**: the file is spooled in the store's root and moved into place atomically.

A failure or a cancellation aborts the multipart upload or deletes the spooled file, so nothing is
left; ``overwrite=False`` is checked before the stream is touched and again by the final write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import mmap
import os
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import pandas as pd
import pyarrow as pa

from .._exceptions import ConfigurationError
from .checksum import crc32c_int, encode_crc32c
from .codecs import END_OF_STREAM, PartSink, StreamedTail, StreamShape, encode_stream
from .codecs.tables import is_polars_frame
from .metadata import META_COLUMNS, META_CRC, META_ROWS
from .streamed import StreamedUpload
from .upload import put_request

if TYPE_CHECKING:
    from collections.abc import Callable

    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from .backend import ByteCounter, MultipartUpload, PutRequest
    from .codecs import StorageFormat
    from .upload import Uploader

__all__ = ["BatchSource", "check_batch_source", "check_schema", "upload_batches"]

logger = logging.getLogger("clinops_async")

#: What ``upload_batches`` takes: an iterable or async iterable of frames or record batches.
BatchSource = Any


def check_batch_source(source: object) -> None:
    """ConfigurationError (before any I/O) unless ``source`` is an iterable or async iterable of batches."""
    if isinstance(source, pd.DataFrame | pa.Table | pa.RecordBatch) or is_polars_frame(source):
        raise ConfigurationError(
            f"upload_batches takes an iterable of frames or batches, not one {type(source).__name__}; "
            "pass [frame], or use upload() for a frame that fits in memory"
        )
    if isinstance(source, str | bytes) or not (hasattr(source, "__aiter__") or hasattr(source, "__iter__")):
        raise ConfigurationError(
            f"upload_batches takes an iterable or async iterable of frames or record batches; got "
            f"{type(source).__name__}"
        )


def check_schema(schema: object) -> pa.Schema | None:
    if schema is not None and not isinstance(schema, pa.Schema):
        raise ConfigurationError(f"schema must be a pyarrow.Schema or None; got {type(schema).__name__}")
    return schema


def _row_group_bytes(uploader: Uploader) -> int:
    """Batches gathered per row group: two parts' worth of Arrow memory (32 MiB by default). The
    gathered batches are most of the encoder's memory, and ``iter_batches`` holds two row groups
    decoded: at 64 MiB a 1 GiB stream peaked 250-400 MiB above the interpreter's memory going up."""
    return 2 * uploader.transfer.part_size


class _SourceStopped(Exception):
    """The async source's task ended without exhausting it: the upload is being cancelled."""


class _Pull:
    """The next batch, asked for from the encoder's worker thread.

    A plain iterable is advanced in that thread. An async iterable is advanced by :meth:`produce`, a
    task beside the upload that hands each batch over a stream without a buffer: cancelling the
    upload cancels that task, which wakes the encoder even when the source never yields again.
    """

    def __init__(self, source: BatchSource) -> None:
        self.is_async = hasattr(source, "__aiter__")
        self.iterator: Any = source.__aiter__() if self.is_async else iter(source)
        self._send: MemoryObjectSendStream[object] | None = None
        self._receive: MemoryObjectReceiveStream[object] | None = None
        if self.is_async:
            self._send, self._receive = anyio.create_memory_object_stream[object](0)
        self.finished = False
        self.error: Exception | None = None

    async def produce(self) -> None:
        assert self._send is not None and self._receive is not None
        with self._send, self._receive:  # the flags are set before the streams close: the encoder sees them
            try:
                while True:
                    try:
                        item = await self.iterator.__anext__()
                    except StopAsyncIteration:
                        self.finished = True
                        return
                    await self._send.send(item)
            except Exception as exc:
                self.error = exc

    def __call__(self) -> object:
        anyio.from_thread.check_cancelled()
        if not self.is_async:
            return next(self.iterator, END_OF_STREAM)
        item = anyio.from_thread.run(self._receive_next)
        if item is END_OF_STREAM and not self.finished:
            if self.error is not None:
                raise self.error
            raise _SourceStopped
        return item

    async def _receive_next(self) -> object:
        assert self._receive is not None
        try:
            return await self._receive.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            return END_OF_STREAM

    def close_streams(self) -> None:
        for stream in (self._send, self._receive):
            if stream is not None:
                stream.close()

    async def close(self) -> None:
        """Close the source when it is a generator (its ``finally`` blocks run), shielded."""
        with anyio.CancelScope(shield=True):
            try:
                if self.is_async and hasattr(self.iterator, "aclose"):
                    await self.iterator.aclose()
                elif hasattr(self.iterator, "close"):
                    await anyio.to_thread.run_sync(self.iterator.close)
            except Exception:
                logger.debug("closing the batch source raised", exc_info=True)


class _StreamedBatches(StreamedUpload):
    """A :class:`StreamedUpload` whose encoder pulls batches from a stream instead of slicing a frame."""

    def __init__(
        self, uploader: Uploader, request: PutRequest, pull: _Pull, *, schema: pa.Schema | None,
        compression: str, counter: ByteCounter,
    ) -> None:
        super().__init__(uploader, request, None, compression=compression, counter=counter)
        self.pull = pull
        self.schema = schema
        self.shape: StreamShape | None = None

    def encode(self, emit: Callable[[int, memoryview, int], None]) -> StreamedTail:
        sink = PartSink(self.uploader.transfer.streamed_part_size, emit)
        self.shape = encode_stream(
            self.pull, sink, schema=self.schema, compression=self.compression,
            row_group_bytes=_row_group_bytes(self.uploader), before_footer=sink.final,
        )
        return sink.tail()

    async def _finish(self, tail: StreamedTail) -> None:
        if self.upload is None and self.shape is not None:  # one request: its counts go with it
            shape = {META_ROWS: str(self.shape.rows), META_COLUMNS: str(self.shape.columns)}
            self.request = dataclasses.replace(self.request, metadata={**self.request.metadata, **shape})
        await super()._finish(tail)


async def upload_batches(
    uploader: Uploader, key: str, fmt: StorageFormat, source: BatchSource, *, schema: pa.Schema | None,
    compression: str, overwrite: bool, counter: ByteCounter,
) -> str:
    """Store the stream ``source`` as the Parquet artifact ``key`` (see the module text); its URI."""
    backend = uploader.backend
    request = put_request(backend, key, fmt, size=0, crc=None, shape=(0, 0), overwrite=overwrite)
    # The counts are only known at the end: a multipart upload's metadata is fixed at its start.
    request = dataclasses.replace(
        request, metadata={k: v for k, v in request.metadata.items() if k not in (META_ROWS, META_COLUMNS)}
    )
    await uploader.refuse_existing(request)
    streamed = backend.supports_multipart and await _keeps_full_object_crc32c(uploader, request)
    pull = _Pull(source)
    try:
        await _run_with_source(pull, uploader, request, streamed, schema=schema, compression=compression,
                               counter=counter)
    except BaseException:
        await pull.close()
        raise
    logger.debug("uploaded %s (streamed)", request.uri)
    return request.uri


async def _run_with_source(
    pull: _Pull, uploader: Uploader, request: PutRequest, streamed: bool, *, schema: pa.Schema | None,
    compression: str, counter: ByteCounter,
) -> None:
    """The upload, beside the task that reads an async source (stopped when the upload ends)."""
    failure: Exception | None = None
    async with anyio.create_task_group() as tg:
        if pull.is_async:
            tg.start_soon(pull.produce)
        try:
            if streamed:
                counter.start(0)
                upload = _StreamedBatches(uploader, request, pull, schema=schema, compression=compression,
                                          counter=counter)
                await upload.run()
            else:
                await _spooled(uploader, request, pull, schema=schema, compression=compression, counter=counter)
        except Exception as exc:
            failure = exc  # raised as it is, not inside an exception group
        finally:
            tg.cancel_scope.cancel()
    pull.close_streams()
    if failure is not None:
        raise failure


async def _keeps_full_object_crc32c(uploader: Uploader, request: PutRequest) -> bool:
    backend = uploader.backend
    if backend.full_object_crc32c is None:
        upload: MultipartUpload = await uploader.start_multipart(request)  # learns it, once per store
        await uploader.abort(upload, request)
    return bool(backend.full_object_crc32c)


class _ChecksummedFile:
    """A file the encoder writes to, with the CRC32C and size of what was written."""

    def __init__(self, handle: Any) -> None:
        self.handle = handle
        self.crc = 0
        self.size = 0

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.crc = crc32c_int(view, self.crc)
        self.size += len(view)
        return int(self.handle.write(view))


async def _spooled(
    uploader: Uploader, request: PutRequest, pull: _Pull, *, schema: pa.Schema | None, compression: str,
    counter: ByteCounter,
) -> None:
    """Encode the stream into a temporary file, then store it with its CRC32C; the file is removed."""
    backend = uploader.backend
    fd, path = backend.new_spool_file(request.key)
    try:
        with os.fdopen(fd, "wb") as handle:
            sink = _ChecksummedFile(handle)
            shape = await anyio.to_thread.run_sync(
                lambda: encode_stream(pull, sink, schema=schema, compression=compression,
                                      row_group_bytes=_row_group_bytes(uploader))
            )
        crc = encode_crc32c(sink.crc)
        final = dataclasses.replace(
            request, size=sink.size, crc32c=crc,
            metadata={**request.metadata, META_CRC: crc, META_ROWS: str(shape.rows),
                      META_COLUMNS: str(shape.columns)},
        )
        counter.start(final.size)
        if backend.moves_spooled_files:
            await backend.put_file(final, path)
            counter.add(final.size)
        else:
            await _put_mapped(uploader, final, path, counter)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def _map(path: str) -> mmap.mmap:
    with open(path, "rb") as handle:
        return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)


async def _put_mapped(uploader: Uploader, request: PutRequest, path: str, counter: ByteCounter) -> None:
    """Send the spooled file as any artifact of its size is sent, from a read-only mapping of it."""
    mapping = await anyio.to_thread.run_sync(_map, path)
    view = memoryview(mapping)
    try:
        await uploader.put(request, view, counter)
    finally:
        with contextlib.suppress(BufferError):  # a slice still held: the mapping goes with it
            view.release()
            mapping.close()
