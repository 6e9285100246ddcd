"""``open_store(uri)``: the async store for an ``s3://``, ``gs://`` or ``file://`` URI.

One rule reads every URI, here and in the command line, and it is the rule ``store.uri()`` writes:

- ``s3://BUCKET/KEY`` and ``gs://BUCKET/KEY``: the key is taken literally, as ``aws s3`` and
  ``gcloud storage`` take it. ``%2F``, ``?``, ``#`` and spaces are characters of the key, because
  object keys may hold them and ``uri()`` writes keys unencoded.
- ``file:///PATH``: the path is percent-encoded (RFC 8089), as ``Path.as_uri()`` writes it, and is
  decoded; a raw ``?`` or ``#`` is refused, since there it would start a query or a fragment.
- anything else without a scheme is a plain local path, taken literally.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from .._exceptions import ConfigurationError
from .local import AsyncLocalPipelineStore

if TYPE_CHECKING:
    from .core import AsyncPipelineStore

__all__ = ["open_store", "split_uri"]

_SCHEME_AND_AUTHORITY = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<authority>[^/]*)(?P<path>.*)", re.S)
_SCHEME_ONLY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):")


def split_uri(uri: str) -> tuple[str, str, str]:
    """``(scheme, bucket, path)`` of ``uri`` by the rule above; a plain path is ``("file", "", uri)``.

    For buckets, ``path`` is the key or prefix without its leading ``/``; for local URIs it is the
    decoded file system path.

    Raises:
        ConfigurationError: Not a non-empty string, an unsupported scheme, no bucket, or a ``file``
            URI with a host, a query or a fragment.
    """
    if not isinstance(uri, str) or not uri:
        raise ConfigurationError("expected a URI such as 's3://bucket/prefix/name.parquet' or a local path")
    match = _SCHEME_AND_AUTHORITY.fullmatch(uri)
    if match is not None:
        scheme, authority, path = match["scheme"].lower(), match["authority"], match["path"]
    else:
        bare = _SCHEME_ONLY.match(uri)  # "file:/path"; a one-letter "scheme" is a Windows drive
        if bare is None:
            return "file", "", uri
        scheme, authority, path = bare[1].lower(), "", uri[bare.end():]
    if scheme in ("s3", "gs"):
        if not authority:
            raise ConfigurationError(f"{uri!r} names no bucket (expected {scheme}://BUCKET/...)")
        return scheme, authority, path.lstrip("/")
    if scheme == "file":
        if authority not in ("", "localhost"):
            raise ConfigurationError(f"file URIs must be local (file:///path); got {uri!r}")
        if "?" in path or "#" in path:
            raise ConfigurationError(f"{uri!r}: write '?' as %3F and '#' as %23 in a file URI (or give a plain path)")
        return "file", "", unquote(path, errors="surrogateescape")  # the inverse of Path.as_uri()
    raise ConfigurationError(f"unsupported URI scheme {scheme!r} in {uri!r}: use s3://, gs://, file:// or a path")


def open_store(uri: str, **options: Any) -> AsyncPipelineStore:
    """The async store rooted at ``uri``; ``options`` go to the store's constructor.

    ``s3://bucket/prefix`` gives an :class:`AsyncS3PipelineStore`, ``gs://bucket/prefix`` an
    ``AsyncGCSPipelineStore``, and ``file:///path`` (or a plain path) an
    :class:`AsyncLocalPipelineStore`. Nothing is opened until first use.

    Raises:
        ConfigurationError: An unsupported scheme, a URI without a bucket, or see :func:`split_uri`.
    """
    if not isinstance(uri, str) or not uri:
        raise ConfigurationError("open_store needs a URI such as 's3://bucket/prefix'")
    scheme, bucket, path = split_uri(uri)
    if scheme == "file":
        return AsyncLocalPipelineStore(path, **options)
    prefix = path.strip("/")
    if scheme == "s3":
        from .s3 import AsyncS3PipelineStore

        return AsyncS3PipelineStore(bucket, prefix, **options)
    from .gcs.backend import AsyncGCSPipelineStore

    store: AsyncPipelineStore = AsyncGCSPipelineStore(bucket, prefix, **options)
    return store
