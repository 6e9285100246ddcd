"""Server-side copies on S3: CopyObject below ``copy_threshold``, concurrent UploadPartCopy above.

No byte passes through the client. Every request is pinned to the source's ETag
(``CopySourceIfMatch``), so a source replaced mid-copy fails the copy instead of mixing two versions,
and the destination takes the source's CRC32C: CopyObject asks S3 for a CRC32C of the new object,
and a multipart copy asks for a full-object CRC32C and completes with the source's, which S3 checks.
A failed or cancelled multipart copy is aborted, so nothing is left half-made.

``copy_whole`` is the one-request form a plain copy takes: CopyObject without a HEAD of the source
first, sent outside botocore's request pipeline where it can be (:mod:`.direct_copy`), else by
botocore. One CopyObject copies one version whole (S3 makes it atomic), so it needs no ETag pin; the
metadata travels (``MetadataDirective=COPY``), and so does the source's CRC32C: S3 copies an
object's checksum with it unless asked for another algorithm. A source too large for CopyObject, or
a store whose ``copy_threshold`` asks for parts earlier, falls back to the usual HEAD-first copy.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import anyio

from ..._config import S3_MAX_PARTS
from ..._exceptions import ArtifactExistsError, ArtifactNotFoundError, StoreError
from ..._retry import retry
from ..._tasks import run_limited, wait_to_end
from ..backend import CopyNeedsSourceInfoError, ObjectChangedError, ObjectMeta
from .errors import error_code

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from types_aiobotocore_s3.client import S3Client

    from ..._config import RetryConfig, TransferConfig
    from ..backend import ByteCounter, CopyRequest, WholeCopyRequest
    from .direct_copy import DirectCopier

__all__ = ["S3_MAX_COPY_OBJECT", "S3Copier", "copy_object", "copy_whole", "part_ranges"]

logger = logging.getLogger("clinops_async")
T = TypeVar("T")

#: The largest object one CopyObject copies (5 GiB); larger ones need UploadPartCopy.
S3_MAX_COPY_OBJECT = 5 * 1024 * 1024 * 1024


class S3Copier(Protocol):
    """What a copy needs of the S3 backend (which imports this module)."""

    bucket: str
    transfer: TransferConfig

    @property
    def client(self) -> S3Client: ...

    async def bounded(self, uri: str, body_size: int, call: Awaitable[T]) -> T: ...

    def encryption_args(self) -> dict[str, Any]: ...

    async def head(self, key: str) -> ObjectMeta: ...

    async def abort_upload(self, key: str, upload_id: str) -> None: ...

    direct_copier: DirectCopier | None


def part_ranges(size: int, part_size: int) -> list[tuple[int, int]]:
    """Inclusive ``(first, last)`` byte ranges of a multipart copy, grown to fit 10,000 parts."""
    while -(-size // part_size) > S3_MAX_PARTS:
        part_size *= 2
    return [(start, min(start + part_size, size) - 1) for start in range(0, size, part_size)]


async def copy_object(
    backend: S3Copier, request: CopyRequest, counter: ByteCounter, retry_config: RetryConfig
) -> ObjectMeta | None:
    """Copy one object on the server (see the module docstring); the new object's metadata when the
    answer carries its CRC32C, else None."""
    if request.source.size >= backend.transfer.copy_threshold:
        await _copy_parts(backend, request, counter, retry_config)
        return None
    return await retry(retry_config, lambda: _copy_whole(backend, request), what=f"copy to {request.uri}")


async def copy_whole(backend: S3Copier, request: WholeCopyRequest, retry_config: RetryConfig) -> None:
    """One CopyObject of the source's current version, unread (see the module docstring)."""
    if backend.transfer.copy_threshold < S3_MAX_COPY_OBJECT:
        raise CopyNeedsSourceInfoError  # the size decides between CopyObject and parts: read it first
    await retry(retry_config, lambda: _copy_current(backend, request), what=f"copy to {request.uri}")


