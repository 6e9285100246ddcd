"""The byte-level primitives each storage backend provides to the shared store logic."""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

__all__ = ["Backend", "ObjectChangedError", "ObjectMeta", "PutRequest"]


@dataclass(frozen=True)
class ObjectMeta:
    """What a backend knows about one stored object."""

    key: str
    size: int
    etag: str | None = None
    last_modified: datetime | None = None
    content_type: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    #: The object's CRC32C as reported by the server (base64, big-endian), when it reports one.
    server_crc32c: str | None = None


@dataclass(frozen=True)
class PutRequest:
    """Everything a backend needs to store one object, besides its bytes."""

    key: str
    uri: str
    size: int
    content_type: str
    metadata: Mapping[str, str]
    #: CRC32C of the whole object (base64 of the big-endian value).
    crc32c: str
    overwrite: bool


class ObjectChangedError(Exception):
    """The object was replaced while it was being read in ranges; the read restarts."""


class Backend(abc.ABC):
    """Primitives over one bucket (or directory). Each raises only clinops_async errors.

    Retryable failures are raised as ``TransientStoreError`` (the store retries them); everything
    else is translated to the matching ``StoreError`` subclass.
    """

    scheme: ClassVar[str]
    bucket: str

    def uri(self, key: str) -> str:
        return f"{self.scheme}://{self.bucket}/{key}"

    async def open(self) -> None:  # noqa: B027 - optional hook
        """Open network clients. Called once, on the event loop the store will use."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release network clients."""

    @abc.abstractmethod
    async def put(self, request: PutRequest, data: memoryview) -> None:
        """Store ``data`` in one request (honouring ``request.overwrite`` atomically)."""

    # Multipart upload: a backend that returns None from create_multipart_upload does not do
    # concurrent parts, and put_large must be overridden instead.
    async def create_multipart(self, request: PutRequest) -> Any:
        raise NotImplementedError

    async def upload_part(self, upload: Any, number: int, data: memoryview, crc32c: str) -> Any:
        raise NotImplementedError

    async def complete_multipart(self, upload: Any, parts: list[Any]) -> None:
        raise NotImplementedError

    async def abort_multipart(self, upload: Any) -> None:
        raise NotImplementedError

    #: True when ``read_into`` reads arbitrary byte ranges (column projection relies on it).
    supports_ranged_reads: ClassVar[bool] = True

    #: True when large objects go through create/upload_part/complete; otherwise put_large.
    supports_multipart: ClassVar[bool] = True

    async def put_large(self, request: PutRequest, data: memoryview, part_size: int) -> None:
        """Store a large object without the generic multipart driver (backends that need it)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def read_first(self, key: str, length: int) -> tuple[ObjectMeta, bytes]:
        """Read up to the first ``length`` bytes and the object's metadata in one request."""

    @abc.abstractmethod
    async def read_into(self, key: str, start: int, buffer: memoryview, etag: str | None) -> None:
        """Fill ``buffer`` with the object's bytes from ``start``; ObjectChangedError if ``etag`` moved."""

    @abc.abstractmethod
    async def head(self, key: str) -> ObjectMeta:
        """The object's metadata; ArtifactNotFoundError when it does not exist."""

    @abc.abstractmethod
    def iter_keys(self, prefix: str) -> AsyncIterator[str]:
        """Every key that starts with ``prefix`` (all pages)."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object (no error when it is already gone)."""
