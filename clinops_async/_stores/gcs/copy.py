"""Server-side copies on GCS: the JSON API's ``rewrite``, called until it says it is done.

GCS copies a small object within one call; a large one (or one that changes location, storage class
or KMS key) takes several, each answering with a ``rewriteToken`` that the next call hands back to
continue where the last stopped. No byte passes through the client, and nothing exists at the
destination until the last call completes, so a failed or cancelled copy leaves nothing behind.
The source is pinned to the generation its HEAD saw (``sourceGeneration``); ``overwrite=False`` is
``ifGenerationMatch=0`` on the destination. GCS computes the new object's CRC32C, which the caller
compares with the source's.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..._exceptions import ArtifactNotFoundError, BucketNotFoundError, TransientStoreError
from ..._retry import retry
from ..backend import ObjectChangedError

if TYPE_CHECKING:
    from collections.abc import Awaitable

    from ..._config import RetryConfig
    from ..backend import ByteCounter, CopyRequest
    from .http import BucketClient

__all__ = ["rewrite"]

_JSON = {"Content-Type": "application/json; charset=UTF-8"}


async def rewrite(
    http: BucketClient, request: CopyRequest, counter: ByteCounter, config: RetryConfig
) -> dict[str, Any]:
    """Rewrite the source into ``request.key``; returns the new object's resource."""
    url = http.rewrite_url(request.source_bucket, request.source.key, request.key)
    params: dict[str, str] = {}
    if http.kms_key_name:  # the destination store's key, as every new object of it has
        params["destinationKmsKeyName"] = http.kms_key_name
    if request.source.etag:
        params["sourceGeneration"] = request.source.etag
    if not request.overwrite:
        params["ifGenerationMatch"] = "0"
    per_call = http.transfer.rewrite_bytes_per_call
    if per_call is not None:
        params["maxBytesRewrittenPerCall"] = str(per_call)
    body = json.dumps({}).encode()
    done = 0
    while True:
        answer = await _call(http, url, request, dict(params), body, config)
        rewritten = int(answer.get("totalBytesRewritten", done))
        counter.add(max(0, rewritten - done))
        done = rewritten
        if answer.get("done"):
            resource = answer.get("resource")
            if not isinstance(resource, dict):
                raise TransientStoreError(f"{request.uri}: the rewrite answer carries no object", uri=request.uri)
            return resource
        token = answer.get("rewriteToken")
        if not token:
            raise TransientStoreError(f"{request.uri}: an unfinished rewrite answer carries no token", uri=request.uri)
        params["rewriteToken"] = str(token)


async def _call(
    http: BucketClient, url: str, request: CopyRequest, params: dict[str, str], body: bytes, config: RetryConfig
) -> dict[str, Any]:
    """One rewrite call, retried (a repeated call with the same token continues the same rewrite)."""
    def send() -> Awaitable[dict[str, Any]]:
        return http.send_json("POST", url, uri=request.uri, params=params, headers=_JSON, data=body,
                              size=request.source.size)

    try:
        return await retry(config, send, what=f"copy to {request.uri}")
    except BucketNotFoundError:
        raise
    except ArtifactNotFoundError:
        # The source was HEADed just before: its pinned generation is gone (replaced or deleted).
        raise ObjectChangedError(request.source_uri) from None