async def _copy_current(backend: S3Copier, request: WholeCopyRequest) -> None:
    direct = backend.direct_copier
    if direct is not None and direct.ready and await backend.bounded(
        request.uri, S3_MAX_COPY_OBJECT, direct.copy(request)
    ):
        return
    args: dict[str, Any] = {"CopySource": {"Bucket": request.source_bucket, "Key": request.source_key},
                            **backend.encryption_args()}
    if not request.overwrite:
        args["IfNoneMatch"] = "*"
    # No ChecksumAlgorithm: without it S3 gives the copy the source's checksum (AWS's documented
    # default; moto and SeaweedFS do the same), the CRC32C every artifact of ours is written with,
    # where asking for one makes the server read the copy again to compute it.
    call = backend.client.copy_object(Bucket=backend.bucket, Key=request.key, MetadataDirective="COPY", **args)
    try:
        # The size is unknown: the deadline is that of the largest object CopyObject takes.
        await backend.bounded(request.uri, S3_MAX_COPY_OBJECT, call)
    except StoreError as exc:
        raise _whole_copy_error(exc, request) from exc.__cause__
    if direct is not None:
        direct.learn(request.key)  # botocore's copy succeeded: later ones can go directly


def _whole_copy_error(exc: StoreError, request: WholeCopyRequest) -> BaseException:
    """What a failed one-request copy means: no source, an existing destination (the only condition
    sent), or a source too large for CopyObject."""
    code, cause = error_code(exc.__cause__), exc.__cause__
    if isinstance(exc, ArtifactNotFoundError) and code != "NoSuchBucket":
        return ArtifactNotFoundError(f"{request.source_uri} does not exist", uri=request.source_uri)
    if code in ("PreconditionFailed", "412") and not request.overwrite:
        return ArtifactExistsError(f"{request.uri} already exists; pass overwrite=True to replace it", uri=request.uri)
    message = str(getattr(cause, "response", {}).get("Error", {}).get("Message", ""))
    if code == "EntityTooLarge" or (code == "InvalidRequest" and "larger than the maximum" in message):
        return CopyNeedsSourceInfoError()
    return exc


def _source(request: CopyRequest) -> dict[str, Any]:
    pinned = {"CopySourceIfMatch": request.source.etag} if request.source.etag else {}
    return {"CopySource": {"Bucket": request.source_bucket, "Key": request.source.key}, **pinned}


async def _precondition_failed(backend: S3Copier, exc: StoreError, request: CopyRequest) -> BaseException:
    """What a 412 means: the destination exists (``overwrite=False``), or the source was replaced."""
    if error_code(exc.__cause__) not in ("PreconditionFailed", "412"):
        return exc
    if not request.overwrite:
        try:
            await backend.head(request.key)
        except StoreError:
            pass
        else:
            return ArtifactExistsError(f"{request.uri} already exists; pass overwrite=True to replace it",
                                       uri=request.uri)
    return ObjectChangedError(request.source_uri)


async def _copy_whole(backend: S3Copier, request: CopyRequest) -> ObjectMeta | None:
    args: dict[str, Any] = {**_source(request), **backend.encryption_args()}
    if not request.overwrite:
        args["IfNoneMatch"] = "*"
    call = backend.client.copy_object(
        Bucket=backend.bucket, Key=request.key, ChecksumAlgorithm="CRC32C", MetadataDirective="COPY", **args
    )
    try:
        # S3 copies inside its own network, yet a large copy takes a while: its size counts as the body.
        response = await backend.bounded(request.uri, request.source.size, call)
    except StoreError as exc:
        raise await _precondition_failed(backend, exc, request) from exc.__cause__
    crc = (response.get("CopyObjectResult") or {}).get("ChecksumCRC32C")
    if crc is None:
        return None
    source = request.source
    return ObjectMeta(key=request.key, size=source.size, etag=response["CopyObjectResult"].get("ETag"),
                      content_type=source.content_type, metadata=source.metadata, server_crc32c=crc)


