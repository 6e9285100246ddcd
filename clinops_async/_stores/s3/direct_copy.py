"""One-request copies (CopyObject of the current version) outside botocore's request pipeline.

A CopyObject is a PUT with two headers and an empty body, and its success a 200 with a
``CopyObjectResult``: after botocore's first successful copy to the bucket, later ones are signed
and sent as :mod:`.direct` describes (0.5 ms of CPU each instead of 1.4 ms).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .direct import DirectRequests, takes_direct_requests

if TYPE_CHECKING:
    from types_aiobotocore_s3.client import S3Client

    from ..backend import WholeCopyRequest

__all__ = ["DirectCopier"]

logger = logging.getLogger("clinops_async")

#: The headers CopyObject takes for the store's encryption arguments (``encryption_args``).
_ENCRYPTION_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}


class DirectCopier(DirectRequests):
    """CopyObject requests for one bucket of one client, outside botocore's request pipeline."""

    operation = "CopyObject"

    @classmethod
    def for_bucket(
        cls, client: S3Client, bucket: str, *, encryption: dict[str, Any], requester_pays: bool
    ) -> DirectCopier | None:
        """A copier for ``bucket``, or None where every copy must go through botocore."""
        if not takes_direct_requests(client, bucket):
            return None
        return cls(client, direct_headers(requester_pays) | {
            _ENCRYPTION_HEADERS[name]: str(value) for name, value in encryption.items()
        })

    def learn(self, key: str) -> None:
        """botocore has just copied to ``key``: take its endpoint and scope, once."""
        if self.ready:
            return
        from botocore.utils import percent_encode

        suffix = percent_encode(key, safe="/~")
        for url in self._seen:
            if url.endswith("/" + suffix) and "?" not in url:
                self._adopt(url, url[: -len(suffix)])
                return

    async def copy(self, request: WholeCopyRequest) -> bool:
        """Send one CopyObject of ``request``'s source as it is now; True when S3 answered with a copy,
        False for anything else (the caller then asks botocore)."""
        from botocore.utils import percent_encode

        assert self._scope is not None  # callers check ``ready``
        headers = {
            # As botocore quotes them: the source with "/" kept, the key path with "/" and "~" kept.
            "x-amz-copy-source": percent_encode(f"{request.source_bucket}/{request.source_key}", safe="-._~/"),
            "x-amz-metadata-directive": "COPY",
        }
        if not request.overwrite:
            headers["If-None-Match"] = "*"
        try:
            status, body = await self._send("PUT", self._scope.base_url + percent_encode(request.key, safe="/~"),
                                            headers)
        except Exception:
            logger.debug("a direct copy to %s failed; botocore sends it again", request.uri, exc_info=True)
            return False
        if status != 200 or b"<CopyObjectResult" not in body:
            return False  # an error (a 200 with an <Error> body too): botocore's answer says which
        self.completed += 1
        return True


def direct_headers(requester_pays: bool) -> dict[str, str]:
    """The headers every direct request of a store carries."""
    from ..._version import __version__

    headers = {"User-Agent": f"clinops-async/{__version__} (direct)"}
    if requester_pays:
        headers["x-amz-request-payer"] = "requester"
    return headers
