"""Artifact URIs: ``s3://bucket/prefix/features/a.parquet`` → the store that holds it + the artifact name.

A store URI names a place (``s3://bucket/prefix``); an artifact URI adds the artifact's name and its
extension, which selects the format (``.parquet`` or ``.csv``). Plain local paths and ``file://``
URIs are artifacts of a local store rooted at their directory. URIs are read by the one rule that
``store.uri()`` writes them by (see :func:`clinops_async._stores.open.split_uri`): bucket keys
literally, ``file://`` paths percent-decoded.

- ``s3://`` and ``gs://``: the store is rooted at the bucket, so the name is the whole key without
  its extension and one store serves every artifact of a bucket.
- local: the store is rooted at the file's directory, so the store never reaches outside it.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from .._exceptions import ConfigurationError
from .codecs import StorageFormat
from .open import open_store, split_uri

if TYPE_CHECKING:
    from .core import AsyncPipelineStore

__all__ = ["ArtifactURI", "LocationURI", "artifact_from_uri", "is_directory_like", "parse_artifact_uri",
           "parse_location_uri"]

_EXTENSIONS = {"." + f.value: f for f in StorageFormat}


@dataclass(frozen=True)
class LocationURI:
    """A place that holds artifacts: a bucket and key prefix, or a local directory.

    Attributes:
        scheme: ``"s3"``, ``"gs"`` or ``"file"``.
        root: The URI of the store root: ``s3://bucket`` or ``file:///abs/dir``.
        prefix: For buckets, the key prefix under the root (no leading or trailing ``/``); for
            local directories always ``""`` (the directory is the root).
        partial: A plain string prefix after the last ``/`` (``s3://b/feat`` lists ``feat*``).
    """

    scheme: str
    root: str
    prefix: str = ""
    partial: str = ""

    @property
    def is_local(self) -> bool:
        return self.scheme == "file"

    def child(self, relative: str) -> str:
        """The URI of ``relative`` (``"features/a.parquet"``) under this location.

        Keys go into bucket URIs as they are; local paths are percent-encoded, as ``Path.as_uri()``
        encodes them, so that parsing the URI gives ``relative`` back.
        """
        base = self.root if not self.prefix else f"{self.root}/{self.prefix}"
        if self.is_local:
            relative = quote(relative, errors="surrogateescape")
        return f"{base.rstrip('/')}/{relative}"


@dataclass(frozen=True)
class ArtifactURI:
    """One artifact: where its store is rooted, its name there, and its format.

    Attributes:
        scheme: ``"s3"``, ``"gs"`` or ``"file"``.
        root: The store root URI (``s3://bucket``, ``file:///abs/dir``).
        name: The artifact name relative to the root, without the extension.
        format: Parquet or CSV, from the extension.
        uri: The artifact URI as given (normalised for local paths).
    """

    scheme: str
    root: str
    name: str
    format: StorageFormat
    uri: str

    @property
    def basename(self) -> str:
        """The last segment with its extension, e.g. ``a.parquet``."""
        return f"{posixpath.basename(self.name)}.{self.format.value}"

    def open(self, **options: Any) -> AsyncPipelineStore:
        """A new (unopened) store rooted at :attr:`root` in this artifact's format."""
        return open_store(self.root, format=self.format, **options)


def _format_of(path: str, uri: str) -> tuple[str, StorageFormat]:
    stem, ext = posixpath.splitext(path)
    fmt = _EXTENSIONS.get(ext.lower())
    if fmt is None or not posixpath.basename(stem):
        raise ConfigurationError(
            f"{uri!r} is not an artifact: its name must end in .parquet or .csv (the extension picks the format)"
        )
    return stem, fmt


def parse_artifact_uri(uri: str) -> ArtifactURI:
    """Parse an artifact URI or local file path (no I/O).

    Raises:
        ConfigurationError: An unsupported scheme, no bucket, or no ``.parquet``/``.csv`` extension.
    """
    scheme, bucket, path = split_uri(uri)
    stem, fmt = _format_of(path, uri)
    if scheme == "file":
        file = Path(stem + "." + fmt.value).expanduser().absolute()
        directory = file.parent
        name = file.name[: -len(fmt.value) - 1]
        return ArtifactURI("file", directory.as_uri(), name, fmt, file.as_uri())
    return ArtifactURI(scheme, f"{scheme}://{bucket}", stem, fmt, f"{scheme}://{bucket}/{path}")


def parse_location_uri(uri: str) -> LocationURI:
    """Parse a bucket prefix or local directory, e.g. ``s3://bucket/prefix/`` or ``./out``.

    For buckets, the text after the last ``/`` is a plain string prefix (as ``aws s3 ls`` treats
    it). A local path is always a directory.

    Raises:
        ConfigurationError: An unsupported scheme or no bucket.
    """
    scheme, bucket, path = split_uri(uri)
    if scheme == "file":
        directory = Path(path).expanduser().absolute()
        return LocationURI("file", directory.as_uri())
    prefix, _, partial = path.rpartition("/")
    return LocationURI(scheme, f"{scheme}://{bucket}", prefix.strip("/"), partial)


def is_directory_like(uri: str) -> bool:
    """True when ``uri`` names a place rather than one artifact: a trailing ``/``, or a local directory."""
    if uri.endswith("/"):
        return True
    scheme, _, path = split_uri(uri)
    return scheme == "file" and os.path.isdir(Path(path).expanduser())


def artifact_from_uri(uri: str, **options: Any) -> tuple[AsyncPipelineStore, str]:
    """The store holding the artifact at ``uri`` and its name there: ``(store, name)``.

    The store is new and unopened: use it with ``async with``. ``options`` go to the store's
    constructor (e.g. ``endpoint_url`` for S3).

    Example::

        store, name = artifact_from_uri("s3://bucket/prefix/features/a.parquet")
        async with store:
            df = await store.download(name)          # name == "prefix/features/a"

    Raises:
        ConfigurationError: See :func:`parse_artifact_uri`.
    """
    parsed = parse_artifact_uri(uri)
    return parsed.open(**options), parsed.name
