"""The store's streaming methods, data larger than memory in and listings as they arrive.

``AsyncPipelineStore`` inherits them; the work is done by :mod:`.batch_upload` and :mod:`.listing`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._exceptions import ConfigurationError
from .backend import ByteCounter, ByteProgress
from .batch_upload import BatchSource, check_batch_source, check_schema, upload_batches
from .codecs import StorageFormat
from .listing import ArtifactEntry, iter_entries
from .names import list_prefix
from .parts import StoreParts
from .upload import Uploader

if TYPE_CHECKING:
    from collections.abc import AsyncGenerator

    import pyarrow as pa


__all__ = ["StreamingMethods"]


class StreamingMethods(StoreParts):
    """``upload_batches`` and ``iter_artifacts``, over the attributes every store has."""

    async def upload_batches(
        self,
        batches: BatchSource,
        name: str,
        *,
        schema: pa.Schema | None = None,
        overwrite: bool = True,
        progress: ByteProgress | None = None,
    ) -> str:
        """Store a stream of frames or record batches as one Parquet artifact, for data larger than memory.

        The batches are encoded as they arrive, a row group at a time (about 32 MiB of batches
        each), so memory holds about one row group and the parts in flight, never the stream. On S3
        the parts go up while the stream is read; on GCS (whose resumable sessions restart from byte
        0 when lost) and S3 servers without full-object checksums, the file is spooled to a
        temporary file and sent from it; on the local store it is spooled in the store's root and
        moved into place. The result reads back as one artifact: ``download``, ``iter_batches``.

        A failure anywhere (the source raising, a batch refused, a cancellation) leaves nothing
        behind (the multipart upload aborted, the spooled file deleted) and the old version intact.

        Args:
            batches: An iterable (a list, a generator, a ``pyarrow.RecordBatchReader``) or an async
                iterable of pandas DataFrames, ``pyarrow`` Tables or RecordBatches, or polars
                DataFrames. A plain iterable is iterated in a worker thread, an async one on the
                event loop; each is closed (``close``/``aclose``) if the upload fails.
            name: Artifact name relative to the store prefix.
            schema: The stream's ``pyarrow.Schema``. Default: the first batch's. Needed for an empty
                stream, and to give a column that is all null in the first batch its type.
            overwrite: When False, never replace an existing artifact (checked before the first
                batch is read, and again atomically by the final write).
            progress: Called as ``progress(bytes_sent, bytes_total)``; the total grows with the
                stream until the last call, ``(size, size)``.

        Returns:
            The artifact's URI.

        Raises:
            ConfigurationError: Invalid name, options or source, a CSV store (streams are stored as
                Parquet), or an empty stream without ``schema`` (before anything is stored).
            SchemaMismatchError: A batch's columns or types differ from the stream's schema.
            SerializationError: A batch cannot be stored losslessly, or is not a frame or batch.
            ArtifactExistsError: ``overwrite=False`` and the artifact exists.
            StoreError: A storage failure. What the source raises is raised as is, after clean-up.
        """
        key = self.key(name)
        if self.format is not StorageFormat.PARQUET:
            raise ConfigurationError(
                "upload_batches stores Parquet; this store's format is CSV. Use a Parquet store for streams"
            )
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        check_batch_source(batches)
        arrow_schema = check_schema(schema)
        counter = ByteCounter(progress)
        uploader = Uploader(await self._ready(), self.transfer, self.retry_config)
        return await upload_batches(
            uploader, key, self.format, batches, schema=arrow_schema, compression=self.compression,
            overwrite=overwrite, counter=counter,
        )

    def iter_artifacts(self, prefix: str = "") -> AsyncGenerator[ArtifactEntry, None]:
        """The artifacts under ``prefix`` with their size, modified time and ETag, as the listing arrives.

        ``async for entry in store.iter_artifacts("features/"): ...`` yields an
        :class:`ArtifactEntry` per artifact, page by page (1,000 a page on S3 and GCS), from what
        the list responses carry: no request per artifact. The names are exactly those
        ``list_artifacts`` returns, in key order (the order of the stored keys, with their
        extension) rather than sorted. Each page is retried on its own: a failure on a page
        resumes from that page's continuation token, never from the first page.

        Args:
            prefix: A plain string prefix of the names, as for ``list_artifacts``.

        Returns:
            An async iterator of :class:`ArtifactEntry`.

        Raises:
            ConfigurationError: Invalid prefix (at the call, before any I/O).
            TransientStoreError: A page failed through every retry.
            StoreError: Any other storage failure (a missing bucket, access denied).
        """
        key_prefix = list_prefix(self.prefix, prefix)
        return self._iter_entries(key_prefix)

    async def _iter_entries(self, key_prefix: str) -> AsyncGenerator[ArtifactEntry, None]:
        backend = await self._ready()
        entries = iter_entries(backend, self.prefix, key_prefix, self.format.value, self.retry_config)
        try:
            async for entry in entries:
                yield entry
        finally:
            await entries.aclose()
