"""Versions of an artifact: reads pinned to one (``version=``), and the listing of them.

S3 keeps versions in buckets with versioning enabled (``VersionId``); GCS gives every write a
generation, and keeps the older ones in buckets with object versioning. A read pinned to a version
goes through :class:`PinnedVersion`, a view of the backend whose reads all name that version, so
the download, projection and batch paths need not know about versions at all; what they verify is
that version's own CRC32C. The local store keeps no versions: asking for one is
UnsupportedOperationError, before any I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .._exceptions import ConfigurationError
from .._retry import retry
from .backend import Backend, ObjectMeta, ObjectPage, PutRequest
from .metadata import recorded_crc32c
from .parts import StoreParts

__all__ = ["ArtifactVersion", "PinnedVersion", "VersionsMixin", "check_if_match"]


@dataclass(frozen=True)
class ArtifactVersion:
    """One stored version of an artifact, as ``list_versions`` reports it.

    Attributes:
        name: The artifact name.
        uri: Its URI.
        version: The version id to pass as ``version=`` (S3 VersionId, GCS generation).
        size: Stored size in bytes.
        last_modified: When this version was written.
        is_latest: Whether this is the current version.
        checksum: CRC32C of this version's bytes (base64), when recorded or reported.
        etag: Its ETag (S3) or generation (GCS), as ``if_match=`` takes it.
    """

    name: str
    uri: str
    version: str
    size: int
    last_modified: datetime | None
    is_latest: bool
    checksum: str | None
    etag: str | None


def check_if_match(backend: Backend, if_match: str | None, overwrite: bool) -> str | None:
    """``overwrite`` and ``if_match`` checked for ``upload`` (before any I/O)."""
    if not isinstance(overwrite, bool):
        raise ConfigurationError("overwrite must be True or False")
    if if_match is None:
        return None
    if not overwrite:
        raise ConfigurationError(
            "if_match and overwrite=False cannot be combined: if_match replaces one known version, "
            "overwrite=False only creates; pass one of them"
        )
    return backend.check_version(if_match, "if_match")


class PinnedVersion(Backend):
    """A read-only view of ``inner`` whose every read names ``version``."""

    supports_ranged_reads = True  # only S3 and GCS keep versions, and both read ranges
    supports_versions = True

    def __init__(self, inner: Backend, version: str) -> None:
        self.inner = inner
        self.version = version
        self.bucket = inner.bucket

    def uri(self, key: str) -> str:
        return self.inner.uri(key)

    async def read_first(self, key: str, length: int, *, version: str | None = None) -> tuple[ObjectMeta, bytes]:
        return await self.inner.read_first(key, length, version=self.version)

    async def read_into(
        self, key: str, start: int, buffer: memoryview, etag: str | None, *, version: str | None = None
    ) -> None:
        await self.inner.read_into(key, start, buffer, etag, version=self.version)

    async def head(self, key: str, *, version: str | None = None) -> ObjectMeta:
        return await self.inner.head(key, version=self.version)

    async def put(self, request: PutRequest, data: memoryview) -> None:
        raise RuntimeError("a version of an artifact is read-only")

    async def list_page(self, prefix: str, token: str | None) -> ObjectPage:
        raise RuntimeError("a version of an artifact is not listed")

    async def delete(self, key: str) -> None:
        raise RuntimeError("a version of an artifact is read-only")


class VersionsMixin(StoreParts):
    """``list_versions`` and the backend a ``version=`` read goes through, for AsyncPipelineStore."""

    def _check_version(self, version: str | None) -> str | None:
        """``version`` checked for this store (before any I/O); None reads the current version."""
        if version is None:
            return None
        if not self._backend.supports_versions:
            raise self._backend.unsupported("keeps no versions of an artifact; read it without version=")
        return self._backend.check_version(version, "version")

    async def _reader(self, version: str | None) -> Backend:
        """The backend to read through: the store's, or a view pinned to ``version`` (checked first)."""
        version = self._check_version(version)
        backend = await self._ready()
        return backend if version is None else PinnedVersion(backend, version)

    async def list_versions(self, name: str) -> list[ArtifactVersion]:
        """Every stored version of artifact ``name``, newest first.

        On S3 a bucket with versioning enabled keeps them (``VersionId``; an unversioned bucket lists
        one version, ``"null"``); on GCS every write is a generation, and a bucket with object
        versioning keeps the older ones. Delete markers are not versions and are left out. Pass a
        version's ``version`` to ``download``, ``info`` or ``iter_batches`` to read it.

        Returns:
            The versions, newest first; an empty list when the artifact never existed.

        Raises:
            ConfigurationError: Invalid name (before any I/O).
            UnsupportedOperationError: The local store, which keeps no versions (before any I/O).
        """
        key = self.key(name)
        if not self._backend.supports_versions:
            raise self._backend.unsupported("keeps no versions of an artifact")
        backend = await self._ready()
        uri = backend.uri(key)
        found = await retry(self.retry_config, lambda: backend.list_versions(key), what=f"versions of {uri}")
        return [
            ArtifactVersion(
                name=name, uri=uri, version=meta.version or "", size=meta.size, last_modified=meta.last_modified,
                is_latest=bool(meta.is_latest), checksum=recorded_crc32c(meta), etag=meta.etag,
            )
            for meta in found
        ]
