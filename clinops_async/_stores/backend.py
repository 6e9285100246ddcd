"""The byte-level primitives each storage backend provides to the shared store logic."""

from __future__ import annotations

import abc
import logging
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, ClassVar

from .._exceptions import ArtifactChangedError, ConfigurationError, UnsupportedOperationError

if TYPE_CHECKING:
    from .._config import RetryConfig

__all__ = [
    "Backend",
    "ByteCounter",
    "CopyNeedsSourceInfoError",
    "CopyRequest",
    "ByteProgress",
    "MultipartUpload",
    "ObjectChangedError",
    "ObjectMeta",
    "ObjectPage",
    "PutRequest",
    "WholeCopyRequest",
    "changed_error",
]

logger = logging.getLogger("clinops_async")


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
    #: The version this is (S3 VersionId, GCS generation), when the server keeps versions.
    version: str | None = None
    #: In a listing of versions: whether this is the current one.
    is_latest: bool | None = None


@dataclass(frozen=True)
class PutRequest:
    """Everything a backend needs to store one object, besides its bytes."""

    key: str
    uri: str
    size: int
    content_type: str
    metadata: Mapping[str, str]
    #: CRC32C of the whole object (base64 of the big-endian value); None when the object is encoded
    #: while it is sent, and its CRC32C goes with the multipart completion instead.
    crc32c: str | None
    overwrite: bool
    #: Write only while the stored object still has this ETag (S3) or generation (GCS, local: its
    #: ``head`` etag); a lost race is ArtifactChangedError.
    if_match: str | None = None


@dataclass(frozen=True)
class MultipartUpload:
    """A started multipart upload: the backend's handle, and whether the server took a full-object
    CRC32C for it (checked at completion and reported by HEAD), as S3 and most S3-compatible servers do."""

    handle: Any
    full_object_crc32c: bool
    #: The server's id of the upload, as its tools show it (S3's UploadId).
    upload_id: str = ""


def changed_error(request: PutRequest, what: str) -> ArtifactChangedError:
    """The error of a write whose ``if_match`` no longer holds."""
    return ArtifactChangedError(
        f"{request.uri} {what}: it changed since it was read (if_match={request.if_match}); nothing was "
        "written. Read it again (info) and retry with its new ETag or generation", uri=request.uri,
    )


@dataclass(frozen=True)
class CopyRequest:
    """One server-side copy: the source object as its HEAD saw it, and where it goes."""

    source: ObjectMeta
    #: The source's bucket (or local root) and URI; the destination's backend issues the copy.
    source_bucket: str
    source_uri: str
    key: str
    uri: str
    overwrite: bool
    #: The CRC32C the copy must have (recorded with the source, or the server's full-object one).
    crc32c: str | None


@dataclass(frozen=True)
class ObjectPage:
    """One page of a listing: what the list response says of each object (key, size, ETag or
    generation, last-modified time; no per-object request), and the token of the next page."""

    objects: list[ObjectMeta]
    #: The continuation token to ask for the next page with; None on the last page.
    next_token: str | None


@dataclass(frozen=True)
class WholeCopyRequest:
    """A server-side copy in one request, issued without reading the source first (no HEAD)."""

    source_bucket: str
    source_key: str
    source_uri: str
    key: str
    uri: str
    overwrite: bool


