"""Google Cloud Storage: the backend primitives over the JSON API, their error translation, and the store.

Every request goes through one long-lived aiohttp session per store, with an access token from
gcloud-aio-auth (none with an emulator). The upload protocols for large artifacts (chunked resumable
sessions, parallel composite uploads) live in :mod:`._gcs_upload`; credentials in :mod:`._gcs_auth`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

import anyio

from ..._config import RetryConfig, TransferConfig
from ..._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ConfigurationError,
    IntegrityError,
    StoreError,
    TransientStoreError,
)
from ..backend import Backend, ObjectChangedError, ObjectMeta, PutRequest
from ..codecs import StorageFormat
from ..core import AsyncPipelineStore
from . import auth as _gcs_auth
from . import upload as _gcs_upload

__all__ = ["AsyncGCSPipelineStore", "UploadMode"]

logger = logging.getLogger("clinops_async")

UploadMode = Literal["resumable", "composite"]

GOOGLE_API_ROOT = "https://storage.googleapis.com"
#: Resumable chunks must be multiples of 256 KiB (all but the last).
CHUNK_ALIGN = 256 * 1024
#: Default resumable chunk. Against both emulators 32 MiB chunks sent 200 MiB 10-40% faster than
#: 16 MiB (half the round trips); a dropped connection costs at most one chunk, sent from memory.
DEFAULT_CHUNK_SIZE = 32 * 1024 * 1024
#: Request deadlines allow at least this rate (bytes per second) on top of ``read_timeout``.
_MIN_RATE = 256 * 1024
_TRANSIENT_STATUS = {408, 429, 500, 502, 503, 504}


def _message(body: bytes) -> str:
    """The human-readable part of a GCS error body, shortened."""
    try:
        text = str(json.loads(body)["error"]["message"])
    except Exception:
        text = body.decode("utf-8", "replace").strip()
    return " ".join(text.split())[:200]


def status_error(status: int, body: bytes, uri: str, bucket: str) -> StoreError:
    """The clinops_async error for an HTTP error answer from GCS."""
    message = _message(body)
    if status == 404:
        if "bucket" in message.lower():
            return BucketNotFoundError(f"bucket {bucket!r} does not exist (for {uri})", uri=uri)
        return ArtifactNotFoundError(f"{uri} does not exist", uri=uri)
    if status in (401, 403):
        return AccessDeniedError(
            f"access denied to {uri} (HTTP {status}); check the credentials and the bucket's IAM policy",
            uri=uri,
        )
    if status == 412:
        return ArtifactExistsError(f"{uri} already exists; pass overwrite=True to replace it", uri=uri)
    if status in _TRANSIENT_STATUS or status >= 500:
        return TransientStoreError(f"{uri}: the server answered HTTP {status}", uri=uri)
    if status == 400 and ("crc32c" in message.lower() or "hash" in message.lower()):
        return IntegrityError(f"{uri}: GCS rejected the upload's checksum ({message})", uri=uri)
    if status == 416:
        return StoreError(f"{uri}: the requested range is not satisfiable", uri=uri)
    detail = f": {message}" if message else ""
    return StoreError(f"{uri}: GCS refused the request (HTTP {status}{detail})", uri=uri)


def translate(exc: BaseException, uri: str, bucket: str) -> BaseException:
    """Map an aiohttp/gcloud-aio exception to the clinops_async error a caller can act on."""
    import aiohttp

    if isinstance(exc, StoreError | ConfigurationError | ObjectChangedError):
        return exc
    if isinstance(exc, aiohttp.ClientResponseError):
        return status_error(exc.status, str(exc.message).encode(), uri, bucket)
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        return TransientStoreError(f"{uri}: connection failed ({type(exc).__name__})", uri=uri)
    return exc


def _token_error(exc: BaseException, uri: str, source: str) -> BaseException:
    import aiohttp

    if isinstance(exc, aiohttp.ClientResponseError):
        if exc.status in _TRANSIENT_STATUS:
            return TransientStoreError(f"{uri}: the token service answered HTTP {exc.status}", uri=uri)
        return AccessDeniedError(
            f"could not get a Google access token with {source} (HTTP {exc.status}); "
            "the key may be revoked or the account disabled",
            uri=uri,
        )
    if isinstance(exc, aiohttp.ClientError | asyncio.TimeoutError | ConnectionError):
        if source == "the GCE metadata server":
            return TransientStoreError(
                f"{uri}: no Google credentials found (no credentials_path, GOOGLE_APPLICATION_CREDENTIALS or "
                "gcloud application default credentials) and the GCE metadata server is unreachable",
                uri=uri,
            )
        return TransientStoreError(f"{uri}: could not reach the Google token service", uri=uri)
    return StoreError(f"{uri}: could not get a Google access token with {source} ({type(exc).__name__})", uri=uri)


def _crc_from_hash_header(value: str | None) -> str | None:
    for part in (value or "").split(","):
        name, _, digest = part.strip().partition("=")
        if name == "crc32c" and digest:
            return digest
    return None


def _total_size(content_range: str | None, received: int) -> int:
    if content_range and "/" in content_range:
        tail = content_range.rsplit("/", 1)[1]
        if tail.isdigit():
            return int(tail)
    return received


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


@functools.cache
def _payload_type() -> Any:
    import aiohttp

    class _BufferPayload(aiohttp.Payload):
        """A request body sent from a buffer without copying it, 1 MiB per write."""

        def __init__(self, value: memoryview) -> None:
            super().__init__(value, content_type="application/octet-stream")
            self._size = value.nbytes

        def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
            return bytes(self._value).decode(encoding, errors)

        async def write(self, writer: Any) -> None:
            await self.write_with_length(writer, None)

        async def write_with_length(self, writer: Any, content_length: int | None) -> None:
            view: memoryview = self._value
            end = view.nbytes if content_length is None else min(content_length, view.nbytes)
            for start in range(0, end, 1 << 20):
                await writer.write(view[start : min(start + (1 << 20), end)])

    return _BufferPayload


def request_body(data: bytes | memoryview) -> Any:
    """An aiohttp request body for ``data`` (a buffer is sent in place, in slices)."""
    return _payload_type()(memoryview(data).cast("B"))


def request_timeout(transfer: TransferConfig, size: int) -> Any:
    """A deadline sized to the body: ``read_timeout`` plus ``size`` at 256 KiB/s."""
    import aiohttp

    return aiohttp.ClientTimeout(
        total=transfer.read_timeout + size / _MIN_RATE,
        sock_connect=transfer.connect_timeout,
        sock_read=transfer.read_timeout,
    )


class _GCSBackend(Backend):
    scheme = "gs"
    supports_multipart = False

    def __init__(
        self,
        bucket: str,
        *,
        emulator_host: str | None,
        endpoint_url: str | None,
        credentials: dict[str, Any] | None,
        credentials_origin: str | None,
        kms_key_name: str | None,
        upload_mode: UploadMode,
        chunk_size: int | None,
        transfer: TransferConfig,
        retry_config: RetryConfig,
    ) -> None:
        self.bucket = bucket
        self.emulator_host = emulator_host
        self._credentials = credentials
        self._credentials_origin = credentials_origin
        self.kms_key_name = kms_key_name
        self.upload_mode = upload_mode
        self.chunk_size = chunk_size
        self.transfer = transfer
        self.retry_config = retry_config
        root = emulator_host or endpoint_url or GOOGLE_API_ROOT
        self.api = f"{root}/storage/v1/b/{quote(bucket, safe='')}"
        self.upload_api = f"{root}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        self._session: Any = None
        self._token: Any = None
        self._token_source = "no credentials"

    def __repr__(self) -> str:
        return f"<GCS bucket={self.bucket!r}>"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self) -> None:
        import aiohttp

        credentials, source = self._credentials, self._credentials_origin
        if self.emulator_host is None and credentials is None:
            found = await anyio.to_thread.run_sync(_gcs_auth.find_adc_file)
            if found is not None:
                path, origin = found
                credentials = await anyio.to_thread.run_sync(
                    lambda: _gcs_auth.load_credentials_file(path, origin=origin)
                )
                source = f"the credentials file {str(path)!r} (from {origin})"
            else:
                source = "the GCE metadata server"
        connector = aiohttp.TCPConnector(limit=self.transfer.max_pool_connections)
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=request_timeout(self.transfer, 0),
            auto_decompress=False,
        )
        # aiohttp silently re-sends an idempotent request (a chunk PUT) once when a reused connection
        # drops. The resumable protocol must ask the server for its offset first, and RetryConfig must
        # count every attempt, so the store does all retrying itself.
        if hasattr(self._session, "_retry_connection"):
            self._session._retry_connection = False
        if self.emulator_host is None:
            self._token = _gcs_auth.make_token(credentials, self._session)
            self._token_source = source or "application default credentials"

    async def aclose(self) -> None:
        token, self._token = self._token, None
        pending = getattr(token, "acquiring", None)
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # -- requests ----------------------------------------------------------------------------------

    async def _auth(self, uri: str) -> dict[str, str]:
        if self._token is None:
            return {}
        try:
            token = await self._token.get()
        except Exception as exc:
            raise _token_error(exc, uri, self._token_source) from exc
        return {"Authorization": f"Bearer {token}"}

    def object_url(self, key: str) -> str:
        return f"{self.api}/o/{quote(key, safe='')}"

    @contextlib.asynccontextmanager
    async def send(
        self,
        method: str,
        url: str,
        *,
        uri: str,
        expect: tuple[int, ...] = (200,),
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        data: Any = None,
        size: int = 0,
    ) -> AsyncIterator[Any]:
        """One request; answers outside ``expect`` and connection failures raise clinops_async errors."""
        from yarl import URL

        if self._session is None:
            raise RuntimeError("the GCS backend is not open")
        all_headers = {**(await self._auth(uri)), **(headers or {})}
        try:
            async with self._session.request(
                method,
                URL(url, encoded=True),
                params=params,
                headers=all_headers,
                data=None if data is None else request_body(data),
                timeout=request_timeout(self.transfer, size),
            ) as response:
                if response.status not in expect:
                    error_body = await response.content.read(64 * 1024)
                    raise status_error(response.status, error_body, uri, self.bucket)
                yield response
        except Exception as exc:
            translated = translate(exc, uri, self.bucket)
            if translated is exc:
                raise
            raise translated from exc

    async def send_json(self, method: str, url: str, *, uri: str, **kwargs: Any) -> dict[str, Any]:
        async with self.send(method, url, uri=uri, **kwargs) as response:
            body = await response.read()
        try:
            result = json.loads(body) if body else {}
        except ValueError:
            raise TransientStoreError(f"{uri}: the server sent an unreadable answer", uri=uri) from None
        if not isinstance(result, dict):
            raise TransientStoreError(f"{uri}: the server sent an unexpected answer", uri=uri)
        return result

    @contextlib.contextmanager
    def missing_bucket(self, uri: str) -> Iterator[None]:
        """Inside, a 404 can only mean the bucket is missing (an upload, a listing)."""
        try:
            yield
        except ArtifactNotFoundError as exc:
            raise BucketNotFoundError(f"bucket {self.bucket!r} does not exist (for {uri})", uri=uri) from exc

    def write_params(self, request: PutRequest) -> dict[str, str]:
        """Query parameters of every write of ``request``'s object: precondition and KMS key."""
        params: dict[str, str] = {}
        if not request.overwrite:
            params["ifGenerationMatch"] = "0"
        if self.kms_key_name:
            params["kmsKeyName"] = self.kms_key_name
        return params

    @staticmethod
    def resource(request: PutRequest) -> dict[str, Any]:
        return {
            "name": request.key,
            "contentType": request.content_type,
            "metadata": dict(request.metadata),
            "crc32c": request.crc32c,
        }

    # -- writes ------------------------------------------------------------------------------------

    async def insert(
        self, key: str, uri: str, resource: dict[str, Any], data: memoryview, params: Mapping[str, str]
    ) -> dict[str, Any]:
        """A multipart (metadata + media) upload in one request; returns the stored object's resource."""
        boundary = uuid.uuid4().hex
        head = (
            f"--{boundary}\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{json.dumps(resource)}\r\n"
            f"--{boundary}\r\nContent-Type: {resource['contentType']}\r\n\r\n"
        ).encode()
        payload = b"".join((head, data, f"\r\n--{boundary}--\r\n".encode()))
        with self.missing_bucket(uri):
            return await self.send_json(
            "POST",
            self.upload_api,
            uri=uri,
                params={"uploadType": "multipart", **params},
                headers={"Content-Type": f"multipart/related; boundary={boundary}"},
                data=payload,
                size=len(payload),
            )

    async def put(self, request: PutRequest, data: memoryview) -> None:
        stored = await self.insert(request.key, request.uri, self.resource(request), data, self.write_params(request))
        await self.check_stored(request, stored)

    async def put_large(self, request: PutRequest, data: memoryview, part_size: int) -> None:
        if self.upload_mode == "composite":
            stored = await _gcs_upload.upload_composite(self, request, data, self.chunk_size or part_size)
        else:
            stored = await _gcs_upload.upload_resumable(self, request, data, self.chunk_size or DEFAULT_CHUNK_SIZE)
        await self.check_stored(request, stored)

    async def check_stored(self, request: PutRequest, stored: dict[str, Any]) -> None:
        """Compare the stored object's size and CRC32C (computed by GCS) with what was sent.

        A mismatch means the bytes were damaged on the way: that generation is deleted (so no reader
        gets it) and IntegrityError is raised.
        """
        if "crc32c" not in stored or "size" not in stored:
            stored = await self.send_json("GET", self.object_url(request.key), uri=request.uri)
        crc, size = stored.get("crc32c"), int(stored.get("size", -1))
        if crc == request.crc32c and size == request.size:
            return
        generation = str(stored.get("generation", ""))
        with anyio.CancelScope(shield=True), anyio.move_on_after(self.transfer.read_timeout):
            try:
                await self.delete(request.key, generation=generation or None)
            except Exception:
                logger.warning("could not delete the damaged upload of %s", request.uri, exc_info=True)
        raise IntegrityError(
            f"{request.uri}: GCS stored {size} bytes with CRC32C {crc}, but {request.size} bytes with CRC32C "
            f"{request.crc32c} were sent; the damaged object was removed. Retry the upload",
            uri=request.uri,
        )

    # -- reads -------------------------------------------------------------------------------------

    def _meta(self, key: str, headers: Mapping[str, str], size: int, whole: bool) -> ObjectMeta:
        prefix = "x-goog-meta-"
        metadata = {k[len(prefix):].lower(): v for k, v in headers.items() if k.lower().startswith(prefix)}
        return ObjectMeta(
            key=key,
            size=size,
            etag=headers.get("x-goog-generation"),
            content_type=headers.get("Content-Type"),
            metadata=metadata,
            # On a partial answer some servers hash only the range, so only a whole answer counts.
            server_crc32c=_crc_from_hash_header(headers.get("x-goog-hash")) if whole else None,
        )

    async def read_first(self, key: str, length: int) -> tuple[ObjectMeta, bytes]:
        uri = self.uri(key)
        url = self.object_url(key)
        async with self.send(
            "GET", url, uri=uri, expect=(200, 206, 416), params={"alt": "media"},
            headers={"Range": f"bytes=0-{length - 1}"}, size=length,
        ) as response:
            if response.status != 416:
                data = await response.read()
                total = _total_size(response.headers.get("Content-Range"), len(data))
                if len(data) != min(total, length):
                    raise TransientStoreError(f"{uri}: the response was truncated", uri=uri)
                return self._meta(key, response.headers, total, total == len(data)), data
        async with self.send("GET", url, uri=uri, params={"alt": "media"}) as response:  # an empty object
            data = await response.read()
            return self._meta(key, response.headers, len(data), True), data

    async def read_into(self, key: str, start: int, buffer: memoryview, etag: str | None) -> None:
        uri = self.uri(key)
        params = {"alt": "media"}
        if etag:
            # Pin the generation the first read saw: a replaced (or deleted) object answers 404 or 412.
            params.update(generation=etag, ifGenerationMatch=etag)
        end = start + len(buffer) - 1
        try:
            async with self.send(
                "GET", self.object_url(key), uri=uri, expect=(206,), params=params,
                headers={"Range": f"bytes={start}-{end}"}, size=len(buffer),
            ) as response:
                if not (response.headers.get("Content-Range") or "").startswith(f"bytes {start}-{end}/"):
                    raise TransientStoreError(f"{uri}: the server answered a different range", uri=uri)
                filled = 0
                async for piece in response.content.iter_any():
                    if filled + len(piece) > len(buffer):
                        raise TransientStoreError(f"{uri}: a ranged read returned too many bytes", uri=uri)
                    buffer[filled : filled + len(piece)] = piece
                    filled += len(piece)
        except (ArtifactNotFoundError, ArtifactExistsError):
            if etag:
                raise ObjectChangedError(uri) from None
            raise
        if filled != len(buffer):
            raise TransientStoreError(f"{uri}: a ranged read was truncated", uri=uri)

    async def head(self, key: str) -> ObjectMeta:
        stored = await self.send_json("GET", self.object_url(key), uri=self.uri(key))
        return ObjectMeta(
            key=key,
            size=int(stored.get("size", 0)),
            etag=str(stored["generation"]) if "generation" in stored else None,
            last_modified=_parse_time(stored.get("updated")),
            content_type=stored.get("contentType"),
            metadata=dict(stored.get("metadata") or {}),
            server_crc32c=stored.get("crc32c"),
        )

    async def iter_keys(self, prefix: str) -> AsyncIterator[str]:
        uri = self.uri(prefix)
        params = {"prefix": prefix, "maxResults": "1000", "fields": "items(name),nextPageToken"}
        while True:
            with self.missing_bucket(uri):
                page = await self.send_json("GET", f"{self.api}/o", uri=uri, params=params)
            for item in page.get("items", ()):
                yield str(item["name"])
            token = page.get("nextPageToken")
            if not token:
                return
            params = {**params, "pageToken": str(token)}

    async def delete(self, key: str, *, generation: str | None = None) -> None:
        params = {"ifGenerationMatch": generation} if generation else None
        try:
            async with self.send(
                "DELETE", self.object_url(key), uri=self.uri(key), expect=(200, 204), params=params
            ):
                pass
        except (ArtifactNotFoundError, ArtifactExistsError):
            pass  # already gone, or already replaced by a newer generation


