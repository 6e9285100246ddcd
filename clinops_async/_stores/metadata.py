"""What is stored beside an artifact's bytes, and what ``info`` reports from it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .backend import ObjectMeta

__all__ = [
    "META_COLUMNS",
    "META_CRC",
    "META_FORMAT",
    "META_ROWS",
    "META_WRITE",
    "ArtifactInfo",
    "artifact_info",
    "recorded_crc32c",
]

#: CRC32C of the stored bytes, when it is known before they are sent (the whole file was encoded
#: first). A streamed upload leaves it out: its CRC32C is the object's full-object checksum instead.
META_CRC = "clinops-crc32c"
META_ROWS = "clinops-rows"
META_COLUMNS = "clinops-columns"
META_FORMAT = "clinops-format"
#: A random token per ``upload`` call: a conditional write that finds an object tells its own earlier
#: attempt (whose answer was lost) from another writer's object by it.
META_WRITE = "clinops-write"


@dataclass(frozen=True)
class ArtifactInfo:
    """What a store knows about one artifact, without downloading it.

    Attributes:
        name: The artifact name, as given to ``upload``.
        uri: Its full URI.
        size: Stored size in bytes.
        checksum: CRC32C of the stored bytes (base64), or None for objects not written by us.
        last_modified: When it was last written (time-zone aware), when the backend reports it.
        rows: Row count recorded by ``upload`` (None for foreign objects).
        columns: Column count recorded by ``upload`` (None for foreign objects).
        content_type: The stored content type.
        etag: What ``upload(if_match=...)`` takes to replace exactly this version: the S3 ETag, the
            GCS generation, or the local file's identity.
        version: The version id (S3 VersionId, GCS generation), None where versions are not kept.
    """

    name: str
    uri: str
    size: int
    checksum: str | None
    last_modified: datetime | None
    rows: int | None
    columns: int | None
    content_type: str | None
    etag: str | None = None
    version: str | None = None


def recorded_crc32c(meta: ObjectMeta) -> str | None:
    """The CRC32C the bytes must match: recorded with the artifact, or the server's full-object one."""
    return meta.metadata.get(META_CRC) or meta.server_crc32c


def artifact_info(name: str, uri: str, meta: ObjectMeta) -> ArtifactInfo:
    return ArtifactInfo(
        name=name,
        uri=uri,
        size=meta.size,
        checksum=recorded_crc32c(meta),
        last_modified=meta.last_modified,
        rows=_int_or_none(meta.metadata.get(META_ROWS)),
        columns=_int_or_none(meta.metadata.get(META_COLUMNS)),
        content_type=meta.content_type,
        etag=meta.etag,
        version=meta.version,
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None