async def _copy_parts(backend: S3Copier, request: CopyRequest, counter: ByteCounter, config: RetryConfig) -> None:
    client, source = backend.client, request.source
    args: dict[str, Any] = {"ChecksumAlgorithm": "CRC32C", **backend.encryption_args()}
    if request.crc32c is not None:
        args["ChecksumType"] = "FULL_OBJECT"  # completed with the source's CRC32C, which S3 checks

    async def create() -> str:
        response = await backend.bounded(request.uri, 0, client.create_multipart_upload(
            Bucket=backend.bucket, Key=request.key, ContentType=source.content_type or "application/octet-stream",
            Metadata=dict(source.metadata), **args,
        ))
        return str(response["UploadId"])

    upload_id: str = await wait_to_end(  # a cancelled start must not lose the id it needs to abort
        retry(config, create, what=f"start of the copy to {request.uri}"),
        undo=lambda created: _abort(backend, request, created, config),
    )
    ranges = part_ranges(source.size, backend.transfer.copy_part_size)
    parts: list[dict[str, Any]] = [{} for _ in ranges]

    def job(index: int) -> Callable[[], Awaitable[None]]:
        async def copy_part() -> None:
            first, last = ranges[index]
            parts[index] = await retry(
                config, lambda: _copy_part(backend, request, upload_id, index + 1, first, last),
                what=f"part {index + 1} of the copy to {request.uri}",
            )
            counter.add(last - first + 1)

        return copy_part

    try:
        await run_limited(backend.transfer.max_concurrency, (job(i) for i in range(len(ranges))))
        await retry(config, lambda: _complete(backend, request, upload_id, parts),
                    what=f"completion of the copy to {request.uri}")
    except BaseException:
        await _abort(backend, request, upload_id, config)
        raise


async def _copy_part(
    backend: S3Copier, request: CopyRequest, upload_id: str, number: int, first: int, last: int
) -> dict[str, Any]:
    call = backend.client.upload_part_copy(
        Bucket=backend.bucket, Key=request.key, UploadId=upload_id, PartNumber=number,
        CopySourceRange=f"bytes={first}-{last}", **_source(request),
    )
    try:
        response = await backend.bounded(request.uri, last - first + 1, call)
    except StoreError as exc:
        raise await _precondition_failed(backend, exc, request) from exc.__cause__
    result = response.get("CopyPartResult") or {}
    part = {"PartNumber": number, "ETag": result["ETag"]}
    if "ChecksumCRC32C" in result:
        part["ChecksumCRC32C"] = result["ChecksumCRC32C"]
    return part


async def _complete(backend: S3Copier, request: CopyRequest, upload_id: str, parts: list[dict[str, Any]]) -> None:
    args: dict[str, Any] = {} if request.overwrite else {"IfNoneMatch": "*"}
    if request.crc32c is not None:
        args.update(ChecksumCRC32C=request.crc32c, ChecksumType="FULL_OBJECT")
    completed: Any = parts  # the parts' answers, in the shape CompleteMultipartUpload takes them
    call = backend.client.complete_multipart_upload(
        Bucket=backend.bucket, Key=request.key, UploadId=upload_id, MultipartUpload={"Parts": completed}, **args
    )
    try:
        await backend.bounded(request.uri, request.source.size, call)
    except StoreError as exc:
        raise await _precondition_failed(backend, exc, request) from exc.__cause__


async def _abort(backend: S3Copier, request: CopyRequest, upload_id: str, config: RetryConfig) -> None:
    """Abort the multipart copy, shielded from cancellation; log what could not be removed."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(60):
        try:
            await retry(config, lambda: backend.abort_upload(request.key, upload_id),
                        what=f"abort of the copy to {request.uri}")
            return
        except Exception:
            pass
    logger.warning("the incomplete multipart copy %s of %s could not be aborted; remove it with: "
                   "clinops-async uploads %s --abort", upload_id, request.uri, request.uri)
