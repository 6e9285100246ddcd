"""Amazon S3: the backend primitives on aiobotocore, their error translation, and the public store."""

from __future__ import annotations

import asyncio
import io
import os
from collections.abc import AsyncIterator, Awaitable
from typing import Any, Literal, TypeVar

import anyio

from .._aws import credentials_error, open_client, stall_limited_sockets
from .._config import RetryConfig, TransferConfig
from .._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ConfigurationError,
    IntegrityError,
    StoreError,
    TransientStoreError,
)
from .backend import Backend, MultipartUpload, ObjectChangedError, ObjectMeta, PutRequest
from .buckets import check_s3_bucket
from .codecs import StorageFormat
from .core import AsyncPipelineStore

__all__ = ["AsyncS3PipelineStore"]

_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "ConditionalRequestConflict",
    "OperationAborted", "TooManyRequestsException",
}
_DENIED_CODES = {
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AccountProblem",
}
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
#: What S3 answers when a body does not match the checksum (CRC32C, Content-MD5) sent with it.
_DIGEST_CODES = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidChecksum"}

ServerSideEncryption = Literal["AES256", "aws:kms", "aws:kms:dsse"]
T = TypeVar("T")


def translate(exc: BaseException, uri: str, bucket: str) -> BaseException:
    """Map a botocore/aiohttp exception to the clinops_async error a caller can act on."""
    from botocore import exceptions as bex

    if isinstance(exc, StoreError | ConfigurationError | ObjectChangedError):
        return exc
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket":
            return BucketNotFoundError(f"bucket {bucket!r} does not exist (for {uri})", uri=uri)
        if code in _MISSING_CODES or status == 404:
            return ArtifactNotFoundError(f"{uri} does not exist", uri=uri)
        if code in _DENIED_CODES or status == 403:
            return AccessDeniedError(
                f"access denied to {uri} ({code or status}); check the credentials and the bucket policy",
                uri=uri,
            )
        if code in _DIGEST_CODES:
            return IntegrityError(
                f"{uri}: S3 refused the upload because its bytes did not match their checksum ({code}); "
                "they were damaged on the way and nothing was stored. Retry the upload",
                uri=uri,
            )
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientStoreError(f"{uri}: the server answered {code or status}", uri=uri)
        if code == "InvalidRange" or status == 416:
            return StoreError(f"{uri}: the requested range is not satisfiable", uri=uri)
        return StoreError(f"{uri}: S3 refused the request ({code or status})", uri=uri)
    credentials = credentials_error(exc)
    if credentials is not None:
        return credentials
    if isinstance(
        exc,
        bex.ConnectionError | bex.HTTPClientError | bex.ResponseStreamingError | bex.IncompleteReadError
        | ConnectionError | asyncio.TimeoutError,
    ):
        return TransientStoreError(f"{uri}: connection failed ({type(exc).__name__})", uri=uri)
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return exc
    if isinstance(exc, aiohttp.ClientError):
        return TransientStoreError(f"{uri}: connection failed ({type(exc).__name__})", uri=uri)
    if isinstance(exc, bex.BotoCoreError):
        return StoreError(f"{uri}: the S3 client failed ({type(exc).__name__})", uri=uri)
    return exc


class _BufferBody(io.BytesIO):
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


