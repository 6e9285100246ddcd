"""Listing pages (ListObjectsV2) outside botocore's request pipeline.

botocore turns each 1,000-key page into dictionaries shape by shape on the event loop (about 20 ms
of CPU a page, and the allocations set off Python's full collection in a large process); the page
is a flat XML document, read here with ElementTree into exactly the fields a listing keeps. After
botocore's first successful page for the bucket, later pages are signed and sent as :mod:`.direct`
describes. The request asks for keys URL-encoded (``encoding-type=url``) and they are decoded as
botocore decodes them (``unquote_plus``, only when the answer says it encoded them), so both paths
return the same keys; anything unexpected in the answer sends the page through botocore instead.
"""

from __future__ import annotations

import logging
from urllib.parse import quote, unquote_plus
from xml.etree import ElementTree

from ..._aws import parse_timestamp
from ..backend import ObjectMeta, ObjectPage
from .direct import DirectRequests, without_query

__all__ = ["DirectLister"]

logger = logging.getLogger("clinops_async")


class DirectLister(DirectRequests):
    """ListObjectsV2 pages for one bucket of one client, outside botocore's request pipeline."""

    operation = "ListObjectsV2"

    def learn(self) -> None:
        """botocore has just listed a page of the bucket: take its endpoint and scope, once."""
        if not self.ready and self._seen:
            url = list(self._seen)[-1]  # the last one sent: after a region redirect, the right region
            self._adopt(url, without_query(url))

    async def list_page(self, prefix: str, token: str | None, max_keys: int) -> ObjectPage | None:
        """One page of the objects under ``prefix``; None when the answer is anything but a clean
        listing (the caller then asks botocore)."""
        assert self._scope is not None  # callers check ``ready``
        query = {"list-type": "2", "prefix": prefix, "max-keys": str(max_keys), "encoding-type": "url"}
        if token is not None:
            query["continuation-token"] = token
        encoded = "&".join(f"{name}={quote(value, safe='-_.~')}" for name, value in sorted(query.items()))
        try:
            status, body = await self._send("GET", f"{self._scope.base_url}?{encoded}", {})
            page = _parse_page(body) if status == 200 else None
        except Exception:
            logger.debug("a direct listing of %r failed; botocore lists it again", prefix, exc_info=True)
            return None
        if page is not None:
            self.completed += 1
        return page


def _parse_page(body: bytes) -> ObjectPage | None:
    """The objects and next token of a ListBucketResult; None for any other document."""
    root = ElementTree.fromstring(body)
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{namespace}ListBucketResult":
        return None

    def text(element: ElementTree.Element, name: str) -> str | None:
        child = element.find(namespace + name)
        return None if child is None else (child.text or "")

    decode = unquote_plus if text(root, "EncodingType") == "url" else str
    objects = []
    for item in root.iterfind(namespace + "Contents"):
        key, size, modified = text(item, "Key"), text(item, "Size"), text(item, "LastModified")
        if key is None:
            return None
        objects.append(ObjectMeta(key=decode(key), size=int(size or 0), etag=text(item, "ETag"),
                                  last_modified=parse_timestamp(modified) if modified else None))
    truncated, token = text(root, "IsTruncated") == "true", text(root, "NextContinuationToken")
    return ObjectPage(objects, token if truncated and token else None)
