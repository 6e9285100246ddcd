"""The GCS JSON API over HTTP: one bucket's requests, their bodies and deadlines, and their errors.

Both the backend (:mod:`.backend`) and the large-upload protocols (:mod:`.upload`) send their requests
through a :class:`BucketClient`, so this module imports neither of them. Every failure leaves here as
a clinops_async error: HTTP answers through :func:`status_error`, aiohttp exceptions through
:func:`translate`, token failures through :func:`token_error`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

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
from ..backend import ObjectChangedError, PutRequest
from . import auth as _gcs_auth

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator, Mapping

    from ..._config import TransferConfig

__all__ = [
    "GOOGLE_API_ROOT",
    "TRANSIENT_STATUS",
    "BucketClient",
    "request_body",
    "request_timeout",
    "status_error",
    "token_error",
    "translate",
]

GOOGLE_API_ROOT = "https://storage.googleapis.com"
#: Request deadlines allow at least this rate (bytes per second) on top of ``read_timeout``.
_MIN_RATE = 256 * 1024
TRANSIENT_STATUS = frozenset({408, 429, 500, 502, 503, 504})
#: The most of an error answer's body that is read (its message is all that is used).
_ERROR_BODY_BYTES = 64 * 1024
#: A buffer is written to the connection in slices of this size, so no copy of it is made.
_WRITE_SLICE = 1 << 20


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
    if status in TRANSIENT_STATUS or status >= 500:
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


def token_error(exc: BaseException, uri: str, source: str) -> BaseException:
    """The clinops_async error for a failure to get an access token with credentials from ``source``."""
    import aiohttp

    if isinstance(exc, aiohttp.ClientResponseError):
        if exc.status in TRANSIENT_STATUS:
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


@functools.cache
def _payload_type() -> Any:
    # Built on first use: aiohttp is imported only by stores that talk to GCS.
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
            for start in range(0, end, _WRITE_SLICE):
                await writer.write(view[start : min(start + _WRITE_SLICE, end)])

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


class BucketClient:
    """One bucket's JSON API over one long-lived aiohttp session, with an access token unless emulated.

    Args:
        bucket: The bucket name.
        root: The API root: Google's, an emulator's or another endpoint's URL.
        transfer: Connection pool size and the timeouts every request's deadline is built from.
        kms_key_name: The Cloud KMS key every new object is encrypted with, or None.
        authenticate: False for an emulator: no token is fetched or sent.
        user_project: The project billed for every request (``userProject``), for requester-pays buckets.
    """

    def __init__(
        self, bucket: str, *, root: str, transfer: TransferConfig, kms_key_name: str | None, authenticate: bool,
        user_project: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.root = root
        self.user_project = user_project
        self.transfer = transfer
        self.kms_key_name = kms_key_name
        self.authenticate = authenticate
        self.root = root
        self.api = f"{root}/storage/v1/b/{quote(bucket, safe='')}"
        self.upload_api = f"{root}/upload/storage/v1/b/{quote(bucket, safe='')}/o"
        self._session: Any = None
        self._token: Any = None
        self._own_token = True
        self._token_source = "no credentials"

    def __repr__(self) -> str:
        return f"<GCS JSON API bucket={self.bucket!r}>"

    def uri(self, key: str) -> str:
        return f"gs://{self.bucket}/{key}"

    def object_url(self, key: str) -> str:
        return f"{self.api}/o/{quote(key, safe='')}"

    def rewrite_url(self, source_bucket: str, source_key: str, key: str) -> str:
        """The ``rewrite`` of ``source_bucket``'s object ``source_key`` into ``key`` of this bucket."""
        source = f"{self.root}/storage/v1/b/{quote(source_bucket, safe='')}/o/{quote(source_key, safe='')}"
        return f"{source}/rewriteTo/b/{quote(self.bucket, safe='')}/o/{quote(key, safe='')}"

    # -- lifecycle ---------------------------------------------------------------------------------

    async def open(self, credentials: dict[str, Any] | None, source: str | None, token: Any = None) -> None:
        """Open the session; ``credentials`` (None: the metadata server) are described by ``source``; a
        ``token`` handed in by the caller is used instead."""
        import aiohttp

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
        if self.authenticate:
            self._own_token = token is None
            self._token = token if token is not None else _gcs_auth.make_token(credentials, self._session)
            self._token_source = source or "application default credentials"

    @property
    def session(self) -> Any:
        return self._session

    @property
    def token(self) -> Any:
        return self._token

    async def aclose(self) -> None:
        token, self._token = self._token, None
        pending = getattr(token, "acquiring", None) if self._own_token else None
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    @property
    def is_open(self) -> bool:
        return self._session is not None

    # -- requests ----------------------------------------------------------------------------------

    async def _auth(self, uri: str) -> dict[str, str]:
        if self._token is None:
            return {}
        try:
            token = await self._token.get()
        except Exception as exc:
            raise token_error(exc, uri, self._token_source) from exc
        return {"Authorization": f"Bearer {token}"}

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
        if self.user_project is not None:  # requester pays: on every request, as GCS asks
            params = {**(params or {}), "userProject": self.user_project}
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
                    error_body = await response.content.read(_ERROR_BODY_BYTES)
                    raise status_error(response.status, error_body, uri, self.bucket)
                yield response
        except Exception as exc:
            translated = translate(exc, uri, self.bucket)
            if translated is exc:
                raise
            raise translated from exc

    async def send_json(self, method: str, url: str, *, uri: str, **kwargs: Any) -> dict[str, Any]:
        """One request whose answer is a JSON object (empty for an empty body)."""
        async with self.send(method, url, uri=uri, **kwargs) as response:
            body = await response.read()
        try:
            result = json.loads(body) if body else {}
        except ValueError:
            raise TransientStoreError(f"{uri}: the server sent an unreadable answer", uri=uri) from None
        if not isinstance(result, dict):
            raise TransientStoreError(f"{uri}: the server sent an unexpected answer", uri=uri)
        return result

    async def read_error_body(self, response: Any) -> bytes:
        """The start of an answer's body, enough for :func:`status_error`."""
        return bytes(await response.content.read(_ERROR_BODY_BYTES))

    @contextlib.contextmanager
    def missing_bucket(self, uri: str) -> Iterator[None]:
        """Inside, a 404 can only mean the bucket is missing (an upload, a listing)."""
        try:
            yield
        except ArtifactNotFoundError as exc:
            raise BucketNotFoundError(f"bucket {self.bucket!r} does not exist (for {uri})", uri=uri) from exc

    # -- writes ------------------------------------------------------------------------------------

    def kms_params(self) -> dict[str, str]:
        """Query parameters that encrypt a new object with the store's KMS key (none without one)."""
        return {"kmsKeyName": self.kms_key_name} if self.kms_key_name else {}

    def write_params(self, request: PutRequest) -> dict[str, str]:
        """Query parameters of every write of ``request``'s object: precondition and KMS key."""
        params = {} if request.overwrite else {"ifGenerationMatch": "0"}
        if request.if_match is not None:
            params = {"ifGenerationMatch": request.if_match}
        return {**params, **self.kms_params()}

    @staticmethod
    def resource(request: PutRequest) -> dict[str, Any]:
        """The object resource (name, type, metadata, CRC32C) a write of ``request`` sends."""
        return {
            "name": request.key,
            "contentType": request.content_type,
            "metadata": dict(request.metadata),
            "crc32c": request.crc32c,
        }

    async def insert(
        self, uri: str, resource: dict[str, Any], data: memoryview, params: Mapping[str, str]
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

    async def delete(self, key: str, *, generation: str | None = None) -> None:
        """Delete ``key`` (only that ``generation`` when given); no error when it is already gone."""
        params = {"ifGenerationMatch": generation} if generation else None
        try:
            async with self.send(
                "DELETE", self.object_url(key), uri=self.uri(key), expect=(200, 204), params=params
            ):
                pass
        except (ArtifactNotFoundError, ArtifactExistsError):
            pass  # already gone, or already replaced by a newer generation
