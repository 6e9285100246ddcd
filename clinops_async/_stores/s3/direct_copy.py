"""One-request copies (CopyObject of the current version) outside botocore's request pipeline.

A CopyObject is a PUT with two headers and an empty body, and its success a 200 with a
``CopyObjectResult``: after botocore's first successful copy to the bucket, later ones are signed
and sent as :mod:`.direct` describes (0.5 ms of CPU each instead of 1.4 ms).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from .direct import DirectRequests

if TYPE_CHECKING:
    from ..backend import WholeCopyRequest

__all__ = ["DirectCopier", "encryption_headers"]

logger = logging.getLogger("clinops_async")

#: The headers CopyObject takes for the store's encryption arguments (``encryption_args``).
_ENCRYPTION_HEADERS = {
    "ServerSideEncryption": "x-amz-server-side-encryption",
    "SSEKMSKeyId": "x-amz-server-side-encryption-aws-kms-key-id",
}


class DirectCopier(DirectRequests):
    """CopyObject requests for one bucket of one client, outside botocore's request pipeline."""

    operation = "CopyObject"

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



def encryption_headers(encryption: dict[str, Any]) -> dict[str, str]:
    """The CopyObject headers of the store's encryption arguments (``encryption_args``)."""
    return {_ENCRYPTION_HEADERS[name]: str(value) for name, value in encryption.items()}
