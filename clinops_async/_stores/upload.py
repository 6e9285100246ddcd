"""Sending one encoded artifact: one request, or concurrent parts under a full-object CRC32C.

Every request carries the CRC32C of its bytes. A multipart upload asks the server for a full-object
CRC32C, the one S3 checks at completion and reports afterwards, so large artifacts verify on
download exactly as small ones do. A failed or cancelled multipart upload is aborted.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import ArtifactChangedError, ArtifactExistsError, ArtifactNotFoundError
from .._retry import retry
from .._tasks import run_limited, wait_to_end
from .backend import Backend, ByteCounter, MultipartUpload, PutRequest, changed_error
from .checksum import crc32c_b64_async
from .metadata import META_COLUMNS, META_CRC, META_FORMAT, META_ROWS, META_WRITE

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._config import RetryConfig, TransferConfig
    from .codecs import StorageFormat

__all__ = ["Uploader", "put_request"]

logger = logging.getLogger("clinops_async")


def put_request(
    backend: Backend, key: str, fmt: StorageFormat, *, size: int, crc: str | None, shape: tuple[int, int],
    overwrite: bool, if_match: str | None = None,
) -> PutRequest:
    """What is stored with an artifact besides its bytes: its checksum (when known before the bytes
    are sent), shape, format and a write token."""
    metadata = {
        META_ROWS: str(shape[0]),
        META_COLUMNS: str(shape[1]),
        META_FORMAT: fmt.value,
        META_WRITE: uuid.uuid4().hex,
    }
    if crc is not None:
        metadata[META_CRC] = crc
    return PutRequest(
        key=key, uri=backend.uri(key), size=size, content_type=fmt.content_type, metadata=metadata,
        crc32c=crc, overwrite=overwrite, if_match=if_match,
    )


class Uploader:
    """The steps of storing one artifact on one backend, each retried on its own."""

    def __init__(self, backend: Backend, transfer: TransferConfig, retry_config: RetryConfig) -> None:
        self.backend = backend
        self.transfer = transfer
        self.retry_config = retry_config

    async def put(self, request: PutRequest, data: memoryview, counter: ByteCounter) -> None:
        """Store ``data`` whole: one request below the multipart threshold, concurrent parts above."""
        if request.size < self.transfer.multipart_threshold:
            if request.if_match is not None:
                await self.refuse_existing(request)
            await retry(self.retry_config, lambda: self._put_once(request, data), what=f"upload of {request.uri}")
            counter.add(request.size)
            return
        part_size = self.transfer.part_size_for(request.size)
        await self.refuse_existing(request)
        if not self.backend.supports_multipart:
            await self.backend.put_large(request, data, part_size)
            counter.add(request.size)
            return
        await self._multipart(request, data, part_size, counter)

    async def _put_once(self, request: PutRequest, data: memoryview) -> None:
        try:
            await self.backend.put(request, data)
        except (ArtifactExistsError, ArtifactChangedError):
            # A retried conditional write may find the object an earlier attempt stored, and so may
            # the first one: the HTTP client re-sends a PUT whose connection dropped.
            if await self._is_ours(request):
                return
            raise

    async def exists(self, key: str) -> bool:
        try:
            await retry(self.retry_config, lambda: self.backend.head(key), what=f"check of {self.backend.uri(key)}")
        except ArtifactNotFoundError:
            return False
        return True

    async def refuse_existing(self, request: PutRequest) -> None:
        """Fail fast, before an artifact is sent, when ``overwrite=False`` and it exists, or when it is
        no longer the version ``if_match`` names; the final write is still conditional (on servers
        that honour the condition, this check alone on the others)."""
        if not request.overwrite and await self.exists(request.key):
            raise ArtifactExistsError(
                f"{request.uri} already exists; pass overwrite=True to replace it", uri=request.uri
            )
        if request.if_match is None:
            return
        try:
            meta = await retry(
                self.retry_config, lambda: self.backend.head(request.key), what=f"check of {request.uri}"
            )
        except ArtifactNotFoundError:
            raise changed_error(request, "no longer exists") from None
        if meta.etag != request.if_match:
            raise changed_error(request, f"is at {meta.etag}, not {request.if_match}")

    async def _is_ours(self, request: PutRequest) -> bool:
        try:
            meta = await self.backend.head(request.key)
        except ArtifactNotFoundError:
            return False
        mine = request.metadata.get(META_WRITE)
        return mine is not None and meta.metadata.get(META_WRITE) == mine and meta.size == request.size

    async def _multipart(self, request: PutRequest, data: memoryview, part_size: int, counter: ByteCounter) -> None:
        assert request.crc32c is not None  # a whole file's CRC32C is known before it is sent
        upload = await self.start_multipart(request)
        count = -(-request.size // part_size)
        parts: list[Any] = [None] * count

        def job(index: int) -> Callable[[], Awaitable[None]]:
            async def send() -> None:
                chunk = data[index * part_size : (index + 1) * part_size]
                crc = await crc32c_b64_async(chunk)
                parts[index] = await self.send_part(upload, request, index + 1, chunk, crc, counter)

            return send

        try:
            await run_limited(self.transfer.max_concurrency, (job(i) for i in range(count)))
            await self.complete(upload, request, parts, request.crc32c)
        except BaseException as exc:
            await self.abort(upload, request, exc)
            raise

    async def start_multipart(self, request: PutRequest) -> MultipartUpload:
        # Waited for to the end: a cancellation while S3 creates the upload would lose its id, and with
        # it the only way to abort it; a cancelled start aborts the upload it created.
        upload: MultipartUpload = await wait_to_end(
            retry(self.retry_config, lambda: self.backend.create_multipart(request), what=f"start of {request.uri}"),
            undo=lambda created: self.abort(created, request),
        )
        if self.backend.full_object_crc32c is None:
            self.backend.full_object_crc32c = upload.full_object_crc32c
            if not upload.full_object_crc32c:
                logger.warning(
                    "%s keeps no full-object CRC32C for multipart uploads; large Parquet artifacts on it "
                    "are encoded whole before they are sent, with their CRC32C recorded in their metadata",
                    self.backend.uri(""),
                )
        return upload

    async def send_part(
        self, upload: MultipartUpload, request: PutRequest, number: int, data: memoryview, crc: str,
        counter: ByteCounter,
    ) -> Any:
        part = await retry(
            self.retry_config, lambda: self.backend.upload_part(upload, number, data, crc),
            what=f"part {number} of {request.uri}",
        )
        counter.add(len(data))
        return part

    async def complete(self, upload: MultipartUpload, request: PutRequest, parts: list[Any], crc: str) -> None:
        await retry(
            self.retry_config, lambda: self.backend.complete_multipart(upload, parts, crc),
            what=f"completion of {request.uri}",
        )

    async def abort(self, upload: MultipartUpload, request: PutRequest, failure: BaseException | None = None) -> None:
        """Abort the upload, shielded from cancellation. When it cannot get through, ``failure`` (the
        error that ends the upload) says which upload is left and how to remove it."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(60):
            try:
                await retry(
                    self.retry_config, lambda: self.backend.abort_multipart(upload), what=f"abort of {request.uri}"
                )
                return
            except Exception:
                pass
        note = (
            f"the incomplete multipart upload {upload.upload_id or '(id unknown)'} of {request.uri} could not be "
            f"aborted; remove it with: clinops-async uploads {request.uri} --abort"
        )
        logger.warning("%s", note)
        if failure is not None:
            failure.add_note(note)