class CopyNeedsSourceInfoError(Exception):
    """The backend cannot copy this object in one request without knowing it (too large for one
    request, or no such copy on this backend): the caller reads the source and copies as usual."""


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
    async def create_multipart(self, request: PutRequest) -> MultipartUpload:
        """Start a multipart upload that asks for a full-object CRC32C."""
        raise NotImplementedError

    async def upload_part(self, upload: MultipartUpload, number: int, data: memoryview, crc32c: str) -> Any:
        raise NotImplementedError

    async def complete_multipart(self, upload: MultipartUpload, parts: list[Any], crc32c: str) -> None:
        """Complete it; ``crc32c`` is the whole object's, checked by servers that took a full-object one."""
        raise NotImplementedError

    async def abort_multipart(self, upload: MultipartUpload) -> None:
        raise NotImplementedError

    #: Objects per listing page asked for (S3 and GCS answer at most 1,000).
    list_page_size: int = 1000

    #: True when ``read_into`` reads arbitrary byte ranges (column projection relies on it).
    supports_ranged_reads: ClassVar[bool] = True

    #: True when large objects go through create/upload_part/complete; otherwise put_large.
    supports_multipart: ClassVar[bool] = True

    #: Whether the server keeps full-object CRC32C checksums of multipart uploads: None until the
    #: first multipart upload tells (see ``MultipartUpload.full_object_crc32c``).
    full_object_crc32c: bool | None = None

    #: True when ``put_file`` stores a spooled file by moving it into place (the local store).
    moves_spooled_files: ClassVar[bool] = False

    def new_spool_file(self, key: str) -> tuple[int, str]:
        """A new temporary file (descriptor, path) for a streamed upload that is spooled before it is
        sent; the system's temporary directory unless the backend keeps its own."""
        return tempfile.mkstemp(prefix="clinops-stream-", suffix=".parquet")

    async def put_file(self, request: PutRequest, path: str) -> None:
        """Store the spooled file ``path`` by moving it into place (when ``moves_spooled_files``)."""
        raise NotImplementedError

    async def put_large(self, request: PutRequest, data: memoryview, part_size: int) -> None:
        """Store a large object without the generic multipart driver (backends that need it)."""
        raise NotImplementedError

    @abc.abstractmethod
    async def read_first(self, key: str, length: int, *, version: str | None = None) -> tuple[ObjectMeta, bytes]:
        """Read up to the first ``length`` bytes and the object's metadata in one request."""

    @abc.abstractmethod
    async def read_into(
        self, key: str, start: int, buffer: memoryview, etag: str | None, *, version: str | None = None
    ) -> None:
        """Fill ``buffer`` with the object's bytes from ``start``; ObjectChangedError if ``etag`` moved."""

    @abc.abstractmethod
    async def head(self, key: str, *, version: str | None = None) -> ObjectMeta:
        """The object's metadata (of ``version``: VersionNotFoundError when there is no such version);
        ArtifactNotFoundError when it does not exist."""

    # -- versions and signed URLs: backends that keep versions or can sign override these ---------

    #: True when ``version=`` reads and ``list_versions`` work (S3 VersionId, GCS generation).
    supports_versions: ClassVar[bool] = False

    def check_version(self, value: str, what: str) -> str:
        """``value`` as a version (or ``if_match`` ETag) this backend can use; ConfigurationError if not."""
        if not isinstance(value, str) or not value or len(value) > 1024 or not value.isprintable():
            raise ConfigurationError(f"{what} must be a non-empty string as info() reports it; got {value!r}")
        return value

    async def list_versions(self, key: str) -> list[ObjectMeta]:
        """Every version of ``key``, newest first (``version`` and ``is_latest`` set)."""
        raise self.unsupported("keeps no versions of an artifact")

    #: True when ``sign_url`` works (S3, GCS).
    can_sign: ClassVar[bool] = False

    async def sign_url(self, key: str, *, method: str, seconds: int, version: str | None) -> str:
        """A URL that lets anyone holding it ``method`` the object for ``seconds``."""
        raise self.unsupported("cannot sign URLs")

    def unsupported(self, what: str) -> UnsupportedOperationError:
        return UnsupportedOperationError(f"{self.uri('')} {what}", uri=self.uri(""))

    @abc.abstractmethod
    async def list_page(self, prefix: str, token: str | None) -> ObjectPage:
        """One page of the objects whose keys start with ``prefix``, in key order: the first page when
        ``token`` is None, else the page that token continues with. One request, so a caller that
        retries a failed page resumes from it."""

    async def iter_keys(self, prefix: str) -> AsyncIterator[str]:
        """Every key that starts with ``prefix`` (all pages)."""
        token: str | None = None
        while True:
            page = await self.list_page(prefix, token)
            for meta in page.objects:
                yield meta.key
            if page.next_token is None:
                return
            token = page.next_token

    async def list_sizes(self, prefix: str) -> dict[str, ObjectMeta]:
        """Every object under ``prefix`` by key, with the size and ETag (or generation) its listing
        gives: a reader that pins its ranged reads to them needs no first read (all pages)."""
        listed: dict[str, ObjectMeta] = {}
        token: str | None = None
        while True:
            page = await self.list_page(prefix, token)
            listed.update((meta.key, meta) for meta in page.objects)
            if (token := page.next_token) is None:
                return listed

    @abc.abstractmethod
    async def delete(self, key: str) -> None:
        """Delete the object (no error when it is already gone)."""

    def copy_reach(self) -> tuple[str, str]:
        """What a server-side copy can span: two backends that answer the same are one service."""
        return (self.scheme, "")

    async def copy_object(
        self, request: CopyRequest, progress: ByteCounter, retry_config: RetryConfig
    ) -> ObjectMeta | None:
        """Copy ``request.source`` (of ``request.source_bucket``, reachable by this backend) to
        ``request.key`` without its bytes passing through the client, honouring ``overwrite``
        atomically where the server can, pinned to the source's version. Returns the new object's
        metadata when the answer carries it (else None: the caller reads it). Nothing is left of a
        failed or cancelled copy."""
        raise NotImplementedError

    async def copy_whole_object(self, request: WholeCopyRequest, retry_config: RetryConfig) -> ObjectMeta | None:
        """Copy the source's current version to ``request.key`` in one request, without a HEAD of
        the source first, keeping its metadata; ``overwrite`` and atomicity as for ``copy_object``.
        Raises ``ArtifactNotFoundError`` (of the source) when it does not exist. Returns the new
        object's metadata, with its own metadata and CRC32C, when the answer carries both (else None).
        Raises ``CopyNeedsSourceInfoError``, before anything is written, when it cannot: the default."""
        raise CopyNeedsSourceInfoError


#: ``progress(bytes_done, bytes_total)`` for one artifact's transfer.
ByteProgress = Callable[[int, int], None]


class ByteCounter:
    """Counts bytes moved for one artifact and reports them; a failing callback is logged, not raised."""

    def __init__(self, callback: ByteProgress | None) -> None:
        if callback is not None and not callable(callback):
            raise ConfigurationError("progress must be a callable taking (bytes_done, bytes_total)")
        self.callback = callback
        self.done = 0
        self.total = 0

    def start(self, total: int) -> None:
        self.done, self.total = 0, total
        self._emit()

    def add(self, count: int) -> None:
        self.done += count
        self.total = max(self.total, self.done)  # an estimated total never trails the bytes sent
        self._emit()

    def settle(self, total: int) -> None:
        """The exact total, once an estimated one is known (reported with the next bytes)."""
        self.total = total

    def _emit(self) -> None:
        if self.callback is None:
            return
        try:
            self.callback(self.done, self.total)
        except Exception:
            logger.warning("the progress callback raised; the transfer goes on", exc_info=True)
