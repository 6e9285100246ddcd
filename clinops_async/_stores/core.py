"""The store logic, written once over the primitives of :mod:`clinops_async._stores.backend`.

``AsyncPipelineStore`` checks every argument before any I/O, then hands the transfer to the paths
that do it: :mod:`.upload` (one request or concurrent parts), :mod:`.streamed` (a large Parquet frame
encoded while its parts are sent), :mod:`.download` and :mod:`.projection` (ranged reads, verified,
row groups pruned by a filter), :mod:`.batches` (streamed reads) and :mod:`.bulk` (many artifacts at
once). Encoding and decoding run in worker threads (:mod:`.codecs`).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, Literal, TypeAlias, overload

import pandas as pd

from .._config import RetryConfig, TransferConfig
from .._exceptions import ArtifactNotFoundError, ConfigurationError
from .._lifecycle import LoopBound
from .._retry import retry
from . import codecs
from .backend import Backend, ByteCounter, ByteProgress
from .batches import DEFAULT_BATCH_ROWS, check_batch_rows, stream_batches
from .buffer import ReceiveBuffer
from .bulk import BulkItem, BulkResult, ProgressCallback, pair_label, pair_name, run_bulk
from .checksum import crc32c_b64
from .codecs import ResultKind, StorageFormat
from .copying import CopyingMixin
from .cpu import run_cpu_bound
from .datasets.store import DatasetMethods
from .download import Downloader
from .filters import Filters, check_columns, to_expression
from .metadata import ArtifactInfo, artifact_info
from .names import list_prefix, name_from_key, object_key, validate_prefix
from .signing import SigningMixin
from .streamed import upload_streamed
from .streaming import StreamingMethods
from .upload import Uploader, put_request
from .versions import VersionsMixin, check_if_match

if TYPE_CHECKING:
    import polars as pl
    import pyarrow as pa
    import pyarrow.compute as pc

__all__ = ["ArtifactInfo", "AsyncPipelineStore", "ByteProgress", "UploadData"]

#: What ``upload`` takes: pandas, Arrow (a table, or a reader consumed into one artifact) or polars.
UploadData: TypeAlias = "pd.DataFrame | pa.Table | pa.RecordBatchReader | pl.DataFrame"

logger = logging.getLogger("clinops_async")


class AsyncPipelineStore(DatasetMethods, CopyingMixin, VersionsMixin, SigningMixin, StreamingMethods, LoopBound):
    """Shared implementation of the async artifact stores (S3, GCS, local)."""

    _backend: Backend
    _noun = "store"

    def __init__(
        self,
        prefix: str,
        format: StorageFormat | str,
        *,
        compression: str,
        transfer: TransferConfig | None,
        retry: RetryConfig | None,
    ) -> None:
        self.prefix = validate_prefix(prefix)
        self.format = codecs.coerce_format(format)
        if compression not in ("snappy", "zstd", "gzip", "brotli", "lz4", "none"):
            raise ConfigurationError(
                f"compression must be one of snappy, zstd, gzip, brotli, lz4, none; got {compression!r}"
            )
        self.compression = compression
        if transfer is not None and not isinstance(transfer, TransferConfig):
            raise ConfigurationError("transfer must be a TransferConfig")
        if retry is not None and not isinstance(retry, RetryConfig):
            raise ConfigurationError("retry must be a RetryConfig")
        self.transfer = transfer or TransferConfig()
        self.retry_config = retry or RetryConfig()
        self._init_lifecycle()

    async def _open_resource(self) -> None:
        await self._backend.open()

    async def _close_resource(self) -> None:
        await self._backend.aclose()

    async def _ready(self) -> Backend:
        await self._ensure_open()
        return self._backend

    # -- names -----------------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The object key of artifact ``name`` (validated; no I/O)."""
        return object_key(self.prefix, name, self.format.value)

    def uri(self, name: str) -> str:
        """The URI of artifact ``name`` (validated; no I/O)."""
        return self._backend.uri(self.key(name))

    # -- single artifacts ------------------------------------------------------------------------

    async def upload(self, df: UploadData, name: str, *, overwrite: bool = True,
                     progress: ByteProgress | None = None, if_match: str | None = None) -> str:
        """Encode ``df`` (pandas, Arrow or polars) and store it as artifact ``name``.

        Small artifacts go up in one request; artifacts of at least
        ``TransferConfig.multipart_threshold`` bytes go up as concurrent parts. On S3, a Parquet
        frame of at least that size (and at least one part) in memory is encoded row group by row
        group while its finished parts are sent, so the whole file never sits in memory. The
        CRC32C of the encoded bytes is sent with every request and recorded with the artifact,
        with its row and column counts. A failed or cancelled upload leaves nothing behind, and the
        previous version (if any) intact.

        Args:
            df: A pandas DataFrame (column names unique strings), a ``pyarrow.Table``, a
                ``pyarrow.RecordBatchReader`` (consumed into one artifact) or a ``polars.DataFrame``.
            name: Artifact name relative to the store prefix, e.g. ``"features/windows_2024_01"``.
            overwrite: When False, never replace an existing artifact (an atomic conditional write).
            progress: Called as ``progress(bytes_sent, bytes_total)`` when the upload starts and
                as its parts complete. A frame large enough to be encoded while its parts are sent
                reports its size in memory as the total until the encoder is done; the last call
                is ``(size, size)``.
            if_match: Replace the artifact only while it is still the version with this ETag (S3) or
                generation (GCS) that ``info`` reported (compare-and-swap); not with ``overwrite=False``.

        Returns:
            The artifact's URI, e.g. ``s3://bucket/prefix/features/windows_2024_01.parquet``.

        Raises:
            ConfigurationError: The name is invalid (before any I/O).
            SerializationError: ``df`` is of another type, or cannot be encoded (nothing is written).
            ArtifactExistsError: ``overwrite=False`` and the artifact exists.
            ArtifactChangedError: ``if_match`` no longer matches (or never did): nothing was written.
            TransientStoreError: Retries exhausted.
            StoreError: Any other storage failure (missing bucket, access denied, ...).
        """
        key = self.key(name)
        if_match = check_if_match(self._backend, if_match, overwrite)
        codecs.check_upload_data(df)
        counter = ByteCounter(progress)
        backend = await self._ready()
        uploader = Uploader(backend, self.transfer, self.retry_config)
        # Sizing a frame (memory_usage) costs ~1 ms: done with the encoding, in one trip to a worker thread.
        estimate, whole = await run_cpu_bound(self._size_or_encode, df, backend)
        if estimate is not None and isinstance(df, pd.DataFrame):  # only pandas frames are streamed
            request = put_request(backend, key, self.format, size=estimate, crc=None, shape=df.shape,
                                  overwrite=overwrite, if_match=if_match)
            if await upload_streamed(uploader, request, df, compression=self.compression, counter=counter):
                return request.uri
        encoded, crc = whole if whole is not None else await run_cpu_bound(self._encode, df)
        request = put_request(
            backend, key, self.format, size=len(encoded.data), crc=crc, shape=(encoded.rows, encoded.columns),
            overwrite=overwrite, if_match=if_match,
        )
        counter.start(request.size)
        await uploader.put(request, encoded.data, counter)
        logger.debug("uploaded %s (%d bytes)", request.uri, request.size)
        return request.uri

    def _streaming_estimate(self, df: object, backend: Backend) -> int | None:
        """The frame's in-memory size when it is big enough to be encoded while its parts are sent."""
        if self.format is not StorageFormat.PARQUET or not backend.supports_multipart:
            return None
        if backend.full_object_crc32c is False or not isinstance(df, pd.DataFrame):
            return None  # a frame that is not one is refused with its proper error by the encoder
        size = int(df.memory_usage(index=True, deep=False).sum())
        if size < max(self.transfer.multipart_threshold, self.transfer.part_size):
            return None
        return size

    def _size_or_encode(self, df: object, backend: Backend) -> tuple[int | None, tuple[codecs.Encoded, str] | None]:
        """In a worker thread: the streaming estimate of a big frame, or the encoded file of any other."""
        estimate = self._streaming_estimate(df, backend)
        return (estimate, None) if estimate is not None else (None, self._encode(df))

    def _encode(self, df: object) -> tuple[codecs.Encoded, str]:
        # The checksum is taken on the same worker thread: on the loop, the GIL hand-over after the
        # CRC (which releases it) could wait for an encoding thread for milliseconds.
        encoded = codecs.encode(df, self.format, compression=self.compression)
        return encoded, crc32c_b64(encoded.data)

    @overload
    async def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                       result_type: Literal["pandas"] = ..., progress: ByteProgress | None = ...,
                       version: str | None = ...) -> pd.DataFrame: ...
    @overload
    async def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                       result_type: Literal["arrow"], progress: ByteProgress | None = ...,
                       version: str | None = ...) -> pa.Table: ...
    @overload
    async def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                       result_type: Literal["polars"], progress: ByteProgress | None = ...,
                       version: str | None = ...) -> pl.DataFrame: ...

    async def download(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        progress: ByteProgress | None = None,
        version: str | None = None,
    ) -> Any:
        """Download artifact ``name`` and decode it.

        Large artifacts arrive as concurrent ranged reads into one buffer. The bytes are checked
        against the CRC32C recorded at upload before anything is decoded. With ``columns`` or
        ``filters``, a large Parquet artifact on S3 or GCS is read from its footer on: row groups
        whose statistics rule out every row are never fetched, and of the others only the chunks of
        the needed columns move, each page checked against its CRC.

        Args:
            name: Artifact name relative to the store prefix.
            columns: Only these columns (Parquet: the index comes too with pandas results). None for all.
            filters: Only the rows this keeps, as ``pyarrow.parquet.read_table(filters=...)`` takes
                it: DNF tuples (``[("age", ">", 65)]``; a list of such lists ORs them) or a
                ``pyarrow.compute`` expression, on any columns. CSV is filtered after reading.
            result_type: ``"pandas"`` (default), ``"arrow"`` (a ``pyarrow.Table``) or ``"polars"``
                (a ``polars.DataFrame``, the ``polars`` extra); the latter two without pandas.
            progress: Called as ``progress(bytes_received, bytes_total)`` as ranges arrive.
            version: Read this version (``list_versions``), checked against its own CRC32C.

        Returns:
            The DataFrame or table, exactly as uploaded (Parquet).

        Raises:
            ConfigurationError: Invalid name, columns, filters or result_type (before any I/O); a
                column or filter that does not fit the artifact (after the footer, before any chunk).
            ArtifactNotFoundError: No such artifact (VersionNotFoundError: no such version).
            IntegrityError: The bytes do not match their checksum; no data is returned.
            SerializationError: The stored bytes are not a readable artifact of this format.
            TransientStoreError: Retries exhausted.
        """
        key = self.key(name)
        cols = self._check_columns(columns)
        expression = to_expression(filters)
        kind = codecs.check_result_kind(result_type)
        counter = ByteCounter(progress)
        downloader = Downloader(backend := await self._reader(version), self.transfer, self.retry_config)
        ranged = self.format is StorageFormat.PARQUET and backend.supports_ranged_reads
        if ranged and (cols is not None or expression is not None):
            data = await downloader.fetch_projected(key, cols, counter, expression)
        else:
            data = await downloader.fetch(key, counter)
        uri = backend.uri(key)
        options: dict[str, Any] = {"columns": cols, "uri": uri, "expression": expression, "result_type": kind}
        if isinstance(data, ReceiveBuffer):
            received = data
            del data
            return await run_cpu_bound(lambda: self._decode_received(received, options))
        box: list[Any] = [data]
        del data
        return await run_cpu_bound(lambda: codecs.decode_owned(box, self.format, **options))

    def _decode_received(self, buffer: ReceiveBuffer, options: dict[str, Any]) -> Any:
        # The decoder hands back each range of the buffer once it is decoded, so the received bytes
        # turn into the frame instead of adding to it; the rest is unmapped here, off the loop.
        try:
            return codecs.decode_owned([buffer.view], self.format, release=buffer.release, **options)
        finally:
            buffer.close()

    def iter_batches(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        result_type: ResultKind = "pandas",
        version: str | None = None,
    ) -> AsyncGenerator[Any, None]:
        """Stream the rows of artifact ``name`` as batches: ``async for batch in store.iter_batches(...)``.

        On S3 and GCS a Parquet artifact is read a few row groups at a time (memory: about two
        decoded row groups, not the artifact), by concurrent ranged reads of the needed column
        chunks of the row groups a filter may keep rows of; each page is checked against its CRC,
        and every read is pinned to the version first seen. CSV artifacts, the local store, small
        artifacts and Parquet files another tool wrote are read whole (verified) and then handed
        out batch by batch. Breaking out of the loop or cancelling it leaves nothing open; to close
        the stream at once, iterate inside ``contextlib.aclosing(...)``.

        Args:
            name: Artifact name relative to the store prefix.
            columns: Only these columns, as for ``download``.
            filters: Only the rows this keeps, as for ``download``.
            batch_rows: At most this many rows per batch (a batch never spans two row groups).
            result_type: ``"pandas"`` (default: DataFrames, a default RangeIndex numbered from 0 in
                each), ``"arrow"`` (``pyarrow.RecordBatch``) or ``"polars"`` (``polars.DataFrame``).
            version: Stream this version, as for ``download``.

        Returns:
            An async iterator of batches.

        Raises:
            ConfigurationError: Invalid name, columns, filters, batch_rows or result_type (at the
                call, before any I/O); a column or filter that does not fit the artifact (at the
                first batch, before any column chunk moves).
            ArtifactNotFoundError: No such artifact.
            IntegrityError: A page or the artifact fails its checksum.
            TransientStoreError: Retries exhausted, or the artifact was replaced mid-stream.
        """
        key = self.key(name)
        cols = self._check_columns(columns)
        expression = to_expression(filters)
        rows = check_batch_rows(batch_rows)
        kind = codecs.check_result_kind(result_type)
        return self._stream(key, cols, expression, rows, kind, self._check_version(version))

    async def _stream(
        self, key: str, columns: list[str] | None, expression: pc.Expression | None, rows: int, kind: ResultKind,
        version: str | None,
    ) -> AsyncGenerator[Any, None]:
        backend = await self._reader(version)
        batches = stream_batches(
            backend, key, self.format, columns=columns, expression=expression, batch_rows=rows, result_type=kind,
            transfer=self.transfer, retry_config=self.retry_config,
        )
        async with aclosing(batches):
            async for batch in batches:
                yield batch

    _check_columns = staticmethod(check_columns)

    async def exists(self, name: str) -> bool:
        """True when artifact ``name`` exists.

        Raises:
            ConfigurationError: Invalid name.
        """
        key = self.key(name)
        return await Uploader(await self._ready(), self.transfer, self.retry_config).exists(key)

    async def info(self, name: str, *, version: str | None = None) -> ArtifactInfo:
        """Size, checksum, ETag, version, last-modified time, and the row and column counts recorded at upload.

        Args:
            name: Artifact name.
            version: That version's information (as for ``download``); None: the current one.

        Raises:
            ConfigurationError: Invalid name.
            ArtifactNotFoundError: No such artifact (VersionNotFoundError: no such version).
        """
        key = self.key(name)
        backend = await self._reader(version)
        meta = await retry(self.retry_config, lambda: backend.head(key), what=f"info of {backend.uri(key)}")
        return artifact_info(name, backend.uri(key), meta)

    async def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Delete artifact ``name``.

        Args:
            name: Artifact name.
            missing_ok: When True, a missing artifact is not an error.

        Raises:
            ConfigurationError: Invalid name.
            ArtifactNotFoundError: The artifact does not exist (unless ``missing_ok``).
        """
        key = self.key(name)
        backend = await self._ready()
        if not missing_ok and not await Uploader(backend, self.transfer, self.retry_config).exists(key):
            raise ArtifactNotFoundError(f"{backend.uri(key)} does not exist", uri=backend.uri(key))
        await retry(self.retry_config, lambda: backend.delete(key), what=f"delete of {backend.uri(key)}")

    async def list_artifacts(self, prefix: str = "") -> list[str]:
        """Names of the artifacts under ``prefix`` (a plain string prefix), sorted.

        Names are relative to the store prefix, without the extension, so each can be passed to
        ``download``. Every page of the listing is read.

        Raises:
            ConfigurationError: Invalid prefix.
        """
        key_prefix = list_prefix(self.prefix, prefix)
        backend = await self._ready()
        ext = self.format.value

        async def collect() -> list[str]:
            names = []
            async for key in backend.iter_keys(key_prefix):
                name = name_from_key(self.prefix, key, ext)
                if name is not None:
                    names.append(name)
            return names

        return sorted(await retry(self.retry_config, collect, what=f"listing of {backend.uri(key_prefix)}"))

    # -- bulk ------------------------------------------------------------------------------------

    async def upload_many(
        self,
        frames: Mapping[str, UploadData] | Iterable[tuple[str, UploadData]],
        *,
        overwrite: bool = True,
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[str]:
        """Upload many artifacts at once, with at most ``concurrency`` in flight.

        Args:
            frames: ``{name: data}`` (data as for ``upload``), a list of ``(name, data)`` pairs, or an iterator of
                pairs (a generator), which is consumed lazily: only the frames in flight are held,
                and an invalid pair becomes a failed outcome instead of an error for the call.
            overwrite: As for ``upload``.
            concurrency: Artifacts in flight (default ``TransferConfig.bulk_concurrency``).
            progress: Called as ``progress(outcome, done, total)`` after each artifact (``total`` is
                None for an iterator of unknown length).

        Returns:
            A BulkResult with one outcome per artifact, in input order (value: the URI).

        Raises:
            ConfigurationError: An invalid option, or (for a mapping or list) an invalid or repeated
                name, before anything is sent.
        """
        limit = self._bulk_limit(concurrency)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        pairs: Iterable[Any] = frames.items() if isinstance(frames, Mapping) else frames
        total: int | None = None
        if hasattr(pairs, "__len__"):  # a mapping or a list: everything is checked before any I/O
            pairs = list(pairs)
            total = len(pairs)
            names = [pair_name(pair, self.key) for pair in pairs]
            if len(set(names)) != len(names):
                raise ConfigurationError("the same artifact name appears twice in one bulk transfer")
        await self._ready()

        def upload(df: UploadData, name: str) -> Callable[[], Awaitable[str]]:
            return lambda: self.upload(df, name, overwrite=overwrite)

        def items() -> Iterator[BulkItem[str]]:
            seen: set[str] = set()
            for pair in pairs:
                try:
                    name = pair_name(pair, self.key)
                    if name in seen:
                        raise ConfigurationError(f"artifact name {name!r} appears twice in one bulk transfer")
                except ConfigurationError as exc:
                    yield BulkItem(pair_label(pair), "", failure=exc)
                    continue
                seen.add(name)
                yield BulkItem(name, self.uri(name), upload(pair[1], name))

        return await run_bulk(items(), limit=limit, total=total, progress=progress)

    async def download_many(
        self,
        names: Iterable[str],
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[Any]:
        """Download many artifacts at once, with at most ``concurrency`` in flight.

        ``columns``, ``filters`` and ``result_type`` apply to each artifact, as for ``download``.

        Returns:
            A BulkResult with one outcome per name, in input order (value: the DataFrame);
            ``result.values`` is ``{name: DataFrame}`` of those that arrived.

        Raises:
            ConfigurationError: An invalid name or option, before anything is sent.
        """
        limit = self._bulk_limit(concurrency)
        listed = [names] if isinstance(names, str) else list(names)
        for name in listed:
            self.key(name)
        if len(set(listed)) != len(listed):
            raise ConfigurationError("the same artifact name appears twice in one bulk transfer")
        cols = self._check_columns(columns)
        to_expression(filters)
        kind = codecs.check_result_kind(result_type)
        await self._ready()

        def download(name: str) -> Callable[[], Awaitable[Any]]:
            return lambda: self.download(name, columns=cols, filters=filters, result_type=kind)

        items = (BulkItem(name, self.uri(name), download(name)) for name in listed)
        return await run_bulk(items, limit=limit, total=len(listed), progress=progress)

    def _bulk_limit(self, concurrency: int | None) -> int:
        limit = self.transfer.bulk_concurrency if concurrency is None else concurrency
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise ConfigurationError(f"concurrency must be a positive integer; got {concurrency!r}")
        return limit

