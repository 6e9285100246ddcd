"""The S3 backend primitives on aiobotocore (see :mod:`clinops_async._stores.backend`)."""

from __future__ import annotations

import contextlib
import dataclasses
import os
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio

from ..._aws import open_client, stall_limited_sockets
from ..._exceptions import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    StoreError,
    TransientStoreError,
    VersionNotFoundError,
)
from ..backend import Backend, MultipartUpload, ObjectChangedError, ObjectMeta, ObjectPage, PutRequest, changed_error
from . import copy as _copy
from .bodies import BufferBody, read_body, read_body_into, total_size, whole_object_crc
from .direct import direct_headers, takes_direct_requests
from .direct_copy import DirectCopier, encryption_headers
from .direct_list import DirectLister
from .errors import error_code, translate

if TYPE_CHECKING:  # the stubs are a development dependency
    from collections.abc import Awaitable, Iterator, Mapping
    from datetime import datetime

    from types_aiobotocore_s3.client import S3Client

    from ..._aws import AwsAuth
    from ..._config import RetryConfig, TransferConfig
    from ..backend import ByteCounter, CopyRequest, WholeCopyRequest

__all__ = ["S3Backend", "ServerSideEncryption"]

ServerSideEncryption = Literal["AES256", "aws:kms", "aws:kms:dsse"]


T = TypeVar("T")


