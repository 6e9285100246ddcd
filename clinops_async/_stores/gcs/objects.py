"""What the JSON API's object resources and refusals mean for versions and conditional writes.

A generation is both an object's version and its ETag for ``if_match``: a read names it with the
``generation`` parameter, a write with ``ifGenerationMatch``, and GCS answers 404 for a generation it
does not hold and 412 for a precondition that no longer holds.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ..._exceptions import ArtifactExistsError, ArtifactNotFoundError, VersionNotFoundError
from ..backend import ObjectMeta, PutRequest, changed_error

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["changed_on_412", "generation_param", "object_meta", "parse_time", "version_missing"]


def parse_time(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def object_meta(key: str, stored: Mapping[str, Any]) -> ObjectMeta:
    """An object resource of the JSON API (a GET, or an item of a listing of versions)."""
    generation = str(stored["generation"]) if "generation" in stored else None
    return ObjectMeta(
        key=key,
        size=int(stored.get("size", 0)),
        etag=generation,
        last_modified=parse_time(stored.get("updated")),
        content_type=stored.get("contentType"),
        metadata=dict(stored.get("metadata") or {}),
        server_crc32c=stored.get("crc32c"),
        version=generation,
        # A version that is no longer current has been "deleted" (replaced) at some time.
        is_latest="timeDeleted" not in stored,
    )


def generation_param(version: str | None) -> dict[str, str]:
    return {"generation": version} if version is not None else {}


@contextlib.contextmanager
def version_missing(uri: str, version: str | None) -> Iterator[None]:
    """Inside, a missing object means: no such generation (when one is named)."""
    try:
        yield
    except ArtifactNotFoundError as exc:
        if version is None or isinstance(exc, VersionNotFoundError):
            raise
        raise VersionNotFoundError(
            f"{uri} has no generation {version}; list_versions() shows the versions kept", uri=uri
        ) from exc


@contextlib.contextmanager
def changed_on_412(request: PutRequest) -> Iterator[None]:
    """Inside, a failed precondition (412, which the JSON API layer reports as ArtifactExistsError) of a
    write with ``if_match`` is the artifact having changed, or been deleted, since it was read."""
    try:
        yield
    except ArtifactExistsError as exc:
        if request.if_match is None:
            raise
        raise changed_error(request, "no longer matches") from exc