class AsyncGCSPipelineStore(AsyncPipelineStore):
    """DataFrame artifacts in a Google Cloud Storage bucket, over the GCS JSON API.

    One aiohttp session per store, opened on first use (or by ``async with``) and closed by
    ``aclose()``. A store is bound to the event loop it is first used on.

    Artifacts below ``TransferConfig.multipart_threshold`` go up in one multipart request carrying
    their metadata and CRC32C. Larger ones go up as a resumable session sent in chunks (default), each
    chunk retried and resumed from the offset the server reports after a dropped connection; or, with
    ``upload_mode="composite"``, as components uploaded concurrently and composed. Either way the CRC32C
    GCS computes for the stored object is compared with the one sent before ``upload`` returns.

    Args:
        bucket: The bucket name.
        prefix: Object-name prefix for every artifact (trailing ``/`` stripped), e.g. ``"clinops/prod"``.
        format: ``StorageFormat.PARQUET`` (default) or ``StorageFormat.CSV``.
        credentials_path: A service-account JSON key file. None: Application Default Credentials
            (``GOOGLE_APPLICATION_CREDENTIALS``, the gcloud CLI's login, or the GCP metadata server).
        emulator_host: URL of a GCS emulator (no credentials are sent). Default:
            ``STORAGE_EMULATOR_HOST`` from the environment, else Google.
        endpoint_url: Another endpoint for the real service, with credentials (e.g. a Private
            Service Connect endpoint such as ``https://storage-myendpoint.p.googleapis.com``).
        kms_key_name: A Cloud KMS key (``projects/.../cryptoKeys/...``) to encrypt new objects with
            (customer-managed encryption); None for the bucket's default encryption.
        upload_mode: ``"resumable"`` (default) or ``"composite"`` for large artifacts.
        chunk_size: Bytes per resumable chunk and per composite component, a multiple of 256 KiB.
            Default: 32 MiB chunks; components of ``TransferConfig.part_size`` (16 MiB).
        compression: Parquet compression codec (``"snappy"``, ``"zstd"``, ..., ``"none"``).
        transfer: Part sizes, thresholds and concurrency (:class:`TransferConfig`).
        retry: Retry attempts and backoff (:class:`RetryConfig`).

    Raises:
        ConfigurationError: An invalid argument, or a credentials file that is missing or not a usable
            key file (checked before any network I/O; the message names the file, never its contents).
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        credentials_path: str | os.PathLike[str] | None = None,
        *,
        emulator_host: str | None = None,
        endpoint_url: str | None = None,
        kms_key_name: str | None = None,
        upload_mode: UploadMode = "resumable",
        chunk_size: int | None = None,
        compression: str = "snappy",
        transfer: TransferConfig | None = None,
        retry: RetryConfig | None = None,
    ) -> None:
        super().__init__(prefix, format, compression=compression, transfer=transfer, retry=retry)
        _check_bucket(bucket)
        if upload_mode not in ("resumable", "composite"):
            raise ConfigurationError(f"upload_mode must be 'resumable' or 'composite'; got {upload_mode!r}")
        if chunk_size is not None and (
            not isinstance(chunk_size, int) or isinstance(chunk_size, bool)
            or chunk_size < CHUNK_ALIGN or chunk_size % CHUNK_ALIGN
        ):
            raise ConfigurationError(
                f"chunk_size must be a positive multiple of 256 KiB ({CHUNK_ALIGN} bytes); got {chunk_size!r}"
            )
        if kms_key_name is not None and (
            not isinstance(kms_key_name, str) or not kms_key_name.startswith("projects/")
            or "/cryptoKeys/" not in kms_key_name
        ):
            raise ConfigurationError(
                "kms_key_name must be a key resource name such as "
                "'projects/P/locations/L/keyRings/R/cryptoKeys/K'"
            )
        emulator = _emulator_url(emulator_host)
        if endpoint_url is not None:
            if not isinstance(endpoint_url, str) or not endpoint_url.startswith(("http://", "https://")):
                raise ConfigurationError("endpoint_url must start with http:// or https://")
            endpoint_url = endpoint_url.rstrip("/")
        credentials: dict[str, Any] | None = None
        origin: str | None = None
        if credentials_path is not None:
            if not isinstance(credentials_path, str | os.PathLike) or not os.fspath(credentials_path):
                raise ConfigurationError("credentials_path must be the path of a JSON key file, or None")
            credentials = _gcs_auth.load_credentials_file(credentials_path, origin="credentials_path")
            origin = f"the credentials file {os.fspath(credentials_path)!r}"
        self.bucket = bucket
        self.credentials_path = credentials_path
        self.kms_key_name = kms_key_name
        self.upload_mode = upload_mode
        self._backend = _GCSBackend(
            bucket,
            emulator_host=emulator,
            endpoint_url=endpoint_url,
            credentials=credentials,
            credentials_origin=origin,
            kms_key_name=kms_key_name,
            upload_mode=upload_mode,
            chunk_size=chunk_size,
            transfer=self.transfer,
            retry_config=self.retry_config,
        )

    def __repr__(self) -> str:
        return (
            f"AsyncGCSPipelineStore(bucket={self.bucket!r}, prefix={self.prefix!r}, "
            f"format={self.format.value!r})"
        )


def _emulator_url(explicit: str | None) -> str | None:
    value = explicit if explicit is not None else os.environ.get("STORAGE_EMULATOR_HOST") or None
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError("emulator_host must be a URL such as 'http://127.0.0.1:9023'")
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        value = f"http://{value}"
    return value


def _check_bucket(bucket: object) -> None:
    if not isinstance(bucket, str) or not (3 <= len(bucket) <= 222):
        raise ConfigurationError(f"bucket must be a bucket name of 3 to 222 characters; got {bucket!r}")
    if "/" in bucket or bucket.startswith(("s3://", "gs://")) or any(c.isspace() for c in bucket):
        raise ConfigurationError(f"bucket must be a bare bucket name, without scheme or '/'; got {bucket!r}")
