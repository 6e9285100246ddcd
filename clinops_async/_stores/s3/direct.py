"""Requests of the S3 hot paths signed by botocore's SigV4 signer and sent on the client's own HTTP
session, without botocore's per-request pipeline: one-request copies (:mod:`.direct_copy`) and
listing pages (:mod:`.direct_list`).

Why: a bulk copy or a long listing is thousands of small requests, and for each one aiobotocore
spends about 1.4 ms of CPU on the event loop (parameter validation and serialisation, endpoint
rules, user-agent assembly, a dozen event hooks, response parsing into dictionaries) against about
0.3 ms for obstore. On a busy machine that CPU is taken from everything else, and the loop stalls
between answers (``docs/development.md`` has the measurements).

What stays botocore's: the endpoint and signing scope, learnt from the first request of the kind
that botocore sends for the bucket and that succeeds (a ``before-send`` hook notes its URL and the
credential scope of its signature, so endpoint rules, addressing style and region redirects are
botocore's); the credentials (the client's, refreshed as the client refreshes them); the signature
(``S3SigV4Auth``); and the HTTP session (connection pool, TLS, proxies, socket options). Anything
but a clean success, an exception included, makes the caller send the same request through
botocore, whose answer decides: errors keep their botocore shape and translation, and a request this
path cannot sign correctly costs one more request, not a failure. Buckets that need another signer
(S3 Express One Zone, access-point ARNs, SigV4a) never take this path, and botocore's per-request
event hooks (a caller's own, on a session handed in) do not run for these requests.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

__all__ = ["DirectRequests", "Scope", "direct_headers", "takes_direct_requests", "without_query"]

#: How many URLs of botocore's requests are remembered while the scope is not yet known.
_SEEN_LIMIT = 256


@dataclass(frozen=True)
class Scope:
    """Where this bucket's requests go and how they are signed, as botocore resolved it."""

    base_url: str  # "https://bucket.s3.eu-west-1.amazonaws.com/", "http://host:port/bucket/" (copies)
    region: str
    service: str


def takes_direct_requests(client: Any, bucket: str) -> bool:
    """Whether requests to ``bucket`` may go this way: a SigV4 bucket, and an aiobotocore that keeps
    the credentials and HTTP session where this module reads them."""
    if bucket.startswith("arn:") or bucket.endswith(("--x-s3", "--xa-s3")):
        return False  # access points and S3 Express sign otherwise
    signer = getattr(client, "_request_signer", None)
    endpoint = getattr(client, "_endpoint", None)
    return (getattr(signer, "_credentials", None) is not None
            and getattr(getattr(endpoint, "http_session", None), "send", None) is not None)


def direct_headers(requester_pays: bool) -> dict[str, str]:
    """The headers every direct request of a store carries."""
    from ..._version import __version__

    headers = {"User-Agent": f"clinops-async/{__version__} (direct)"}
    if requester_pays:
        headers["x-amz-request-payer"] = "requester"
    return headers


class DirectRequests:
    """One operation's requests for one bucket of one client; ready once :meth:`_adopt` took the
    scope of a request botocore sent and that succeeded."""

    #: The botocore operation whose requests show the endpoint ("CopyObject", "ListObjectsV2").
    operation: ClassVar[str]

    def __init__(self, client: S3Client, headers: dict[str, str]) -> None:
        self._client = client
        self._headers = headers
        self._scope: Scope | None = None
        self._seen: dict[str, tuple[str, str]] = {}  # botocore's URLs and their signing scopes
        #: Requests this path completed (the tests check that the path is taken).
        self.completed = 0
        client.meta.events.register(f"before-send.s3.{self.operation}", self._watch)

    @property
    def ready(self) -> bool:
        return self._scope is not None

    def _watch(self, request: Any, **_: Any) -> None:
        """botocore event handler: note where a request goes and its signing scope (it only looks)."""
        scope = _signing_scope(request.headers.get("Authorization"))
        if scope is not None and len(self._seen) < _SEEN_LIMIT:
            self._seen[request.url] = scope

    def _adopt(self, url: str, base_url: str) -> None:
        """Take the endpoint of botocore's request to ``url`` (seen, and now known to have succeeded)."""
        region, service = self._seen[url]
        self._scope = Scope(base_url=base_url, region=region, service=service)
        self._seen.clear()
        self._client.meta.events.unregister(f"before-send.s3.{self.operation}", self._watch)

    async def _send(self, method: str, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
        """Sign and send one request with an empty body; its status and whole body (raises what the
        HTTP session raises)."""
        from botocore.auth import S3SigV4Auth
        from botocore.awsrequest import AWSRequest

        assert self._scope is not None  # callers check ``ready``
        credentials = self._client._request_signer._credentials  # type: ignore[attr-defined]
        frozen = credentials.get_frozen_credentials()  # refreshes credentials about to expire
        if inspect.isawaitable(frozen):
            frozen = await frozen
        request = AWSRequest(method=method, url=url, headers={**self._headers, **headers}, data=b"")
        S3SigV4Auth(frozen, self._scope.service, self._scope.region).add_auth(request)
        response = await self._client._endpoint.http_session.send(request.prepare())  # type: ignore[attr-defined]
        return int(response.status_code), bytes(await response.content)


def _signing_scope(authorization: object) -> tuple[str, str] | None:
    """The region and service of a SigV4 ``Authorization`` header; None for another signer."""
    if isinstance(authorization, bytes):
        authorization = authorization.decode("latin-1")
    if not isinstance(authorization, str) or not authorization.startswith("AWS4-HMAC-SHA256 "):
        return None
    credential = authorization.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
    if len(credential) != 5 or credential[4] != "aws4_request":
        return None
    return credential[2], credential[3]


def without_query(url: str) -> str:
    """``url`` up to its query."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
