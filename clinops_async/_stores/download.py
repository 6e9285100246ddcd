"""Fetching one artifact's bytes: concurrent ranged reads into one buffer, verified before decoding.

A first ranged read returns the size and metadata; the rest arrives as concurrent ranged reads
pinned to the object's ETag or generation, and the whole is checked against the CRC32C recorded with
the artifact, or the server's full-object CRC32C for artifacts that were encoded while they were sent.
Column projection (only the footer and the wanted column chunks) is in :mod:`.projection`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import anyio
import anyio.lowlevel

from .._exceptions import IntegrityError, TransientStoreError
from .._retry import retry
from .._tasks import alongside, run_limited
from .backend import Backend, ByteCounter, ObjectChangedError, ObjectMeta
from .buffer import ReceiveBuffer
from .checksum import crc32c_b64_async
from .metadata import META_CRC, META_FORMAT, META_WRITE, recorded_crc32c
from .projection import FIRST_READ, fetch_projection

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    import pyarrow.compute as pc

    from .._config import RetryConfig, TransferConfig

__all__ = ["Downloader"]

logger = logging.getLogger("clinops_async")

#: How often a download restarts when the object is replaced while it is being read.
_CHANGED_RESTARTS = 3


class Downloader:
    """The steps of reading one artifact's bytes from one backend, each retried on its own."""

    def __init__(self, backend: Backend, transfer: TransferConfig, retry_config: RetryConfig) -> None:
        self.backend = backend
        self.transfer = transfer
        self.retry_config = retry_config

    async def fetch(self, key: str, counter: ByteCounter) -> ReceiveBuffer | bytes:
        """The whole artifact, verified; read again from the start when it changes under the reader."""
        uri = self.backend.uri(key)
        for _ in range(_CHANGED_RESTARTS):
            try:
                return await self._fetch_once(key, counter)
            except ObjectChangedError:
                logger.debug("%s changed while it was being read; reading it again", uri)
        raise TransientStoreError(f"{uri} kept changing while it was being downloaded", uri=uri)

    async def fetch_projected(
        self, key: str, columns: list[str] | None, counter: ByteCounter, expression: pc.Expression | None = None
    ) -> ReceiveBuffer | memoryview | bytes:
        """The footer and the chunks of ``columns`` (all when None) of the row groups ``expression``
        may keep rows of, of a large Parquet artifact; small ones arrive whole."""
        backend = self.backend
        uri = backend.uri(key)
        for _ in range(_CHANGED_RESTARTS):
            first = await retry(
                self.retry_config, lambda: backend.read_first(key, FIRST_READ), what=f"download of {uri}"
            )
            meta, head = first
            if meta.size <= len(head):
                counter.start(meta.size)
                counter.add(len(head))
                try:
                    await self.verify(meta, head, uri)
                except ObjectChangedError:
                    continue
                return head
            try:
                view = await fetch_projection(
                    backend, key, columns, expression=expression, transfer=self.transfer,
                    retry_config=self.retry_config, counter=counter, first=first,
                )
            except ObjectChangedError:
                continue
            if view is None:
                break
            return view
        return await self.fetch(key, counter)

    async def _fetch_once(self, key: str, counter: ByteCounter) -> ReceiveBuffer | bytes:
        uri = self.backend.uri(key)
        size = self.transfer.part_size
        meta, first = await retry(
            self.retry_config, lambda: self.backend.read_first(key, size), what=f"download of {uri}"
        )
        counter.start(meta.size)
        counter.add(len(first))
        if meta.size <= len(first):
            await self.verify(meta, first, uri)
            return first
        # Memory from Arrow's pool, not a bytearray: no memset of the whole object on the event loop.
        # Each range's pages are committed in a worker thread while its request is on its way, so
        # the loop does not take the page faults as the bytes arrive (see .buffer).
        buffer = ReceiveBuffer(meta.size)
        try:
            head = len(first)
            await buffer.populate(0, head)
            buffer.view[:head] = first
            del first
            await self._read_ranges(key, meta, buffer, head, counter)
            await self.verify(meta, buffer.view, uri)
        except BaseException:
            buffer.close()
            raise
        return buffer

    async def _read_ranges(
        self, key: str, meta: ObjectMeta, buffer: ReceiveBuffer, head: int, counter: ByteCounter
    ) -> None:
        size = self.transfer.part_size
        uri = self.backend.uri(key)

        def job(start: int, turn: int) -> Callable[[], Awaitable[None]]:
            async def read() -> None:
                # Building a request costs the loop a few milliseconds in botocore: one per loop
                # iteration, not the whole first wave at once, nor on the heels of a finished range.
                for _ in range(turn + 1):
                    await anyio.lowlevel.checkpoint()
                target = buffer.view[start : start + size]
                await alongside(
                    lambda: buffer.populate(start, len(target)),
                    lambda: retry(
                        self.retry_config, lambda: self.backend.read_into(key, start, target, meta.etag),
                        what=f"range {start} of {uri}",
                    ),
                )
                counter.add(len(target))

            return read

        starts = range(head, meta.size, size)
        waves = self.transfer.max_concurrency
        await run_limited(waves, (job(s, i if i < waves else 0) for i, s in enumerate(starts)))

    async def verify(self, meta: ObjectMeta, data: memoryview | bytes, uri: str) -> None:
        """Check ``data`` against the artifact's CRC32C; IntegrityError (no data returned) if it differs."""
        expected = await self._expected_crc32c(meta, uri)
        if expected is None:
            logger.debug("%s carries no CRC32C; its bytes are not verified", uri)
            return
        if len(data) != meta.size:
            raise IntegrityError(f"{uri}: received {len(data)} bytes, expected {meta.size}", uri=uri)
        actual = await crc32c_b64_async(memoryview(data))
        if actual != expected:
            if await self._replaced_since(meta, uri):
                raise ObjectChangedError(uri)  # read again, from the new version
            raise IntegrityError(
                f"{uri} failed its integrity check (CRC32C {actual}, recorded {expected}); "
                "the data was not returned. Retry the download; if it persists the stored object is damaged",
                uri=uri,
            )

    async def _replaced_since(self, meta: ObjectMeta, uri: str) -> bool:
        """Whether the object is no longer the version that was read: a server that does not pin ranged
        reads to a version (gcp-storage-emulator) lets a replacement mix two versions, which the CRC32C
        catches; that is a change to read again, not damage."""
        now = await retry(self.retry_config, lambda: self.backend.head(meta.key), what=f"check of {uri}")
        pairs = [
            (meta.size, now.size),
            (meta.etag, now.etag),
            (meta.metadata.get(META_WRITE), now.metadata.get(META_WRITE)),
            (meta.metadata.get(META_CRC), now.metadata.get(META_CRC)),
        ]
        return any(before is not None and after is not None and before != after for before, after in pairs)

    async def _expected_crc32c(self, meta: ObjectMeta, uri: str) -> str | None:
        """The recorded CRC32C; for an artifact of ours without one (encoded while it was sent), the
        server's full-object CRC32C of the same version, which ranged reads do not carry."""
        expected = recorded_crc32c(meta)
        if expected is not None or META_FORMAT not in meta.metadata:
            return expected
        head = await retry(self.retry_config, lambda: self.backend.head(meta.key), what=f"check of {uri}")
        if meta.etag is not None and head.etag != meta.etag:
            raise ObjectChangedError(uri)
        if head.server_crc32c is None:
            raise IntegrityError(
                f"{uri} was stored with a full-object CRC32C that the server no longer reports, so its "
                "bytes cannot be verified; no data was returned",
                uri=uri,
            )
        return head.server_crc32c
