"""``open_store(uri)``: the async store for an ``s3://``, ``gs://`` or ``file://`` URI."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from .._exceptions import ConfigurationError
from .core import AsyncPipelineStore
from .local import AsyncLocalPipelineStore

__all__ = ["open_store"]


def open_store(uri: str, **options: Any) -> AsyncPipelineStore:
    """The async store rooted at ``uri``; ``options`` go to the store's constructor.

    ``s3://bucket/prefix`` gives an :class:`AsyncS3PipelineStore`, ``gs://bucket/prefix`` an
    ``AsyncGCSPipelineStore``, and ``file:///path`` (or a plain path) an
    :class:`AsyncLocalPipelineStore`. Nothing is opened until first use.

    Raises:
        ConfigurationError: An unsupported scheme or a URI without a bucket.
    """
    if not isinstance(uri, str) or not uri:
        raise ConfigurationError("open_store needs a URI such as 's3://bucket/prefix'")
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme in ("", "file"):
        path = unquote(parts.path) if scheme else uri
        if scheme and parts.netloc not in ("", "localhost"):
            raise ConfigurationError(f"file URIs must be local (file:///path); got {uri!r}")
        return AsyncLocalPipelineStore(path, **options)
    if scheme in ("s3", "gs"):
        if not parts.netloc:
            raise ConfigurationError(f"{uri!r} names no bucket")
        prefix = unquote(parts.path).strip("/")
        if scheme == "s3":
            from .s3 import AsyncS3PipelineStore

            return AsyncS3PipelineStore(parts.netloc, prefix, **options)
        from .gcs.backend import AsyncGCSPipelineStore

        store: AsyncPipelineStore = AsyncGCSPipelineStore(parts.netloc, prefix, **options)
        return store
    raise ConfigurationError(f"unsupported URI scheme {scheme!r}: use s3://, gs:// or file://")
