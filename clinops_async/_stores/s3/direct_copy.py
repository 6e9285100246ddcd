"""One-request copies (CopyObject) signed by botocore's SigV4 signer and sent on the client's own
HTTP session, without botocore's per-request pipeline.

Why: a bulk copy is thousands of tiny requests, and for each one aiobotocore spends about 1.4 ms of
CPU on the event loop (parameter validation and serialisation, endpoint rules, user-agent assembly,
a dozen event hooks, response parsing) against about 0.3 ms for obstore. On a busy machine that CPU
is taken from the server and the loop stalls between answers (``docs/development.md`` has the
measurements). A CopyObject of the current version needs none of that machinery: its request is a
PUT with two headers and an empty body, and its success is a 200 with a ``CopyObjectResult``.

What is still botocore's: the endpoint and signing scope (learnt from the first CopyObject botocore
sends for this bucket, after it succeeded: its URL and the credential scope of its signature, so the
endpoint rules, addressing style and region redirects are botocore's), the credentials (the
client's, refreshed as the client refreshes them), the signature (``S3SigV4Auth``) and the HTTP
session (connection pool, TLS, proxies, socket options). Anything but a clean success, an exception
included, returns False and the caller sends the same request through botocore, whose answer
decides: errors keep their botocore shape and translation, and a request this path cannot sign
correctly costs one more request, not a failure. Buckets that need another signer (S3 Express One
Zone, access-point ARNs, SigV4a) never take this path, and botocore's per-request event hooks (a
caller's own, on a session handed in) do not run for these requests.
"""

from __future__ import annotations

import inspect
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

    from ..backend import WholeCopyRequest

__all__ = ["DirectCopier"]

logger = logging.getLogger("clinops_async")

#: How many URLs of botocore's copies are remembered while the scope is not yet known.
_SEEN_LIMIT = 256
#: The headers CopyObject takes for the store's encryption arguments (``encryption_args``).
_ENCRYPTION_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}


@dataclass(frozen=True)
class _Scope:
    """Where this bucket's objects are and how requests to them are signed, as botocore resolved it."""

    base_url: str  # up to the key: "https://bucket.s3.eu-west-1.amazonaws.com/" or "http://host:port/bucket/"
    region: str
    service: str


class DirectCopier:
    """CopyObject requests for one bucket of one client, outside botocore's request pipeline; ready
    once :meth:`learn` has seen botocore copy to the bucket."""

    def __init__(self, client: S3Client, extra_headers: dict[str, str]) -> None:
        self._client = client
        self._extra_headers = extra_headers
        self._scope: _Scope | None = None
        self._seen: dict[str, tuple[str, str]] = {}  # botocore's CopyObject URLs and signing scopes
        #: Copies this path completed (the tests check that the path is taken).
        self.completed = 0
        client.meta.events.register("before-send.s3.CopyObject", self._watch)

    @classmethod
    def for_bucket(
        cls, client: S3Client, bucket: str, *, encryption: dict[str, Any], requester_pays: bool
    ) -> DirectCopier | None:
        """A copier for ``bucket``, or None where every request must go through botocore."""
        if bucket.startswith("arn:") or bucket.endswith(("--x-s3", "--xa-s3")):
            return None  # access points and S3 Express sign otherwise
        if not _internals_present(client):
            return None
        from ..._version import __version__

        headers = {_ENCRYPTION_HEADERS[name]: str(value) for name, value in encryption.items()}
        headers["User-Agent"] = f"clinops-async/{__version__} (direct CopyObject)"
        if requester_pays:
            headers["x-amz-request-payer"] = "requester"
        return cls(client, headers)

    @property
    def ready(self) -> bool:
        return self._scope is not None

    def _watch(self, request: Any, **_: Any) -> None:
        """botocore event handler: note where a CopyObject goes and its signing scope (it only looks)."""
        scope = _signing_scope(request.url, request.headers.get("Authorization"))
        if scope is not None and len(self._seen) < _SEEN_LIMIT:
            self._seen[request.url] = scope

    def learn(self, key: str) -> None:
        """botocore has just copied to ``key``: take its endpoint and scope, once."""
        if self._scope is not None:
            return
        from botocore.utils import percent_encode

        suffix = percent_encode(key, safe="/~")
        for url, (region, service) in self._seen.items():
            if url.endswith("/" + suffix):
                self._scope = _Scope(base_url=url[: -len(suffix)], region=region, service=service)
                self._seen.clear()
                self._client.meta.events.unregister("before-send.s3.CopyObject", self._watch)
                return

    async def copy(self, request: WholeCopyRequest) -> bool:
        """Send one CopyObject of ``request``'s source as it is now; True when S3 answered with a copy,
        False for anything else (the caller then asks botocore)."""
        from botocore.utils import percent_encode

        headers = {
            # As botocore quotes them: the source with "/" kept, the key path with "/" and "~" kept.
            "x-amz-copy-source": percent_encode(f"{request.source_bucket}/{request.source_key}", safe="-._~/"),
            "x-amz-metadata-directive": "COPY",
            **self._extra_headers,
        }
        if not request.overwrite:
            headers["If-None-Match"] = "*"
        assert self._scope is not None  # callers check ``ready``
        url = self._scope.base_url + percent_encode(request.key, safe="/~")
        try:
            prepared = await self._signed("PUT", url, headers)
            response = await self._client._endpoint.http_session.send(prepared)  # type: ignore[attr-defined]
            body = await response.content
        except Exception:
            logger.debug("a direct copy to %s failed; botocore sends it again", request.uri, exc_info=True)
            return False
        if response.status_code != 200 or b"<CopyObjectResult" not in body:
            return False  # an error (a 200 with an <Error> body too): botocore's answer says which
        self.completed += 1
        return True

    async def _signed(self, method: str, url: str, headers: dict[str, str]) -> Any:
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        credentials = self._client._request_signer._credentials  # type: ignore[attr-defined]
        frozen = credentials.get_frozen_credentials()  # refreshes credentials about to expire
        if inspect.isawaitable(frozen):
            frozen = await frozen
        request = AWSRequest(method=method, url=url, headers=headers, data=b"")
        assert self._scope is not None
        S3SigV4Auth(frozen, self._scope.service, self._scope.region).add_auth(request)
        return request.prepare()


def _internals_present(client: Any) -> bool:
    """Whether this aiobotocore keeps the credentials and HTTP session where this path reads them."""
    signer = getattr(client, "_request_signer", None)
    endpoint = getattr(client, "_endpoint", None)
    return (getattr(signer, "_credentials", None) is not None
            and getattr(getattr(endpoint, "http_session", None), "send", None) is not None)


def _signing_scope(url: str, authorization: object) -> tuple[str, str] | None:
    """The region and service a SigV4-signed request was signed for; None for another signer or a
    URL with a query (not a plain CopyObject)."""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    if not isinstance(authorization, str) or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    parts = urlsplit(url)
    if parts.query or parts.fragment:
        return None
    credential = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        return None
    return credential[2], credential[3]
