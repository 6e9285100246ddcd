"""The store logic, written once over the primitives of :mod:`clinops_async._stores.backend`.

Upload: encode in a worker thread, CRC32C the bytes, then one request (small artifacts) or concurrent
parts (large ones); a failed or cancelled multipart upload is aborted. Download: a first ranged read
returns the size and metadata; the rest arrives as concurrent ranged reads into one buffer, verified
against the recorded CRC32C before it is decoded (in a worker thread), a few columns at a time, each
column's bytes handed back to the system once decoded.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import anyio
import anyio.abc
import pandas as pd

from .._config import RetryConfig, TransferConfig
from .._exceptions import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ConfigurationError,
    IntegrityError,
    TransientStoreError,
)
from .._lifecycle import LoopBound
from .._retry import retry
from .._tasks import alongside, run_limited, wait_to_end
from . import codecs as _codecs
from .backend import Backend, ObjectChangedError, ObjectMeta, PutRequest
from .buffer import ReceiveBuffer
from .bulk import BulkItem, BulkResult, ProgressCallback, run_bulk
from .checksum import crc32c_b64, crc32c_b64_async, encode_crc32c
from .codecs import StorageFormat
from .names import list_prefix, name_from_key, object_key, validate_prefix
from .projection import FIRST_READ, fetch_projection

__all__ = ["ArtifactInfo", "AsyncPipelineStore", "ByteProgress"]

logger = logging.getLogger("clinops_async")
T = TypeVar("T")

META_CRC = "clinops-crc32c"
META_ROWS = "clinops-rows"
META_COLUMNS = "clinops-columns"
META_FORMAT = "clinops-format"
#: A random token per ``upload`` call: a conditional write that finds an object tells its own earlier
#: attempt (whose answer was lost) from another writer's object by it.
META_WRITE = "clinops-write"

#: Rows of a streamed upload's row group: about this much of the frame's memory each.
_ROW_GROUP_BYTES = 64 * 1024 * 1024

#: How often a download restarts when the object is replaced while it is being read.
_CHANGED_RESTARTS = 3


@dataclass(frozen=True)
class ArtifactInfo:
    """What a store knows about one artifact, without downloading it.

    Attributes:
        name: The artifact name, as given to ``upload``.
        uri: Its full URI.
        size: Stored size in bytes.
        checksum: CRC32C of the stored bytes (base64), or None for objects not written by us.
        last_modified: When it was last written (time-zone aware), when the backend reports it.
        rows: Row count recorded by ``upload`` (None for foreign objects).
        columns: Column count recorded by ``upload`` (None for foreign objects).
        content_type: The stored content type.
    """

    name: str
    uri: str
    size: int
    checksum: str | None
    last_modified: datetime | None
    rows: int | None
    columns: int | None
    content_type: str | None


#: ``progress(bytes_done, bytes_total)`` for one artifact's transfer.
ByteProgress = Callable[[int, int], None]


class _ByteCounter:
    """Counts bytes moved for one artifact and reports them; a failing callback is logged, not raised."""

    def __init__(self, callback: ByteProgress | None) -> None:
        if callback is not None and not callable(callback):
            raise ConfigurationError("progress must be a callable taking (bytes_done, bytes_total)")
        self.callback = callback
        self.done = 0
        self.total = 0

    def start(self, total: int) -> None:
        self.done, self.total = 0, total
        self._emit()

    def add(self, count: int) -> None:
        self.done += count
        self.total = max(self.total, self.done)  # an estimated total never trails the bytes sent
        self._emit()

    def settle(self, total: int) -> None:
        """The exact total, once an estimated one is known (reported with the next bytes)."""
        self.total = total

    def _emit(self) -> None:
        if self.callback is None:
            return
        try:
            self.callback(self.done, self.total)
        except Exception:
            logger.warning("the progress callback raised; the transfer goes on", exc_info=True)


class AsyncPipelineStore(LoopBound):
    """Shared implementation of the async artifact stores (S3, GCS, local)."""

    _backend: Backend
    _noun = "store"

    def __init__(
        self,
        prefix: str,
        format: StorageFormat | str,
        *,
        compression: str,
        transfer: TransferConfig | None,
        retry: RetryConfig | None,
    ) -> None:
        self.prefix = validate_prefix(prefix)
        self.format = _codecs.coerce_format(format)
        if compression not in ("snappy", "zstd", "gzip", "brotli", "lz4", "none"):
            raise ConfigurationError(
                f"compression must be one of snappy, zstd, gzip, brotli, lz4, none; got {compression!r}"
            )
        self.compression = compression
        if transfer is not None and not isinstance(transfer, TransferConfig):
            raise ConfigurationError("transfer must be a TransferConfig")
        if retry is not None and not isinstance(retry, RetryConfig):
            raise ConfigurationError("retry must be a RetryConfig")
        self.transfer = transfer or TransferConfig()
        self.retry_config = retry or RetryConfig()
        self._init_lifecycle()

    async def _open_resource(self) -> None:
        await self._backend.open()

    async def _close_resource(self) -> None:
        await self._backend.aclose()

    async def _ready(self) -> Backend:
        await self._ensure_open()
        return self._backend

    # -- names -----------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The object key of artifact ``name`` (validated; no I/O)."""
        return object_key(self.prefix, name, self.format.value)

    def uri(self, name: str) -> str:
        """The URI of artifact ``name`` (validated; no I/O)."""
        return self._backend.uri(self.key(name))

    # -- single artifacts ------------------------------------------------------------------------

    async def upload(
        self, df: pd.DataFrame, name: str, *, overwrite: bool = True, progress: ByteProgress | None = None
    ) -> str:
        """Encode ``df`` and store it as artifact ``name``.

        Small artifacts go up in one request; artifacts of at least
        ``TransferConfig.multipart_threshold`` bytes go up as concurrent parts. On S3, a Parquet
        frame of at least that size (and at least one part) in memory is encoded row group by row
        group while its finished parts are sent, so the whole file never sits in memory. The
        CRC32C of the encoded bytes is sent with every request and recorded with the artifact,
        with its row and column counts. A failed or cancelled upload leaves nothing behind, and the
        previous version (if any) intact.

        Args:
            df: The DataFrame. Column names must be unique strings.
            name: Artifact name relative to the store prefix, e.g. ``"features/windows_2024_01"``.
            overwrite: When False, never replace an existing artifact (an atomic conditional write).
            progress: Called as ``progress(bytes_sent, bytes_total)`` when the upload starts and
                as its parts complete. A frame large enough to be encoded while its parts are sent
                reports its size in memory as the total until the encoder is done; the last call
                is ``(size, size)``.

        Returns:
            The artifact's URI, e.g. ``s3://bucket/prefix/features/windows_2024_01.parquet``.

        Raises:
            ConfigurationError: The name is invalid (before any I/O).
            SerializationError: The DataFrame cannot be encoded (nothing is written).
            ArtifactExistsError: ``overwrite=False`` and the artifact exists.
            TransientStoreError: Retries exhausted.
            StoreError: Any other storage failure (missing bucket, access denied, ...).
        """
        key = self.key(name)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        counter = _ByteCounter(progress)
        backend = await self._ready()
        estimate = self._streaming_estimate(df, backend)
        if estimate is not None:
            return await self._upload_streamed(backend, key, df, overwrite, counter, estimate)
        encoded, crc = await anyio.to_thread.run_sync(self._encode, df)
        request = self._put_request(
            backend, key, len(encoded.data), crc, (encoded.rows, encoded.columns), overwrite
        )
        counter.start(request.size)
        await self._put(backend, request, encoded.data, counter)
        logger.debug("uploaded %s (%d bytes)", request.uri, request.size)
        return request.uri

    def _put_request(
        self, backend: Backend, key: str, size: int, crc: str, shape: tuple[int, int], overwrite: bool
    ) -> PutRequest:
        """What is stored with an artifact besides its bytes: its checksum, shape, format, write token."""
        return PutRequest(
            key=key,
            uri=backend.uri(key),
            size=size,
            content_type=self.format.content_type,
            metadata={
                META_CRC: crc,
                META_ROWS: str(shape[0]),
                META_COLUMNS: str(shape[1]),
                META_FORMAT: self.format.value,
                META_WRITE: uuid.uuid4().hex,
            },
            crc32c=crc,
            overwrite=overwrite,
        )

    def _streaming_estimate(self, df: object, backend: Backend) -> int | None:
        """The frame's in-memory size when it is big enough to be encoded while its parts are sent."""
        if self.format is not StorageFormat.PARQUET or not backend.supports_multipart:
            return None
        if not isinstance(df, pd.DataFrame):
            return None  # refused with its proper error by the whole-file encoder
        size = int(df.memory_usage(index=True, deep=False).sum())
        if size < max(self.transfer.multipart_threshold, self.transfer.part_size):
            return None
        return size

    async def _upload_streamed(
        self, backend: Backend, key: str, df: pd.DataFrame, overwrite: bool, counter: _ByteCounter, estimate: int
    ) -> str:
        """Encode row group by row group in a worker thread while the finished parts go up.

        At most one part waits between the encoder and the senders, so memory holds the frame, one
        row group's Arrow table and ``max_concurrency + 3`` parts, never the whole file. The CRC32C
        recorded with the artifact is drawn before the first byte is encoded; the encoder steers the
        file's checksum to it (see ``_codecs.encode_parts``).
        """
        uri = backend.uri(key)
        target = secrets.randbits(32)
        rows = len(df)
        request = self._put_request(backend, key, estimate, encode_crc32c(target), df.shape, overwrite)
        await self._refuse_existing(backend, request)
        rows_per_group = max(1, _ROW_GROUP_BYTES * max(rows, 1) // max(estimate, 1))
        send, receive = anyio.create_memory_object_stream[tuple[int, memoryview, int]](1)
        upload: list[Any] = []
        parts: dict[int, Any] = {}
        failures: list[BaseException] = []
        tails: list[_codecs.StreamedTail] = []
        counter.start(estimate)

        def encode() -> _codecs.StreamedTail:
            def emit(number: int, part: memoryview, crc: int) -> None:
                anyio.from_thread.run(send.send, (number, part, crc))

            return _codecs.encode_parts(
                df, compression=self.compression, part_size=self.transfer.streamed_part_size,
                rows_per_group=rows_per_group, target_crc32c=target, emit=emit,
            )

        async def produce(scope: anyio.CancelScope) -> None:
            try:
                with send:
                    tails.append(await anyio.to_thread.run_sync(encode))
            except Exception as exc:
                failures.append(exc)
                scope.cancel()

        async def send_part(number: int, part: memoryview, crc: int, slots: anyio.Semaphore,
                            scope: anyio.CancelScope) -> None:
            try:
                parts[number] = await self._send_part(
                    backend, upload[0], request, number, part, encode_crc32c(crc), counter
                )
            except Exception as exc:
                failures.append(exc)
                scope.cancel()
            finally:
                slots.release()

        async def consume(tg: anyio.abc.TaskGroup) -> None:
            slots = anyio.Semaphore(self.transfer.max_concurrency)
            try:
                async with receive:
                    async for number, part, crc in receive:
                        if not upload:
                            upload.append(await self._start_multipart(backend, request))
                        await slots.acquire()
                        tg.start_soon(send_part, number, part, crc, slots, tg.cancel_scope)
            except Exception as exc:
                failures.append(exc)
                tg.cancel_scope.cancel()

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(produce, tg.cancel_scope)
                tg.start_soon(consume, tg)
            if failures:
                raise failures[0]
            tail = tails[0]
            counter.settle(tail.size)
            if not upload:  # the encoded file is smaller than one part
                await self._put(backend, dataclasses.replace(request, size=tail.size), tail.data, counter)
            else:
                last = tail.parts + 1
                parts[last] = await self._send_part(
                    backend, upload[0], request, last, tail.data, encode_crc32c(tail.crc32c), counter
                )
                await self._complete(backend, upload[0], request, [parts[n] for n in sorted(parts)])
        except BaseException:
            if upload:
                await self._abort(backend, upload[0], request)
            raise
        logger.debug("uploaded %s (%d bytes, encoded while sent)", uri, tails[0].size)
        return uri

    def _encode(self, df: pd.DataFrame) -> tuple[_codecs.Encoded, str]:
        # The checksum is taken on the same worker thread: on the loop, the GIL hand-over after the
        # CRC (which releases it) could wait for an encoding thread for milliseconds.
        encoded = _codecs.encode(df, self.format, compression=self.compression)
        return encoded, crc32c_b64(encoded.data)

    async def _put(self, backend: Backend, request: PutRequest, data: memoryview, counter: _ByteCounter) -> None:
        if request.size < self.transfer.multipart_threshold:

            async def put_once() -> None:
                try:
                    await backend.put(request, data)
                except ArtifactExistsError:
                    # A retried conditional write may find the object an earlier attempt stored, and so
                    # may the first one: the HTTP client re-sends a PUT whose connection dropped.
                    if await self._is_ours(backend, request):
                        return
                    raise

            await retry(self.retry_config, put_once, what=f"upload of {request.uri}")
            counter.add(request.size)
            return
        part_size = self.transfer.part_size_for(request.size)
        await self._refuse_existing(backend, request)
        if not backend.supports_multipart:
            await backend.put_large(request, data, part_size)
            counter.add(request.size)
            return
        await self._multipart(backend, request, data, part_size, counter)

    async def _refuse_existing(self, backend: Backend, request: PutRequest) -> None:
        """Fail fast, before a large artifact is sent, when ``overwrite=False`` and it exists; the final
        write is still conditional."""
        if not request.overwrite and await self._exists_key(backend, request.key):
            raise ArtifactExistsError(
                f"{request.uri} already exists; pass overwrite=True to replace it", uri=request.uri
            )

    async def _is_ours(self, backend: Backend, request: PutRequest) -> bool:
        try:
            meta = await backend.head(request.key)
        except ArtifactNotFoundError:
            return False
        mine = request.metadata.get(META_WRITE)
        return mine is not None and meta.metadata.get(META_WRITE) == mine and meta.size == request.size

    async def _multipart(
        self, backend: Backend, request: PutRequest, data: memoryview, part_size: int, counter: _ByteCounter
    ) -> None:
        upload = await self._start_multipart(backend, request)
        count = -(-request.size // part_size)
        parts: list[Any] = [None] * count

        def job(index: int) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                chunk = data[index * part_size : (index + 1) * part_size]
                crc = await crc32c_b64_async(chunk)
                parts[index] = await self._send_part(backend, upload, request, index + 1, chunk, crc, counter)

            return send

        try:
            await run_limited(self.transfer.max_concurrency, (job(i) for i in range(count)))
            await self._complete(backend, upload, request, parts)
        except BaseException:
            await self._abort(backend, upload, request)
            raise

    async def _start_multipart(self, backend: Backend, request: PutRequest) -> Any:
        # Waited for to the end: a cancellation while S3 creates the upload would lose its id, and with
        # it the only way to abort it; a cancelled start aborts the upload it created.
        return await wait_to_end(
            retry(self.retry_config, lambda: backend.create_multipart(request), what=f"start of {request.uri}"),
            undo=lambda created: self._abort(backend, created, request),
        )

    async def _send_part(
        self, backend: Backend, upload: Any, request: PutRequest, number: int, data: memoryview, crc: str,
        counter: _ByteCounter,
    ) -> Any:
        part = await retry(
            self.retry_config, lambda: backend.upload_part(upload, number, data, crc),
            what=f"part {number} of {request.uri}",
        )
        counter.add(len(data))
        return part

    async def _complete(self, backend: Backend, upload: Any, request: PutRequest, parts: list[Any]) -> None:
        await retry(
            self.retry_config, lambda: backend.complete_multipart(upload, parts), what=f"completion of {request.uri}"
        )

    async def _abort(self, backend: Backend, upload: Any, request: PutRequest) -> None:
        with anyio.CancelScope(shield=True), anyio.move_on_after(60):
            try:
                await retry(
                    self.retry_config, lambda: backend.abort_multipart(upload), what=f"abort of {request.uri}"
                )
            except Exception:
                logger.warning("could not abort the multipart upload of %s", request.uri, exc_info=True)

    async def download(
        self, name: str, *, columns: Sequence[str] | None = None, progress: ByteProgress | None = None
    ) -> pd.DataFrame:
        """Download artifact ``name`` and decode it.

        Large artifacts arrive as concurrent ranged reads into one buffer. The bytes are checked
        against the CRC32C recorded at upload before anything is decoded.

        Args:
            name: Artifact name relative to the store prefix.
            columns: Only these columns (Parquet: the index comes too). None for all.
            progress: Called as ``progress(bytes_received, bytes_total)`` as ranges arrive.

        Returns:
            The DataFrame, exactly as uploaded (Parquet).

        Raises:
            ConfigurationError: Invalid name, or a requested column is not in the artifact.
            ArtifactNotFoundError: No such artifact.
            IntegrityError: The bytes do not match their checksum; no data is returned.
            SerializationError: The stored bytes are not a readable artifact of this format.
            TransientStoreError: Retries exhausted.
        """
        key = self.key(name)
        cols = self._check_columns(columns)
        counter = _ByteCounter(progress)
        backend = await self._ready()
        if cols is not None and self.format is StorageFormat.PARQUET and backend.supports_ranged_reads:
            data = await self._fetch_projected(backend, key, cols, counter)
        else:
            data = await self._fetch(backend, key, counter)
        uri = backend.uri(key)
        if isinstance(data, ReceiveBuffer):
            received = data
            del data
            return await anyio.to_thread.run_sync(lambda: self._decode_received(received, cols, uri))
        box: list[Any] = [data]
        del data
        return await anyio.to_thread.run_sync(
            lambda: _codecs.decode_owned(box, self.format, columns=cols, uri=uri)
        )

    def _decode_received(self, buffer: ReceiveBuffer, columns: list[str] | None, uri: str) -> pd.DataFrame:
        # The decoder hands back each range of the buffer once it is decoded, so the received bytes
        # turn into the frame instead of adding to it; the rest is unmapped here, off the loop.
        try:
            return _codecs.decode_owned(
                [buffer.view], self.format, columns=columns, uri=uri, release=buffer.release
            )
        finally:
            buffer.close()

    @staticmethod
    def _check_columns(columns: Sequence[str] | None) -> list[str] | None:
        if columns is None:
            return None
        if isinstance(columns, str) or not all(isinstance(c, str) for c in columns):
            raise ConfigurationError("columns must be a list of column names (strings)")
        return list(columns)

    async def _fetch(self, backend: Backend, key: str, counter: _ByteCounter) -> ReceiveBuffer | bytes:
        uri = backend.uri(key)
        for _ in range(_CHANGED_RESTARTS):
            try:
                return await self._fetch_once(backend, key, counter)
            except ObjectChangedError:
                logger.debug("%s changed while it was being read; reading it again", uri)
        raise TransientStoreError(f"{uri} kept changing while it was being downloaded", uri=uri)

    async def _fetch_projected(
        self, backend: Backend, key: str, columns: list[str], counter: _ByteCounter
    ) -> ReceiveBuffer | memoryview | bytes:
        """The footer and the chunks of ``columns`` of a large Parquet artifact; small ones arrive whole."""
        uri = backend.uri(key)
        for _ in range(_CHANGED_RESTARTS):
            first = await retry(
                self.retry_config, lambda: backend.read_first(key, FIRST_READ), what=f"download of {uri}"
            )
            meta, head = first
            if meta.size <= len(head):
                counter.start(meta.size)
                counter.add(len(head))
                await self._verify(meta, head, uri)
                return head
            if META_FORMAT not in meta.metadata:
                break  # not written by this library: no page checksums to rely on, so read it whole
            try:
                view = await fetch_projection(
                    backend, key, columns, transfer=self.transfer, retry_config=self.retry_config,
                    counter=counter, first=first,
                )
            except ObjectChangedError:
                continue
            if view is None:
                break
            return view
        return await self._fetch(backend, key, counter)

    async def _fetch_once(self, backend: Backend, key: str, counter: _ByteCounter) -> ReceiveBuffer | bytes:
        cfg = self.retry_config
        uri = backend.uri(key)
        size = self.transfer.part_size
        meta, first = await retry(cfg, lambda: backend.read_first(key, size), what=f"download of {uri}")
        counter.start(meta.size)
        counter.add(len(first))
        if meta.size <= len(first):
            await self._verify(meta, first, uri)
            return first
        # Memory from Arrow's pool, not a bytearray: no memset of the whole object on the event loop.
        # Each range's pages are committed in a worker thread while its request is on its way, so
        # the loop does not take the page faults as the bytes arrive (see _buffer).
        buffer = ReceiveBuffer(meta.size)
        try:
            head = len(first)
            await buffer.populate(0, head)
            buffer.view[:head] = first
            del first

            def job(start: int, turn: int) -> Callable[[], Awaitable[None]]:
                async def read() -> None:
                    # Building a request costs the loop a few milliseconds in botocore: one per loop
                    # iteration, not the whole first wave at once, nor on the heels of a finished range.
                    for _ in range(turn + 1):
                        await anyio.lowlevel.checkpoint()
                    target = buffer.view[start : start + size]
                    await alongside(
                        lambda: buffer.populate(start, len(target)),
                        lambda: retry(
                            cfg, lambda: backend.read_into(key, start, target, meta.etag),
                            what=f"range {start} of {uri}",
                        ),
                    )
                    counter.add(len(target))

                return read

            starts = range(head, meta.size, size)
            waves = self.transfer.max_concurrency
            await run_limited(waves, (job(s, i if i < waves else 0) for i, s in enumerate(starts)))
            await self._verify(meta, buffer.view, uri)
        except BaseException:
            buffer.close()
            raise
        return buffer

    async def _verify(self, meta: ObjectMeta, data: memoryview | bytes, uri: str) -> None:
        expected = meta.metadata.get(META_CRC) or meta.server_crc32c
        if expected is None:
            logger.debug("%s carries no CRC32C; its bytes are not verified", uri)
            return
        if len(data) != meta.size:
            raise IntegrityError(f"{uri}: received {len(data)} bytes, expected {meta.size}", uri=uri)
        actual = await crc32c_b64_async(memoryview(data))
        if actual != expected:
            raise IntegrityError(
                f"{uri} failed its integrity check (CRC32C {actual}, recorded {expected}); "
                "the data was not returned. Retry the download; if it persists the stored object is damaged",
                uri=uri,
            )

    async def exists(self, name: str) -> bool:
        """True when artifact ``name`` exists.

        Raises:
            ConfigurationError: Invalid name.
        """
        key = self.key(name)
        return await self._exists_key(await self._ready(), key)

    async def _exists_key(self, backend: Backend, key: str) -> bool:
        try:
            await retry(self.retry_config, lambda: backend.head(key), what=f"check of {backend.uri(key)}")
        except ArtifactNotFoundError:
            return False
        return True

    async def info(self, name: str) -> ArtifactInfo:
        """Size, checksum, last-modified time, and the row and column counts recorded at upload.

        Raises:
            ConfigurationError: Invalid name.
            ArtifactNotFoundError: No such artifact.
        """
        key = self.key(name)
        backend = await self._ready()
        meta = await retry(self.retry_config, lambda: backend.head(key), what=f"info of {backend.uri(key)}")
        return ArtifactInfo(
            name=name,
            uri=backend.uri(key),
            size=meta.size,
            checksum=meta.metadata.get(META_CRC) or meta.server_crc32c,
            last_modified=meta.last_modified,
            rows=_int_or_none(meta.metadata.get(META_ROWS)),
            columns=_int_or_none(meta.metadata.get(META_COLUMNS)),
            content_type=meta.content_type,
        )

    async def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete artifact ``name``.

        Args:
            name: Artifact name.
            missing_ok: When True, a missing artifact is not an error.

        Raises:
            ConfigurationError: Invalid name.
            ArtifactNotFoundError: The artifact does not exist (unless ``missing_ok``).
        """
        key = self.key(name)
        backend = await self._ready()
        if not missing_ok and not await self._exists_key(backend, key):
            raise ArtifactNotFoundError(f"{backend.uri(key)} does not exist", uri=backend.uri(key))
        await retry(self.retry_config, lambda: backend.delete(key), what=f"delete of {backend.uri(key)}")

    async def list_artifacts(self, prefix: str = "") -> list[str]:
        """Names of the artifacts under ``prefix`` (a plain string prefix), sorted.

        Names are relative to the store prefix, without the extension, so each can be passed to
        ``download``. Every page of the listing is read.

        Raises:
            ConfigurationError: Invalid prefix.
        """
        key_prefix = list_prefix(self.prefix, prefix)
        backend = await self._ready()
        ext = self.format.value

        async def collect() -> list[str]:
            names = []
            async for key in backend.iter_keys(key_prefix):
                name = name_from_key(self.prefix, key, ext)
                if name is not None:
                    names.append(name)
            return names

        return sorted(await retry(self.retry_config, collect, what=f"listing of {backend.uri(key_prefix)}"))

    # -- bulk ------------------------------------------------------------------------------------

    async def upload_many(
        self,
        frames: Mapping[str, pd.DataFrame] | Iterable[tuple[str, pd.DataFrame]],
        *,
        overwrite: bool = True,
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[str]:
        """Upload many artifacts at once, with at most ``concurrency`` in flight.

        Args:
            frames: ``{name: DataFrame}``, a list of ``(name, DataFrame)`` pairs, or an iterator of
                pairs (a generator), which is consumed lazily: only the frames in flight are held,
                and an invalid pair becomes a failed outcome instead of an error for the call.
            overwrite: As for ``upload``.
            concurrency: Artifacts in flight (default ``TransferConfig.bulk_concurrency``).
            progress: Called as ``progress(outcome, done, total)`` after each artifact (``total`` is
                None for an iterator of unknown length).

        Returns:
            A BulkResult with one outcome per artifact, in input order (value: the URI).

        Raises:
            ConfigurationError: An invalid option, or (for a mapping or list) an invalid or repeated
                name, before anything is sent.
        """
        limit = self._bulk_limit(concurrency)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        pairs: Iterable[Any] = frames.items() if isinstance(frames, Mapping) else frames
        total: int | None = None
        if hasattr(pairs, "__len__"):  # a mapping or a list: everything is checked before any I/O
            pairs = list(pairs)
            total = len(pairs)
            names = [_pair_name(pair, self.key) for pair in pairs]
            if len(set(names)) != len(names):
                raise ConfigurationError("the same artifact name appears twice in one bulk transfer")
        await self._ready()

        def upload(df: pd.DataFrame, name: str) -> Callable[[], Awaitable[str]]:
            return lambda: self.upload(df, name, overwrite=overwrite)

        def items() -> Iterator[BulkItem[str]]:
            seen: set[str] = set()
            for pair in pairs:
                try:
                    name = _pair_name(pair, self.key)
                    if name in seen:
                        raise ConfigurationError(f"artifact name {name!r} appears twice in one bulk transfer")
                except ConfigurationError as exc:
                    yield BulkItem(_label(pair), "", failure=exc)
                    continue
                seen.add(name)
                yield BulkItem(name, self.uri(name), upload(pair[1], name))

        return await run_bulk(items(), limit=limit, total=total, progress=progress)

    async def download_many(
        self,
        names: Iterable[str],
        *,
        columns: Sequence[str] | None = None,
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[pd.DataFrame]:
        """Download many artifacts at once, with at most ``concurrency`` in flight.

        Returns:
            A BulkResult with one outcome per name, in input order (value: the DataFrame);
            ``result.values`` is ``{name: DataFrame}`` of those that arrived.

        Raises:
            ConfigurationError: An invalid name or option, before anything is sent.
        """
        limit = self._bulk_limit(concurrency)
        listed = [names] if isinstance(names, str) else list(names)
        for name in listed:
            self.key(name)
        if len(set(listed)) != len(listed):
            raise ConfigurationError("the same artifact name appears twice in one bulk transfer")
        cols = self._check_columns(columns)
        await self._ready()

        def download(name: str) -> Callable[[], Awaitable[pd.DataFrame]]:
            return lambda: self.download(name, columns=cols)

        items = (BulkItem(name, self.uri(name), download(name)) for name in listed)
        return await run_bulk(items, limit=limit, total=len(listed), progress=progress)

    def _bulk_limit(self, concurrency: int | None) -> int:
        limit = self.transfer.bulk_concurrency if concurrency is None else concurrency
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"concurrency must be a positive integer; got {concurrency!r}")
        return limit


def _pair_name(pair: object, check: Callable[[str], str]) -> str:
    if not (isinstance(pair, tuple) and len(pair) == 2):
        raise ConfigurationError("upload_many takes {name: DataFrame} or (name, DataFrame) pairs")
    check(pair[0])
    return str(pair[0])


def _label(pair: object) -> str:
    name = pair[0] if isinstance(pair, tuple) and pair else None
    return name if isinstance(name, str) else repr(type(pair).__name__)


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None

