"""Server-side copies on GCS: the JSON API's ``rewrite``, called until it says it is done.

GCS copies a small object within one call; a large one (or one that changes location, storage class
or KMS key) takes several, each answering with a ``rewriteToken`` that the next call hands back to
continue where the last stopped. No byte passes through the client, and nothing exists at the
destination until the last call completes, so a failed or cancelled copy leaves nothing behind.
The source is pinned to the generation its HEAD saw (``sourceGeneration``); ``overwrite=False`` is
``ifGenerationMatch=0`` on the destination. GCS computes the new object's CRC32C, which the caller
compares with the source's.

``rewrite_whole`` is the form a plain copy takes: one call without a HEAD of the source first, so
without ``sourceGeneration``; its answer, the new object, carries the copy's metadata (with the
CRC32C recorded when the source was written) and the CRC32C GCS computed, which the caller
compares. When GCS does not finish in that call (a large object), the copy starts again pinned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..._exceptions import ArtifactNotFoundError, BucketNotFoundError, TransientStoreError
from ..._retry import retry
from ..backend import CopyNeedsSourceInfoError, ObjectChangedError

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ..._config import RetryConfig
    from ..backend import ByteCounter, CopyRequest, WholeCopyRequest
    from .http import BucketClient

__all__ = ["rewrite", "rewrite_whole"]

_JSON = {"Content-Type": "application/json; charset=UTF-8"}
#: The size a rewrite of unknown size is given for its deadline: GCS ends a long call with a token.
_UNKNOWN_SIZE = 1024 * 1024 * 1024


async def rewrite(
    http: BucketClient, request: CopyRequest, counter: ByteCounter, config: RetryConfig
) -> dict[str, Any]:
    """Rewrite the source into ``request.key``; returns the new object's resource."""
    url = http.rewrite_url(request.source_bucket, request.source.key, request.key)
    params = _params(http, request.overwrite)
    if request.source.etag:
        params["sourceGeneration"] = request.source.etag

    async def call(params: dict[str, str]) -> dict[str, Any]:
        try:
            return await _call(http, url, request.uri, params, request.source.size, config)
        except BucketNotFoundError:
            raise
        except ArtifactNotFoundError:
            # The source was HEADed just before: its pinned generation is gone (replaced or deleted).
            raise ObjectChangedError(request.source_uri) from None

    return await _loop(call, params, request.uri, counter)


async def rewrite_whole(http: BucketClient, request: WholeCopyRequest, config: RetryConfig) -> dict[str, Any]:
    """Rewrite the source's current generation into ``request.key``, unread; the new object's resource."""
    url = http.rewrite_url(request.source_bucket, request.source_key, request.key)

    async def call(params: dict[str, str]) -> dict[str, Any]:
        try:
            return await _call(http, url, request.uri, params, _UNKNOWN_SIZE, config)
        except BucketNotFoundError:
            raise
        except ArtifactNotFoundError:
            raise ArtifactNotFoundError(f"{request.source_uri} does not exist", uri=request.source_uri) from None

    answer = await call(_params(http, request.overwrite))
    resource = answer.get("resource")
    if not answer.get("done") or not isinstance(resource, dict):
        # Unfinished: nothing exists at the destination yet. A rewrite of several calls is pinned
        # to the generation a HEAD saw, so the caller reads the source and starts that one instead.
        raise CopyNeedsSourceInfoError
    return resource


def _params(http: BucketClient, overwrite: bool) -> dict[str, str]:
    params: dict[str, str] = {}
    if http.kms_key_name:  # the destination store's key, as every new object of it has
        params["destinationKmsKeyName"] = http.kms_key_name
    if not overwrite:
        params["ifGenerationMatch"] = "0"
    per_call = http.transfer.rewrite_bytes_per_call
    if per_call is not None:
        params["maxBytesRewrittenPerCall"] = str(per_call)
    return params


async def _loop(
    call: Callable[[dict[str, str]], Awaitable[dict[str, Any]]], params: dict[str, str], uri: str,
    counter: ByteCounter,
) -> dict[str, Any]:
    """Call rewrite, handing back each token, until it is done; the new object's resource."""
    done = 0
    while True:
        answer = await call(dict(params))
        rewritten = int(answer.get("totalBytesRewritten", done))
        counter.add(max(0, rewritten - done))
        done = rewritten
        if answer.get("done"):
            resource = answer.get("resource")
            if not isinstance(resource, dict):
                raise TransientStoreError(f"{uri}: the rewrite answer carries no object", uri=uri)
            return resource
        token = answer.get("rewriteToken")
        if not token:
            raise TransientStoreError(f"{uri}: an unfinished rewrite answer carries no token", uri=uri)
        params["rewriteToken"] = str(token)


async def _call(
    http: BucketClient, url: str, uri: str, params: dict[str, str], size: int, config: RetryConfig
) -> dict[str, Any]:
    """One rewrite call, retried (a repeated call with the same token continues the same rewrite)."""
    def send() -> Awaitable[dict[str, Any]]:
        return http.send_json("POST", url, uri=uri, params=params, headers=_JSON, data=b"{}", size=size)

    return await retry(config, send, what=f"copy to {uri}")