class _S3Backend(Backend):
    scheme = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        region: str,
        profile: str | None,
        endpoint_url: str | None,
        addressing_style: Literal["path", "virtual", "auto"] | None,
        sse: ServerSideEncryption | None,
        sse_kms_key_id: str | None,
        transfer: TransferConfig,
    ) -> None:
        self.bucket = bucket
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.addressing_style = addressing_style
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id
        self.transfer = transfer
        self._client: Any = None
        self._exit_stack: Any = None
        self._bucket_seen = False

    def __repr__(self) -> str:
        return f"<S3 bucket={self.bucket!r} region={self.region!r}>"

    async def open(self) -> None:
        from contextlib import AsyncExitStack

        from aiobotocore.config import AioConfig

        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get(
            "AWS_ENDPOINT_URL"
        )
        style: Literal["path", "virtual", "auto"] = self.addressing_style or ("path" if endpoint else "auto")
        config = AioConfig(
            connector_args={"socket_factory": stall_limited_sockets(self.transfer.read_timeout)},
            region_name=self.region,
            max_pool_connections=self.transfer.max_pool_connections,
            connect_timeout=self.transfer.connect_timeout,
            read_timeout=self.transfer.read_timeout,
            retries={"total_max_attempts": 1},
            # Bodies carry their own CRC32C, so a SHA-256 of every body (botocore signs bodies over plain
            # http) would only burn CPU on the event loop.
            s3={"addressing_style": style, "payload_signing_enabled": False},
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        try:
            self._client = await open_client(
                stack, "s3", profile=self.profile, region=self.region, endpoint_url=self.endpoint_url, config=config
            )
        except BaseException as exc:
            await stack.aclose()
            raise translate(exc, f"s3://{self.bucket}", self.bucket) from None
        self._exit_stack = stack
        _no_expect_continue(self._client)

    async def aclose(self) -> None:
        if self._exit_stack is not None:
            stack, self._exit_stack = self._exit_stack, None
            await stack.aclose()

    async def _call(self, uri: str, method: str, *, body_size: int = 0, **kwargs: Any) -> Any:
        """The client's ``method`` on the bucket, within the deadline for ``body_size`` bytes."""
        return await self._bounded(uri, body_size, getattr(self._client, method)(Bucket=self.bucket, **kwargs))

    async def _bounded(self, uri: str, body_size: int, call: Awaitable[T]) -> T:
        """Await ``call`` within ``transfer.request_deadline(body_size)``; errors translated.

        The socket timeouts alone never end a request whose body the peer stopped reading: aiohttp's
        read timeout only runs while an answer is awaited, and sending blocks for ever. At the deadline
        the request is cancelled, which closes its connection, so a retry (or the abort of a multipart
        upload) goes out on another one.
        """
        deadline = self.transfer.request_deadline(body_size)
        with anyio.move_on_after(deadline):
            try:
                return await call
            except Exception as exc:
                raise translate(exc, uri, self.bucket) from exc
        raise TransientStoreError(
            f"{uri}: S3 did not finish the request within its deadline of {deadline:.1f} s (connect_timeout + "
            "read_timeout + body size / min_transfer_rate of the TransferConfig); the connection was dropped",
            uri=uri,
        )

    def _put_args(self, request: PutRequest) -> dict[str, Any]:
        args: dict[str, Any] = {"Key": request.key, "ContentType": request.content_type,
                                "Metadata": dict(request.metadata)}
        if self.sse:
            args["ServerSideEncryption"] = self.sse
            if self.sse_kms_key_id:
                args["SSEKMSKeyId"] = self.sse_kms_key_id
        return args

    async def put(self, request: PutRequest, data: memoryview) -> None:
        args = self._put_args(request)
        if not request.overwrite:
            args["IfNoneMatch"] = "*"
        try:
            await self._call(
                request.uri, "put_object", body_size=len(data), Body=_BufferBody(data), ChecksumAlgorithm="CRC32C",
                ChecksumCRC32C=request.crc32c, **args,
            )
        except StoreError as exc:
            raise self._exists_or(exc, request) from exc.__cause__

    @staticmethod
    def _exists_or(exc: StoreError, request: PutRequest) -> StoreError:
        code = _error_code(exc.__cause__)
        if code in ("PreconditionFailed", "412"):
            return ArtifactExistsError(
                f"{request.uri} already exists; pass overwrite=True to replace it", uri=request.uri
            )
        return exc

    async def create_multipart(self, request: PutRequest) -> MultipartUpload:
        response = await self._call(
            request.uri, "create_multipart_upload", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT",
            **self._put_args(request),
        )
        # A server that does not know full-object checksums ignores the request and says nothing.
        full_object = response.get("ChecksumType") == "FULL_OBJECT"
        return MultipartUpload((request, response["UploadId"]), full_object_crc32c=full_object)

    async def upload_part(self, upload: MultipartUpload, number: int, data: memoryview, crc32c: str) -> Any:
        request, upload_id = upload.handle
        response = await self._call(
            request.uri, "upload_part", body_size=len(data), Key=request.key, UploadId=upload_id,
            PartNumber=number, Body=_BufferBody(data), ChecksumAlgorithm="CRC32C", ChecksumCRC32C=crc32c,
        )
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32C": crc32c}

    async def complete_multipart(self, upload: MultipartUpload, parts: list[Any], crc32c: str) -> None:
        request, upload_id = upload.handle
        args: dict[str, Any] = {}
        if not request.overwrite:
            args["IfNoneMatch"] = "*"
        if upload.full_object_crc32c:
            # S3 checks the whole object against it (BadDigest otherwise) and reports it from then on.
            args.update(ChecksumCRC32C=crc32c, ChecksumType="FULL_OBJECT")
        # S3 may take minutes to assemble a large object (it keeps the connection alive meanwhile): the
        # completion's deadline counts the object's approximate size as its body.
        try:
            await self._call(
                request.uri, "complete_multipart_upload", body_size=len(parts) * self.transfer.part_size,
                Key=request.key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **args,
            )
        except StoreError as exc:
            raise self._exists_or(exc, request) from exc.__cause__

    async def abort_multipart(self, upload: MultipartUpload) -> None:
        request, upload_id = upload.handle
        try:
            await self._call(request.uri, "abort_multipart_upload", Key=request.key, UploadId=upload_id)
        except ArtifactNotFoundError:
            pass  # NoSuchUpload: already gone

    def _meta(self, key: str, response: dict[str, Any], size: int) -> ObjectMeta:
        return ObjectMeta(
            key=key,
            size=size,
            etag=response.get("ETag"),
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
            metadata=response.get("Metadata") or {},
            server_crc32c=_whole_object_crc(response),
        )

    async def read_first(self, key: str, length: int) -> tuple[ObjectMeta, bytes]:
        uri = self.uri(key)
        try:
            response = await self._call(uri, "get_object", Key=key, Range=f"bytes=0-{length - 1}")
        except StoreError as exc:
            if _error_code(exc.__cause__) != "InvalidRange":
                raise
            response = await self._call(uri, "get_object", Key=key)  # an empty object
        total = _total_size(response)
        data = await self._bounded(uri, length, _read_body(response))
        if len(data) != min(total, length):
            raise TransientStoreError(f"{uri}: the response was truncated", uri=uri)
        return self._meta(key, response, total), data

    async def read_into(self, key: str, start: int, buffer: memoryview, etag: str | None) -> None:
        uri = self.uri(key)
        args: dict[str, Any] = {"Key": key, "Range": f"bytes={start}-{start + len(buffer) - 1}"}
        if etag:
            args["IfMatch"] = etag
        try:
            response = await self._call(uri, "get_object", **args)
        except StoreError as exc:
            code = _error_code(exc.__cause__)
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(uri) from None
            raise
        filled = await self._bounded(uri, len(buffer), _read_body_into(response, buffer))
        if filled != len(buffer):
            raise TransientStoreError(f"{uri}: a ranged read was truncated", uri=uri)

    async def head(self, key: str) -> ObjectMeta:
        try:
            response = await self._call(self.uri(key), "head_object", Key=key, ChecksumMode="ENABLED")
        except ArtifactNotFoundError:
            await self._check_bucket_exists(self.uri(key))
            raise
        return self._meta(key, response, int(response["ContentLength"]))

    async def _check_bucket_exists(self, uri: str) -> None:
        """Raise BucketNotFoundError when the bucket is missing; once it was seen, trust it.

        A HEAD has no body, so S3 answers a bare 404 for a missing object and a missing bucket
        alike, and ``info`` would call a missing bucket a missing artifact. Any answer but 404
        (403 without ``s3:ListBucket``, a dropped connection) leaves the object's 404 as it was.
        """
        if self._bucket_seen:
            return
        try:
            await self._client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if isinstance(translate(exc, uri, self.bucket), ArtifactNotFoundError | BucketNotFoundError):
                raise BucketNotFoundError(f"bucket {self.bucket!r} does not exist (for {uri})", uri=uri) from exc
            return
        self._bucket_seen = True

    async def iter_keys(self, prefix: str) -> AsyncIterator[str]:
        paginator = self._client.get_paginator("list_objects_v2")
        uri = self.uri(prefix)
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix).__aiter__()
        while (page := await self._bounded(uri, 0, anext(pages, None))) is not None:  # one deadline a page
            for item in page.get("Contents", ()):
                yield item["Key"]

    async def delete(self, key: str) -> None:
        await self._call(self.uri(key), "delete_object", Key=key)