class S3Backend(Backend):
    scheme = "s3"
    supports_versions = True
    can_sign = True

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
        auth: AwsAuth | None = None,
        requester_pays: bool = False,
    ) -> None:
        self.bucket = bucket
        self.auth = auth
        self.requester_pays = requester_pays
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.addressing_style = addressing_style
        self.sse = sse
        self.sse_kms_key_id = sse_kms_key_id
        self.transfer = transfer
        self._client: S3Client | None = None
        self._exit_stack: AsyncExitStack | None = None
        self._bucket_seen = False
        #: Copies and listing pages outside botocore's pipeline (:mod:`.direct`); None where they
        #: must all go through botocore, and while the client is closed.
        self.direct_copier: DirectCopier | None = None
        self.direct_lister: DirectLister | None = None

    def __repr__(self) -> str:
        return f"<S3 bucket={self.bucket!r} region={self.region!r}>"

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise RuntimeError("the S3 client is not open")
        return self._client

    async def open(self) -> None:
        # Importing aiobotocore (aiohttp, its SSL setup) takes a second of CPU: not on the event loop.
        AioConfig = await anyio.to_thread.run_sync(_aio_config_class)

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
            signature_version="s3v4",  # presigned URLs too (botocore would presign SigV2 in us-east-1)
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        stack = AsyncExitStack()
        try:
            self._client = await open_client(
                stack, "s3", profile=self.profile, region=self.region, endpoint_url=self.endpoint_url, config=config,
                auth=self.auth,
            )
        except BaseException as exc:
            await stack.aclose()
            raise translate(exc, f"s3://{self.bucket}", self.bucket) from None
        self._exit_stack = stack
        _no_expect_continue(self.client)
        if self.requester_pays:
            self.client.meta.events.register("before-parameter-build.s3", _requester_pays)
        if takes_direct_requests(self.client, self.bucket):
            headers = direct_headers(self.requester_pays)
            self.direct_copier = DirectCopier(self.client, headers | encryption_headers(self.encryption_args()))
            self.direct_lister = DirectLister(self.client, headers)

    async def aclose(self) -> None:
        self.direct_copier = self.direct_lister = None
        if self._exit_stack is not None:
            stack, self._exit_stack = self._exit_stack, None
            await stack.aclose()

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

    bounded = _bounded

    def encryption_args(self) -> dict[str, Any]:
        """The server-side encryption every new object of this store asks for."""
        if not self.sse:
            return {}
        key = {"SSEKMSKeyId": self.sse_kms_key_id} if self.sse_kms_key_id else {}
        return {"ServerSideEncryption": self.sse, **key}

    def _put_args(self, request: PutRequest) -> dict[str, Any]:
        return {"Key": request.key, "ContentType": request.content_type, "Metadata": dict(request.metadata),
                **self.encryption_args()}

    def copy_reach(self) -> tuple[str, str]:
        # One endpoint serves every bucket: a copy spans buckets of one endpoint, never two endpoints.
        endpoint = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return (self.scheme, endpoint or "aws")

    async def copy_object(
        self, request: CopyRequest, progress: ByteCounter, retry_config: RetryConfig
    ) -> ObjectMeta | None:
        return await _copy.copy_object(self, request, progress, retry_config)

    async def copy_whole_object(self, request: WholeCopyRequest, retry_config: RetryConfig) -> ObjectMeta | None:
        await _copy.copy_whole(self, request, retry_config)
        return None  # the answer carries the copy's CRC32C but not its metadata, to compare it with

    async def put(self, request: PutRequest, data: memoryview) -> None:
        assert request.crc32c is not None  # one request carries a whole file, whose CRC32C is known
        args = {**self._put_args(request), **_conditions(request)}
        try:
            await self._bounded(request.uri, len(data), self.client.put_object(
                Bucket=self.bucket, Body=BufferBody(data), ChecksumAlgorithm="CRC32C",
                ChecksumCRC32C=request.crc32c, **args,
            ))
        except StoreError as exc:
            raise self._exists_or(exc, request) from exc.__cause__

    @staticmethod
    def _exists_or(exc: StoreError, request: PutRequest) -> StoreError:
        code = error_code(exc.__cause__)
        if request.if_match is not None and isinstance(exc, ArtifactNotFoundError):  # S3: 404 NoSuchKey
            return changed_error(request, "no longer exists")
        if request.if_match is not None and code in ("PreconditionFailed", "412"):
            return changed_error(request, "no longer matches")
        if code in ("PreconditionFailed", "412"):
            return ArtifactExistsError(
                f"{request.uri} already exists; pass overwrite=True to replace it", uri=request.uri
            )
        return exc

    async def create_multipart(self, request: PutRequest) -> MultipartUpload:
        response = await self._bounded(request.uri, 0, self.client.create_multipart_upload(
            Bucket=self.bucket, ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT", **self._put_args(request),
        ))
        # A server that does not know full-object checksums ignores the request and says nothing.
        full_object = response.get("ChecksumType") == "FULL_OBJECT"
        return MultipartUpload((request, response["UploadId"]), full_object, upload_id=response["UploadId"])

    async def upload_part(self, upload: MultipartUpload, number: int, data: memoryview, crc32c: str) -> Any:
        request, upload_id = upload.handle
        response = await self._bounded(request.uri, len(data), self.client.upload_part(
            Bucket=self.bucket, Key=request.key, UploadId=upload_id, PartNumber=number, Body=BufferBody(data),
            ChecksumAlgorithm="CRC32C", ChecksumCRC32C=crc32c,
        ))
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumCRC32C": crc32c}

    async def complete_multipart(self, upload: MultipartUpload, parts: list[Any], crc32c: str) -> None:
        request, upload_id = upload.handle
        args: dict[str, Any] = _conditions(request)
        if upload.full_object_crc32c:
            # S3 checks the whole object against it (BadDigest otherwise) and reports it from then on.
            args.update(ChecksumCRC32C=crc32c, ChecksumType="FULL_OBJECT")
        # S3 may take minutes to assemble a large object (it keeps the connection alive meanwhile): the
        # completion's deadline counts the object's approximate size as its body.
        try:
            completion = self.client.complete_multipart_upload(
                Bucket=self.bucket, Key=request.key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **args,
            )
            await self._bounded(request.uri, len(parts) * self.transfer.part_size, completion)
        except StoreError as exc:
            raise self._exists_or(exc, request) from exc.__cause__

    async def abort_multipart(self, upload: MultipartUpload) -> None:
        request, upload_id = upload.handle
        try:
            await self._bounded(request.uri, 0, self.client.abort_multipart_upload(
                Bucket=self.bucket, Key=request.key, UploadId=upload_id
            ))
        except ArtifactNotFoundError:
            pass  # NoSuchUpload: already gone

    def _meta(self, key: str, response: Mapping[str, Any], size: int) -> ObjectMeta:
        return ObjectMeta(
            key=key,
            size=size,
            etag=response.get("ETag"),
            last_modified=response.get("LastModified"),
            content_type=response.get("ContentType"),
            metadata=response.get("Metadata") or {},
            server_crc32c=whole_object_crc(response),
            version=response.get("VersionId"),
        )

    async def read_first(self, key: str, length: int, *, version: str | None = None) -> tuple[ObjectMeta, bytes]:
        uri = self.uri(key)
        pinned = _version_args(version)
        try:
            with _version_missing(uri, version):
                response = await self._bounded(uri, 0, self.client.get_object(
                    Bucket=self.bucket, Key=key, Range=f"bytes=0-{length - 1}", **pinned
                ))
        except StoreError as exc:
            if error_code(exc.__cause__) != "InvalidRange":
                raise
            response = await self._bounded(uri, 0, self.client.get_object(Bucket=self.bucket, Key=key, **pinned))
        total = total_size(response)
        data = await self._bounded(uri, length, read_body(response))
        if len(data) != min(total, length):
            raise TransientStoreError(f"{uri}: the response was truncated", uri=uri)
        return self._meta(key, response, total), data

    async def read_into(
        self, key: str, start: int, buffer: memoryview, etag: str | None, *, version: str | None = None
    ) -> None:
        uri = self.uri(key)
        pinned: dict[str, Any] = {"IfMatch": etag} if etag else {}
        pinned.update(_version_args(version))
        try:
            response = await self._bounded(uri, 0, self.client.get_object(
                Bucket=self.bucket, Key=key, Range=f"bytes={start}-{start + len(buffer) - 1}", **pinned
            ))
        except StoreError as exc:
            code = error_code(exc.__cause__)
            if code in ("PreconditionFailed", "412"):
                raise ObjectChangedError(uri) from None
            raise
        filled = await self._bounded(uri, len(buffer), read_body_into(response, buffer))
        if filled != len(buffer):
            raise TransientStoreError(f"{uri}: a ranged read was truncated", uri=uri)

    async def head(self, key: str, *, version: str | None = None) -> ObjectMeta:
        try:
            with _version_missing(self.uri(key), version):
                response = await self._bounded(self.uri(key), 0, self.client.head_object(
                    Bucket=self.bucket, Key=key, ChecksumMode="ENABLED", **_version_args(version)
                ))
        except VersionNotFoundError:
            raise
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
            await self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:
            if isinstance(translate(exc, uri, self.bucket), ArtifactNotFoundError | BucketNotFoundError):
                raise BucketNotFoundError(f"bucket {self.bucket!r} does not exist (for {uri})", uri=uri) from exc
            return
        self._bucket_seen = True

    async def list_page(self, prefix: str, token: str | None) -> ObjectPage:
        lister = self.direct_lister
        if lister is not None and lister.ready:
            direct = await self._bounded(self.uri(prefix), 0, lister.list_page(prefix, token, self.list_page_size))
            if direct is not None:
                return direct
        args: dict[str, Any] = {"ContinuationToken": token} if token else {}
        page = await self._bounded(
            self.uri(prefix), 0, self.client.list_objects_v2(
                Bucket=self.bucket, Prefix=prefix, MaxKeys=self.list_page_size, **args
            )
        )
        if lister is not None:
            lister.learn()  # botocore's page came back: later ones can come directly
        objects = [
            ObjectMeta(key=item["Key"], size=int(item.get("Size", 0)), etag=item.get("ETag"),
                       last_modified=item.get("LastModified"))
            for item in page.get("Contents", ())
        ]
        more = page.get("IsTruncated") and page.get("NextContinuationToken")
        return ObjectPage(objects, str(page["NextContinuationToken"]) if more else None)

    async def incomplete_uploads(self, prefix: str) -> list[tuple[str, str, datetime | None]]:
        """``(key, upload_id, initiated)`` of every multipart upload under ``prefix`` not yet completed."""
        paginator = self.client.get_paginator("list_multipart_uploads")
        uri = self.uri(prefix)
        found = []
        pages = paginator.paginate(Bucket=self.bucket, Prefix=prefix).__aiter__()
        while (page := await self._bounded(uri, 0, anext(pages, None))) is not None:
            found += [(u["Key"], u["UploadId"], u.get("Initiated")) for u in page.get("Uploads", ())]
        return found

    async def abort_upload(self, key: str, upload_id: str) -> None:
        """Abort one multipart upload by its id (no error when it is already gone)."""
        request = PutRequest(key, self.uri(key), 0, "", {}, None, True)
        await self.abort_multipart(MultipartUpload((request, upload_id), False, upload_id=upload_id))

    async def delete(self, key: str) -> None:
        await self._bounded(self.uri(key), 0, self.client.delete_object(Bucket=self.bucket, Key=key))

    async def list_versions(self, key: str) -> list[ObjectMeta]:
        """Every version of ``key`` (delete markers left out), each with its metadata: a listing of
        versions carries no user metadata, so each version's HEAD gives its recorded CRC32C."""
        paginator = self.client.get_paginator("list_object_versions")
        uri = self.uri(key)
        listed: list[tuple[str, bool]] = []
        pages = paginator.paginate(Bucket=self.bucket, Prefix=key).__aiter__()
        while (page := await self._bounded(uri, 0, anext(pages, None))) is not None:
            versions = page.get("Versions", ())
            listed += [(str(v["VersionId"]), bool(v.get("IsLatest"))) for v in versions if v["Key"] == key]
        found: list[ObjectMeta | None] = [None] * len(listed)

        async def describe(index: int, version: str, latest: bool) -> None:
            try:  # the current "null" version (written before versioning) is the object itself
                meta = await self.head(key, version=None if version == "null" and latest else version)
            except VersionNotFoundError:
                return  # deleted since it was listed
            found[index] = dataclasses.replace(meta, version=version, is_latest=latest)

        async with anyio.create_task_group() as tasks:
            for index, (version, latest) in enumerate(listed):
                tasks.start_soon(describe, index, version, latest)
        metas = [meta for meta in found if meta is not None]
        return sorted(metas, key=lambda m: (not m.is_latest, -(m.last_modified.timestamp() if m.last_modified else 0)))

    async def sign_url(self, key: str, *, method: str, seconds: int, version: str | None) -> str:
        operation = "get_object" if method == "GET" else "put_object"
        params = {"Bucket": self.bucket, "Key": key, **_version_args(version)}
        try:
            return str(await self.client.generate_presigned_url(operation, Params=params, ExpiresIn=seconds))
        except Exception as exc:
            raise translate(exc, self.uri(key), self.bucket) from exc


