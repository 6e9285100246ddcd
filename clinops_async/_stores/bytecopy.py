"""Copying an artifact's bytes between stores of different kinds (S3 to GCS, local to S3): no decode.

Where no server can copy (two clouds), the stored bytes are read as a download reads them (concurrent
ranged reads, checked against the CRC32C recorded with the artifact) and written as an upload writes
them (one request or concurrent parts, each with its CRC32C, and the whole file's CRC32C, which the
server checks), with the row and column counts recorded beside them. Nothing is decoded or encoded:
the copy is the same file. It holds the artifact in memory once.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING

from .._exceptions import ConfigurationError, StoreError
from .._retry import retry
from .backend import ByteCounter, ByteProgress, PutRequest
from .buffer import ReceiveBuffer
from .checksum import crc32c_b64_async
from .download import Downloader
from .metadata import META_COLUMNS, META_CRC, META_FORMAT, META_ROWS, META_WRITE, recorded_crc32c
from .upload import Uploader

if TYPE_CHECKING:
    from .core import AsyncPipelineStore

__all__ = ["copy_bytes"]

logger = logging.getLogger("clinops_async")

_KEPT = (META_ROWS, META_COLUMNS, META_FORMAT)


async def copy_bytes(
    source: AsyncPipelineStore, src: str, target: AsyncPipelineStore, dst: str, *, overwrite: bool,
    read_progress: ByteProgress | None = None, write_progress: ByteProgress | None = None,
) -> int:
    """Copy artifact ``src`` of ``source`` to ``dst`` of ``target`` by its bytes (see the module
    docstring); returns the number of bytes. Both stores must hold the same format."""
    if source.format is not target.format:
        raise ConfigurationError("copy_bytes keeps the bytes: both stores must hold the same format")
    src_key, dst_key = source.key(src), target.key(dst)
    reader, writer = await source._ready(), await target._ready()
    src_uri = reader.uri(src_key)
    meta = await retry(source.retry_config, lambda: reader.head(src_key), what=f"info of {src_uri}")
    uploader = Uploader(writer, target.transfer, target.retry_config)
    metadata = {k: v for k, v in meta.metadata.items() if k in _KEPT}
    metadata.update({META_FORMAT: target.format.value, META_WRITE: uuid.uuid4().hex})
    probe = PutRequest(dst_key, writer.uri(dst_key), meta.size, target.format.content_type, metadata, None, overwrite)
    await uploader.refuse_existing(probe)  # before the bytes move
    data = await Downloader(reader, source.transfer, source.retry_config).fetch(src_key, ByteCounter(read_progress))
    try:
        view = data.view if isinstance(data, ReceiveBuffer) else memoryview(data)
        crc = await crc32c_b64_async(view)
        expected = recorded_crc32c(meta)
        if expected is not None and expected != crc:
            raise StoreError(f"{src_uri} was replaced while it was copied; nothing was written. Copy it again",
                             uri=src_uri)
        request = PutRequest(dst_key, writer.uri(dst_key), len(view), target.format.content_type,
                             {**metadata, META_CRC: crc}, crc, overwrite)
        counter = ByteCounter(write_progress)
        counter.start(request.size)
        await uploader.put(request, view, counter)
    finally:
        if isinstance(data, ReceiveBuffer):
            data.close()
    logger.debug("copied the bytes of %s to %s (%d bytes)", src_uri, request.uri, request.size)
    return request.size
