"""Server-side copy, move and rename of artifacts, of everything under a prefix, and in bulk.

Written once over the backends' ``copy_object`` primitive (S3 CopyObject and UploadPartCopy, GCS
rewrite, a local hard link): no byte passes through the client. Every argument is checked before any
I/O. A plain copy is one request where the backend has one (``copy_whole_object``: S3 CopyObject,
GCS rewrite), atomic on the source's current version, its metadata and recorded CRC32C carried
along, so every read of the copy is verified; GCS's answer is checked at once. A move, or
``verify=True``, reads the source (HEAD) first, pins the copy to that version, compares the
destination's CRC32C (computed by the server) with the source's, and removes a copy that does not
match; a move deletes its source only after that.
:class:`CopyingMixin` gives these methods to :class:`~clinops_async._stores.core.AsyncPipelineStore`.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

import anyio

from .._exceptions import (
    ArtifactExistsError,
    ArtifactNotFoundError,
    ConfigurationError,
    IntegrityError,
    StoreError,
)
from .._retry import retry
from .backend import (
    Backend,
    ByteCounter,
    ByteProgress,
    CopyNeedsSourceInfoError,
    CopyRequest,
    ObjectChangedError,
    ObjectMeta,
    WholeCopyRequest,
)
from .bulk import BulkItem, BulkResult, ProgressCallback, run_bulk
from .metadata import META_CRC, META_WRITE, recorded_crc32c
from .names import list_prefix
from .parts import StoreParts

if TYPE_CHECKING:
    from .._config import RetryConfig

__all__ = ["CopyingMixin", "server_side_possible"]

logger = logging.getLogger("clinops_async")

#: Keys under a prefix that are not objects of their own: temporary parts of uploads in flight.
_TEMPORARY_MARKS = (".clinops-tmp-",)


class CopyingMixin(StoreParts):
    """``copy``, ``move``, ``rename`` and their prefix and bulk forms, for every store."""

    # -- one artifact ------------------------------------------------------------------------------

    async def copy(
        self, src: str, dst: str, *, to: CopyingMixin | None = None, overwrite: bool = True,
        progress: ByteProgress | None = None, verify: bool = False,
    ) -> str:
        """Copy artifact ``src`` to ``dst`` on the server: no byte passes through this machine.

        S3 copies with CopyObject (UploadPartCopy parts, ``TransferConfig.max_concurrency`` at once,
        from ``TransferConfig.copy_threshold``, 5 GiB), GCS with ``rewrite`` (called again with its
        token until done), the local store by a hard link (a copy across file systems) given its
        name by an atomic rename. The copy keeps the source's metadata (row and column counts,
        recorded CRC32C), and is one version of the source, whole. With the default
        ``copy_threshold`` it is one request (S3 CopyObject, one GCS rewrite call) with no HEAD before
        or after: every download of the copy checks its CRC32C, and GCS's
        answer is checked at once; ``verify=True`` (or a ``progress`` callback, which needs the size)
        reads the source first and compares the copy's size and server-computed CRC32C with it before
        returning (a copy that differs is removed and ``IntegrityError`` raised). A failed or
        cancelled copy leaves nothing at ``dst`` (an unfinished S3 multipart copy is aborted), and
        the source is never touched.

        Args:
            src: The artifact to copy, a name relative to this store's prefix.
            dst: The new artifact's name, relative to the prefix of ``to`` (default: this store).
            to: Another store of the same kind on the same service (S3: another bucket of the same
                endpoint; GCS: another bucket; local: another directory), opened on the same event
                loop. Its client issues the copy, so its credentials need read access to the source.
            overwrite: When False, never replace an existing ``dst`` (a conditional copy where the
                server honours one: S3 ``If-None-Match``, GCS ``ifGenerationMatch=0``, local link).
            progress: Called as ``progress(bytes_copied, bytes_total)``: at the start, after each
                part or rewrite call, and ``(size, size)`` at the end.
            verify: Read the source first and compare the copy with it before returning (two or
                three requests instead of one); a move always does.

        Returns:
            The URI of the new artifact.

        Raises:
            ConfigurationError: An invalid name or option, ``dst`` is ``src`` itself, or ``to`` is a
                store of another kind, on another endpoint or in another format (before any I/O).
            ArtifactNotFoundError: ``src`` does not exist (nothing is written).
            ArtifactExistsError: ``overwrite=False`` and ``dst`` exists.
            IntegrityError: The copy's CRC32C differs from the source's (the copy was removed);
                checked with ``verify=True``, by a move, and on GCS by every copy.
            StoreError: The source was replaced while it was copied (nothing was written), or
                another storage failure; ``TransientStoreError`` once retries are exhausted.
        """
        target, src_key, dst_key = self._check_copy(src, dst, to, overwrite)
        _check_verify(verify)
        return await self._copy_key(target, src_key, dst_key, overwrite=overwrite, progress=progress, move=False,
                                    verify=verify)

    async def move(
        self, src: str, dst: str, *, to: CopyingMixin | None = None, overwrite: bool = True,
        progress: ByteProgress | None = None,
    ) -> str:
        """Move artifact ``src`` to ``dst``: a server-side :meth:`copy`, then the source's deletion,
        only once the copy is verified against the source's CRC32C.

        A move that fails at any point before that leaves the source as it was. Arguments, return
        value and errors are those of :meth:`copy`.
        """
        target, src_key, dst_key = self._check_copy(src, dst, to, overwrite)
        return await self._copy_key(target, src_key, dst_key, overwrite=overwrite, progress=progress, move=True)

    async def rename(
        self, src: str, dst: str, *, overwrite: bool = True, progress: ByteProgress | None = None
    ) -> str:
        """Rename artifact ``src`` to ``dst`` within this store: the same as ``move(src, dst)``.

        Object stores have no rename: it is a verified server-side copy, then a delete.
        """
        return await self.move(src, dst, overwrite=overwrite, progress=progress)

    # -- prefixes and bulk -------------------------------------------------------------------------

    async def copy_prefix(
        self, src_prefix: str, dst_prefix: str, *, to: CopyingMixin | None = None, overwrite: bool = True,
        concurrency: int | None = None, progress: ProgressCallback | None = None, verify: bool = False,
    ) -> BulkResult[str]:
        """Copy every object under ``src_prefix`` to ``dst_prefix``, on the server, keeping the rest
        of each key: ``copy_prefix("staging/", "prod/")`` copies ``staging/a/b.parquet`` to
        ``prod/a/b.parquet``. A dataset is a prefix of fragment files, so this copies a dataset.

        Prefixes are plain string prefixes, as for ``list_artifacts``: end them with ``/`` to mean
        a folder. Every object under the prefix is copied, whatever its extension, each as by
        :meth:`copy`; the listing is taken before the first copy.

        Args:
            src_prefix: What to copy, relative to this store's prefix.
            dst_prefix: Where to, relative to the prefix of ``to`` (default: this store).
            to: Another store of the same kind, as for :meth:`copy`.
            overwrite: As for :meth:`copy`.
            concurrency: Objects in flight (default ``TransferConfig.copy_concurrency``, 32).
            progress: Called as ``progress(outcome, done, total)`` after each object.
            verify: As for :meth:`copy`: one request per object unless True.

        Returns:
            A BulkResult with one outcome per object, in key order: ``name`` is the object's path
            under this store's prefix (with its extension), ``value`` the new object's URI.

        Raises:
            ConfigurationError: An invalid option, the same prefix of the same store as source and
                destination, or ``to`` of another kind (before any I/O).
        """
        _check_verify(verify)
        return await self._copy_prefix(src_prefix, dst_prefix, to, overwrite, concurrency, progress, move=False,
                                       verify=verify)

    async def move_prefix(
        self, src_prefix: str, dst_prefix: str, *, to: CopyingMixin | None = None, overwrite: bool = True,
        concurrency: int | None = None, progress: ProgressCallback | None = None,
    ) -> BulkResult[str]:
        """Move every object under ``src_prefix`` to ``dst_prefix`` (promote ``staging/`` to ``prod/``):
        :meth:`copy_prefix`, each source deleted once its copy is verified. Objects whose copy failed
        stay where they were; see the outcomes."""
        return await self._copy_prefix(src_prefix, dst_prefix, to, overwrite, concurrency, progress, move=True)

    async def copy_many(
        self, pairs: Mapping[str, str] | Iterable[tuple[str, str]], *, to: CopyingMixin | None = None,
        overwrite: bool = True, concurrency: int | None = None, progress: ProgressCallback | None = None,
        verify: bool = False,
    ) -> BulkResult[str]:
        """Copy many artifacts on the server, ``{src: dst}`` or ``(src, dst)`` pairs, each as by
        :meth:`copy` (``verify`` too), with at most ``concurrency`` in flight.

        Returns:
            A BulkResult with one outcome per pair, in input order (name: ``src``; value: the new URI).

        Raises:
            ConfigurationError: An invalid pair or option, or a destination named twice (before any I/O).
        """
        _check_verify(verify)
        return await self._copy_many(pairs, to, overwrite, concurrency, progress, move=False, verify=verify)

    async def move_many(
        self, pairs: Mapping[str, str] | Iterable[tuple[str, str]], *, to: CopyingMixin | None = None,
        overwrite: bool = True, concurrency: int | None = None, progress: ProgressCallback | None = None,
    ) -> BulkResult[str]:
        """Move many artifacts: :meth:`copy_many`, each source deleted once its copy is verified."""
        return await self._copy_many(pairs, to, overwrite, concurrency, progress, move=True)

    # -- checks (no I/O) ---------------------------------------------------------------------------

    def _target(self, to: object) -> CopyingMixin:
        if to is None:
            return self
        if not isinstance(to, CopyingMixin):
            raise ConfigurationError(
                f"to must be an async store (got {type(to).__name__}); a blocking store's copy takes another "
                "blocking store"
            )
        mine, theirs = self._backend.copy_reach(), to._backend.copy_reach()
        if mine[0] != theirs[0]:
            raise ConfigurationError(
                f"a server-side copy cannot go from {mine[0]}:// to {theirs[0]}://: download and upload the "
                "artifact, or use `clinops-async cp`, which streams the bytes between clouds"
            )
        if mine != theirs:
            raise ConfigurationError(
                f"a server-side copy stays on one service; the destination store uses another endpoint "
                f"({theirs[1]}) than the source ({mine[1]})"
            )
        if to.format is not self.format:
            raise ConfigurationError(
                f"a server-side copy keeps the bytes: the destination store holds {to.format.value} "
                f"artifacts, the source {self.format.value}; convert with download and upload"
            )
        return to

    def _check_copy(self, src: str, dst: str, to: object, overwrite: object) -> tuple[CopyingMixin, str, str]:
        target = self._target(to)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        src_key, dst_key = self.key(src), target.key(dst)
        if self._same_place(target, src_key, dst_key):
            raise ConfigurationError(f"{self._backend.uri(src_key)} would be copied onto itself")
        return target, src_key, dst_key

    def _same_place(self, target: CopyingMixin, src_key: str, dst_key: str) -> bool:
        return src_key == dst_key and target._backend.uri(dst_key) == self._backend.uri(src_key)

    # -- the copy ----------------------------------------------------------------------------------

    async def _copy_key(
        self, target: CopyingMixin, src_key: str, dst_key: str, *, overwrite: bool,
        progress: ByteProgress | None, move: bool, verify: bool = True,
    ) -> str:
        counter = ByteCounter(progress)
        source_backend, backend = await self._ready(), await target._ready()
        src_uri, dst_uri = source_backend.uri(src_key), backend.uri(dst_key)
        if not (move or verify or progress is not None) and await self._copy_whole(target, src_key, dst_key, overwrite):
            return dst_uri
        meta = await retry(self.retry_config, lambda: source_backend.head(src_key), what=f"info of {src_uri}")
        if not overwrite and await _exists(backend, dst_key, target.retry_config):
            raise ArtifactExistsError(f"{dst_uri} already exists; pass overwrite=True to replace it", uri=dst_uri)
        request = CopyRequest(
            source=meta, source_bucket=source_backend.bucket, source_uri=src_uri, key=dst_key, uri=dst_uri,
            overwrite=overwrite, crc32c=recorded_crc32c(meta),
        )
        counter.start(meta.size)
        try:
            stored = await backend.copy_object(request, counter, target.retry_config)
        except ObjectChangedError:
            raise StoreError(
                f"{src_uri} was replaced or deleted while it was copied; nothing was written to {dst_uri}. "
                "Copy it again", uri=src_uri,
            ) from None
        except ArtifactExistsError:
            if overwrite or not await _is_copy_of(backend, dst_key, meta, target.retry_config):
                raise
            stored = None  # an earlier attempt's copy, whose answer was lost
        await _verify(backend, request, stored, target.retry_config)
        counter.add(meta.size - counter.done)
        if move:
            await retry(self.retry_config, lambda: source_backend.delete(src_key), what=f"delete of {src_uri}")
        logger.debug("%s %s to %s (%d bytes)", "moved" if move else "copied", src_uri, dst_uri, meta.size)
        return dst_uri

    async def _copy_whole(self, target: CopyingMixin, src_key: str, dst_key: str, overwrite: bool) -> bool:
        """A copy in one request, with no HEAD of the source (``Backend.copy_whole_object``); False
        when the backend cannot, before anything is written, and the caller copies as usual."""
        source_backend, backend = self._backend, target._backend
        dst_uri = backend.uri(dst_key)
        if not overwrite and await _exists(backend, dst_key, target.retry_config):
            # Checked first as well: some S3-compatible servers ignore If-None-Match on a copy.
            raise ArtifactExistsError(f"{dst_uri} already exists; pass overwrite=True to replace it", uri=dst_uri)
        request = WholeCopyRequest(source_backend.bucket, src_key, source_backend.uri(src_key), dst_key, dst_uri,
                                   overwrite)
        try:
            stored = await backend.copy_whole_object(request, target.retry_config)
        except CopyNeedsSourceInfoError:
            return False
        except ArtifactExistsError:
            source = await _head(source_backend, src_key, self.retry_config)
            if overwrite or not await _is_copy_of(backend, dst_key, source, target.retry_config):
                raise
            return True  # an earlier attempt's copy, whose answer was lost
        if stored is not None:
            await _verify_metadata(backend, stored, request, target.retry_config)
        logger.debug("copied %s to %s in one request", request.source_uri, dst_uri)
        return True

    async def _copy_prefix(
        self, src_prefix: str, dst_prefix: str, to: object, overwrite: object, concurrency: int | None,
        progress: ProgressCallback | None, *, move: bool, verify: bool = True,
    ) -> BulkResult[str]:
        target = self._target(to)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        limit = self._bulk_limit(self.transfer.copy_concurrency if concurrency is None else concurrency)
        src_keys, dst_keys = list_prefix(self.prefix, src_prefix), list_prefix(target.prefix, dst_prefix)
        if self._same_place(target, src_keys, dst_keys):
            raise ConfigurationError(f"{self._backend.uri(src_keys)} would be copied onto itself")
        source_backend = await self._ready()
        await target._ready()

        async def collect() -> list[str]:
            return sorted([k async for k in source_backend.iter_keys(src_keys) if not _temporary(k)])

        keys = await retry(self.retry_config, collect, what=f"listing of {source_backend.uri(src_keys)}")
        start = len(self.prefix) + 1 if self.prefix else 0

        def copy_one(key: str) -> Callable[[], Awaitable[str]]:
            destination = dst_keys + key[len(src_keys):]
            return lambda: self._copy_key(target, key, destination, overwrite=overwrite, progress=None, move=move,
                                          verify=verify)

        items = (BulkItem(key[start:], source_backend.uri(key), copy_one(key)) for key in keys)
        return await run_bulk(items, limit=limit, total=len(keys), progress=progress)

    async def _copy_many(
        self, pairs: Mapping[str, str] | Iterable[tuple[str, str]], to: object, overwrite: object,
        concurrency: int | None, progress: ProgressCallback | None, *, move: bool, verify: bool = True,
    ) -> BulkResult[str]:
        target = self._target(to)
        if not isinstance(overwrite, bool):
            raise ConfigurationError("overwrite must be True or False")
        limit = self._bulk_limit(self.transfer.copy_concurrency if concurrency is None else concurrency)
        listed = list(pairs.items() if isinstance(pairs, Mapping) else pairs)
        checked: list[tuple[str, str, str]] = []
        for pair in listed:
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise ConfigurationError("copy_many takes {src: dst} or (src, dst) pairs of artifact names")
            _, src_key, dst_key = self._check_copy(pair[0], pair[1], target, overwrite)
            checked.append((pair[0], src_key, dst_key))
        destinations = [dst for _, _, dst in checked]
        if len(set(destinations)) != len(destinations):
            raise ConfigurationError("two copies of one bulk call have the same destination")
        await self._ready()
        await target._ready()

        def copy_one(src_key: str, dst_key: str) -> Callable[[], Awaitable[str]]:
            return lambda: self._copy_key(target, src_key, dst_key, overwrite=overwrite, progress=None, move=move,
                                          verify=verify)

        def items() -> Iterator[BulkItem[str]]:
            for name, src_key, dst_key in checked:
                yield BulkItem(name, self._backend.uri(src_key), copy_one(src_key, dst_key))

        return await run_bulk(items(), limit=limit, total=len(checked), progress=progress)


def server_side_possible(source: CopyingMixin, target: CopyingMixin) -> bool:
    """Whether ``source.copy(..., to=target)`` can copy on the server (same kind, service and format)."""
    reach = source._backend.copy_reach() == target._backend.copy_reach()
    return reach and source.format is target.format


def _check_verify(verify: object) -> None:
    if not isinstance(verify, bool):
        raise ConfigurationError("verify must be True or False")


def _temporary(key: str) -> bool:
    return any(mark in key.rsplit("/", 1)[-1] for mark in _TEMPORARY_MARKS)


async def _head(backend: Backend, key: str, config: RetryConfig) -> ObjectMeta:
    return await retry(config, lambda: backend.head(key), what=f"check of {backend.uri(key)}")


async def _exists(backend: Backend, key: str, config: RetryConfig) -> bool:
    try:
        await _head(backend, key, config)
    except ArtifactNotFoundError:
        return False
    return True


async def _is_copy_of(backend: Backend, key: str, source: ObjectMeta, config: RetryConfig) -> bool:
    """Whether the object at ``key`` is a copy of ``source`` (its write token, size and CRC32C)."""
    try:
        meta = await _head(backend, key, config)
    except ArtifactNotFoundError:
        return False
    token = source.metadata.get(META_WRITE)
    return (token is not None and meta.metadata.get(META_WRITE) == token and meta.size == source.size
            and recorded_crc32c(meta) == recorded_crc32c(source))


async def _verify(backend: Backend, request: CopyRequest, stored: ObjectMeta | None, config: RetryConfig) -> None:
    """Compare the copy's size and server-computed CRC32C with the source's; remove a copy that differs."""
    if stored is None or (stored.server_crc32c is None and request.crc32c is not None):
        stored = await _head(backend, request.key, config)
    size_ok = stored.size == request.source.size
    crc_ok = request.crc32c is None or stored.server_crc32c is None or stored.server_crc32c == request.crc32c
    if size_ok and crc_ok:
        return
    await _remove(backend, request.key, request.uri, config)
    raise IntegrityError(
        f"{request.uri}: the copy has {stored.size} bytes with CRC32C {stored.server_crc32c}, but its source "
        f"{request.source_uri} has {request.source.size} bytes with CRC32C {request.crc32c}; the copy was "
        "removed. Copy it again", uri=request.uri,
    )


async def _verify_metadata(
    backend: Backend, stored: ObjectMeta, request: WholeCopyRequest, config: RetryConfig
) -> None:
    """Compare the copy's server-computed CRC32C with the one recorded in the metadata it took from
    its source; remove a copy that differs."""
    recorded = stored.metadata.get(META_CRC)
    if recorded is None or stored.server_crc32c is None or recorded == stored.server_crc32c:
        return
    await _remove(backend, request.key, request.uri, config)
    raise IntegrityError(
        f"{request.uri}: the copy has CRC32C {stored.server_crc32c}, but its source {request.source_uri} was "
        f"written with CRC32C {recorded}; the copy was removed. Copy it again", uri=request.uri,
    )


async def _remove(backend: Backend, key: str, uri: str, config: RetryConfig) -> None:
    """Delete a damaged copy, shielded from cancellation; log what could not be removed."""
    with anyio.CancelScope(shield=True), anyio.move_on_after(60):
        try:
            await retry(config, lambda: backend.delete(key), what=f"delete of {uri}")
        except Exception:
            logger.warning("could not remove the damaged copy %s", uri, exc_info=True)