def _conditions(request: PutRequest) -> dict[str, Any]:
    """The conditional headers of a write: create only, or replace only that ETag (S3 If-Match)."""
    if request.if_match is not None:
        return {"IfMatch": request.if_match}
    return {} if request.overwrite else {"IfNoneMatch": "*"}


def _version_args(version: str | None) -> dict[str, Any]:
    return {"VersionId": version} if version is not None else {}


@contextlib.contextmanager
def _version_missing(uri: str, version: str | None) -> Iterator[None]:
    """Inside, a missing object or a refused version id means: no such version (when one is named).

    S3 answers 404 NoSuchVersion for an unknown version id and 400 InvalidArgument for a malformed one.
    """
    try:
        yield
    except StoreError as exc:
        if version is None or isinstance(exc, BucketNotFoundError):
            raise
        if isinstance(exc, ArtifactNotFoundError) or error_code(exc.__cause__) in ("InvalidArgument", "400"):
            raise VersionNotFoundError(
                f"{uri} has no version {version!r}; list_versions() shows the versions kept", uri=uri
            ) from exc
        raise


def _requester_pays(params: dict[str, Any], model: Any, **_: Any) -> None:
    """botocore hook: ``RequestPayer=requester`` on every operation that takes it (a requester-pays
    bucket refuses requests without it), presigned URLs included."""
    shape = model.input_shape
    if shape is not None and "RequestPayer" in shape.members:
        params.setdefault("RequestPayer", "requester")


def _no_expect_continue(client: Any) -> None:
    """Send PUT bodies at once instead of after a ``100 Continue``.

    botocore asks for ``Expect: 100-continue`` on every PutObject and UploadPart, and aiohttp then
    waits for the server's interim answer before sending the body: one extra round trip per object
    and per part (20 ms each at a 20 ms round trip; 0.25 s of a 200-artifact bulk upload with 16 in
    flight). It only saves sending a body the server refuses, and our bodies are at most one part.
    """
    from botocore.handlers import add_expect_header

    client.meta.events.unregister("before-call.s3", add_expect_header)


def _aio_config_class() -> Any:
    from aiobotocore.config import AioConfig

    return AioConfig
