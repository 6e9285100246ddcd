"""Listing with metadata, page by page: what the list responses say of each artifact, no HEAD each.

S3's ListObjectsV2 gives each object's size, last-modified time and ETag; the GCS JSON API's list
gives size, update time and generation; the local store stats each file while it walks. Each page
is one request retried on its own from its continuation token, so a failure on page 40 costs page
40 again, not pages 1 to 40.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from .._retry import retry
from .names import name_from_key

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    from .._config import RetryConfig
    from .backend import Backend, ObjectPage

__all__ = ["ArtifactEntry", "iter_entries"]


@dataclass(frozen=True)
class ArtifactEntry:
    """One artifact as a listing reports it (``iter_artifacts``), without a request of its own.

    Attributes:
        name: The artifact name, as ``download`` takes it.
        uri: Its full URI.
        size: Stored size in bytes.
        last_modified: When it was last written (time-zone aware), when the backend reports it.
        etag: The stored version: S3's ETag (as S3 quotes it), the GCS generation, or on the local
            store ``"<mtime_ns>-<size>"``. It changes whenever the artifact is replaced.
    """

    name: str
    uri: str
    size: int
    last_modified: datetime | None
    etag: str | None


async def iter_entries(
    backend: Backend, store_prefix: str, key_prefix: str, ext: str, retry_config: RetryConfig
) -> AsyncGenerator[ArtifactEntry, None]:
    """The artifacts whose keys start with ``key_prefix``, in key order, one page at a time.

    Only objects that ``download`` can reach (the store's extension, a valid name) are yielded,
    exactly the names ``list_artifacts`` returns.
    """
    uri = backend.uri(key_prefix)
    token: str | None = None
    number = 1
    while True:
        page: ObjectPage = await retry(
            retry_config, lambda token=token: backend.list_page(key_prefix, token),  # type: ignore[misc]
            what=f"listing of {uri} (page {number})",
        )
        for meta in page.objects:
            name = name_from_key(store_prefix, meta.key, ext)
            if name is not None:
                yield ArtifactEntry(name, backend.uri(meta.key), meta.size, meta.last_modified, meta.etag)
        if page.next_token is None:
            return
        token = page.next_token
        number += 1