async def _read_body(response: dict[str, Any]) -> bytes:
    async with response["Body"] as body:
        return bytes(await body.read())


async def _read_body_into(response: dict[str, Any], buffer: memoryview) -> int:
    """Fill ``buffer`` from the response body; the number of bytes received (short if it ended early)."""
    filled = 0
    async with response["Body"] as body:
        while filled < len(buffer):
            n = await body.readinto(buffer[filled:])
            if n == 0:
                break
            filled += n
    return filled


def _no_expect_continue(client: Any) -> None:
    """Send PUT bodies at once instead of after a ``100 Continue``.

    botocore asks for ``Expect: 100-continue`` on every PutObject and UploadPart, and aiohttp then
    waits for the server's interim answer before sending the body: one extra round trip per object
    and per part (20 ms each at a 20 ms round trip; 0.25 s of a 200-artifact bulk upload with 16 in
    flight). It only saves sending a body the server refuses, and our bodies are at most one part.
    """
    from botocore.handlers import add_expect_header

    client.meta.events.unregister("before-call.s3", add_expect_header)


def _error_code(exc: BaseException | None) -> str | None:
    """The S3 error code of a botocore ClientError; None for anything else (a dropped connection's
    botocore error carries ``response = None``)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    return str(error.get("Code")) if isinstance(error, dict) and error.get("Code") is not None else None


def _total_size(response: dict[str, Any]) -> int:
    content_range = response.get("ContentRange")
    if content_range and "/" in content_range:
        return int(content_range.rsplit("/", 1)[1])
    return int(response["ContentLength"])


def _whole_object_crc(response: dict[str, Any]) -> str | None:
    # A composite checksum (multipart without FULL_OBJECT) is a checksum of the parts' checksums,
    # "xxx==-N" in a GET and without the "-N" in some servers' HEAD: not the bytes' CRC32C.
    value = response.get("ChecksumCRC32C")
    if value is None or "-" in value or response.get("ChecksumType") == "COMPOSITE":
        return None
    return str(value)


class AsyncS3PipelineStore(AsyncPipelineStore):
    """DataFrame artifacts in an S3 bucket, on aiobotocore.

    One long-lived client per store, opened on first use (or by ``async with``) and closed by
    ``aclose()``. A store is bound to the event loop it is first used on.

    Args:
        bucket: The bucket name, checked against S3's naming rules for general purpose buckets.
        prefix: Key prefix for every artifact (trailing ``/`` stripped), e.g. ``"clinops/prod"``.
        format: ``StorageFormat.PARQUET`` (default) or ``StorageFormat.CSV``.
        region: AWS region of the bucket.
        profile: A named AWS profile; None for the default credential chain.
        endpoint_url: A custom endpoint (MinIO, a local server). Default: ``AWS_ENDPOINT_URL_S3`` or
            ``AWS_ENDPOINT_URL`` from the environment, else AWS. A custom endpoint uses path-style
            addressing unless ``addressing_style`` says otherwise.
        addressing_style: ``"path"``, ``"virtual"`` or ``"auto"``.
        server_side_encryption: ``"AES256"`` (SSE-S3), ``"aws:kms"`` (SSE-KMS) or ``"aws:kms:dsse"``.
        sse_kms_key_id: The KMS key for SSE-KMS (id, alias or ARN); implies ``"aws:kms"``.
        compression: Parquet compression codec (``"snappy"``, ``"zstd"``, ..., ``"none"``).
        transfer: Part sizes, thresholds and concurrency (:class:`TransferConfig`).
        retry: Retry attempts and backoff (:class:`RetryConfig`).

    Raises:
        ConfigurationError: An invalid argument (no I/O is done by the constructor).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        region: str = "us-east-1",
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        addressing_style: Literal["path", "virtual", "auto"] | None = None,
        server_side_encryption: ServerSideEncryption | None = None,
        sse_kms_key_id: str | None = None,
        compression: str = "snappy",
        transfer: TransferConfig | None = None,
        retry: RetryConfig | None = None,
    ) -> None:
        super().__init__(prefix, format, compression=compression, transfer=transfer, retry=retry)
        check_s3_bucket(bucket)
        if not isinstance(region, str) or not region:
            raise ConfigurationError("region must be a non-empty string such as 'us-east-1'")
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise ConfigurationError("profile must be a profile name or None")
        if endpoint_url is not None and (
            not isinstance(endpoint_url, str) or not endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError("endpoint_url must start with http:// or https://")
        if addressing_style not in (None, "path", "virtual", "auto"):
            raise ConfigurationError("addressing_style must be 'path', 'virtual' or 'auto'")
        if sse_kms_key_id is not None and server_side_encryption is None:
            server_side_encryption = "aws:kms"
        if server_side_encryption not in (None, "AES256", "aws:kms", "aws:kms:dsse"):
            raise ConfigurationError("server_side_encryption must be 'AES256', 'aws:kms' or 'aws:kms:dsse'")
        if sse_kms_key_id is not None and server_side_encryption == "AES256":
            raise ConfigurationError("sse_kms_key_id needs server_side_encryption='aws:kms'")
        self.bucket = bucket
        self.region = region
        self.profile = profile
        self._backend = _S3Backend(
            bucket,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            addressing_style=addressing_style,
            sse=server_side_encryption,
            sse_kms_key_id=sse_kms_key_id,
            transfer=self.transfer,
        )

    def __repr__(self) -> str:
        return f"AsyncS3PipelineStore(bucket={self.bucket!r}, prefix={self.prefix!r}, format={self.format.value!r})"

