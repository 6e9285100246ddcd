"""The embedded default: artifacts as files under a root directory.

Writes are atomic (a temporary file in the target directory, fsync, rename, fsync of the directory),
so a reader sees the old artifact or the new one, never a partial file. No name can escape the root:
names are validated, and every path is resolved (symlinks included) and checked to lie inside it.
Files are created readable and writable by their owner only (mode 0o600) unless configured otherwise.
All file I/O runs in worker threads.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from .._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ConfigurationError,
    NameConflictError,
    StoreError,
)
from .._tasks import wait_to_end
from .backend import Backend, ObjectChangedError, ObjectMeta, ObjectPage, PutRequest, changed_error
from .codecs import StorageFormat
from .core import AsyncPipelineStore
from .metadata import META_COLUMNS, META_ROWS

if TYPE_CHECKING:
    from collections.abc import Iterator

    from .._config import RetryConfig, TransferConfig
    from .backend import ByteCounter, CopyRequest

__all__ = ["AsyncLocalPipelineStore"]

_TMP_MARK = ".clinops-tmp-"


class _LocalBackend(Backend):
    scheme = "file"
    supports_multipart = False
    supports_ranged_reads = False
    moves_spooled_files = True

    def __init__(self, root: Path, *, create: bool, file_mode: int) -> None:
        self.root = root
        self.bucket = str(root)
        self.create = create
        self.file_mode = file_mode
        self._real_root: Path | None = None

    def uri(self, key: str) -> str:
        return (self.root / key).as_uri() if key else self.root.as_uri()

    async def open(self) -> None:
        await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        if not self.root.exists():
            if not self.create:
                raise BucketNotFoundError(f"local store root {self.root} does not exist", uri=self.root.as_uri())
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not self.root.is_dir():
            raise ConfigurationError(f"local store root {self.root} is not a directory")
        self._real_root = self.root.resolve()

    def _path(self, key: str) -> Path:
        """The file for ``key``, refusing anything (a symlink included) that resolves outside the root."""
        assert self._real_root is not None
        path = self._real_root / key
        resolved = path.resolve()
        if resolved != self._real_root and self._real_root not in resolved.parents:
            raise AccessDeniedError(f"{self.uri(key)} resolves outside the store root", uri=self.uri(key))
        return path

    async def put(self, request: PutRequest, data: memoryview) -> None:
        # Waited for to the end: a cancelled caller must not leave a write running behind it.
        await wait_to_end(anyio.to_thread.run_sync(self._put_sync, request, data))

    async def put_large(self, request: PutRequest, data: memoryview, part_size: int) -> None:
        await self.put(request, data)

    def _put_sync(self, request: PutRequest, data: memoryview) -> None:
        path = self._prepare(request)
        tmp = path.with_name(f"{_TMP_MARK}{uuid.uuid4().hex}-{path.name}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, self.file_mode)
            try:
                with os.fdopen(fd, "wb", closefd=True) as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
            self._commit(tmp, path, request.uri, overwrite=request.overwrite, put=request)
        except OSError as exc:
            raise _translate(exc, request.uri) from exc

    def _prepare(self, request: PutRequest) -> Path:
        """The artifact's file, its directories made, refused when it conflicts with another artifact."""
        path = self._path(request.key)
        try:
            self._check_no_conflict(path, request.uri)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise _translate(exc, request.uri) from exc
        self._path(request.key)  # the directories just made must still resolve inside the root
        return path

    @staticmethod
    def _commit(tmp: Path, path: Path, uri: str, *, overwrite: bool, put: PutRequest | None = None) -> None:
        """Give the finished temporary file its name: atomically, only if absent without ``overwrite``,
        only over the file a write's ``if_match`` names (compared and replaced under the directory's
        lock, which every write takes for this moment)."""
        try:
            with _directory_lock(path.parent):
                if put is not None and put.if_match is not None:
                    try:
                        now = _etag(os.stat(path))
                    except FileNotFoundError:
                        raise changed_error(put, "no longer exists") from None
                    if now != put.if_match:
                        raise changed_error(put, f"is at {now}, not {put.if_match}")
                if overwrite:
                    os.replace(tmp, path)
                else:
                    try:
                        os.link(tmp, path)  # atomic create-if-absent
                    except FileExistsError:
                        raise ArtifactExistsError(
                            f"{uri} already exists; pass overwrite=True to replace it", uri=uri
                        ) from None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def new_spool_file(self, key: str) -> tuple[int, str]:
        # In the root, under the temporary mark that listings skip, so the file moves into place.
        assert self._real_root is not None
        return tempfile.mkstemp(prefix=_TMP_MARK, suffix=".spool", dir=self._real_root)

    async def put_file(self, request: PutRequest, path: str) -> None:
        await wait_to_end(anyio.to_thread.run_sync(self._put_file_sync, request, Path(path)))

    def _put_file_sync(self, request: PutRequest, spooled: Path) -> None:
        target = self._prepare(request)
        try:
            os.chmod(spooled, self.file_mode)
            with open(spooled, "rb") as handle:
                os.fsync(handle.fileno())
            self._commit(spooled, target, request.uri, overwrite=request.overwrite, put=request)
        except OSError as exc:
            raise _translate(exc, request.uri) from exc

    def copy_reach(self) -> tuple[str, str]:
        return (self.scheme, "")  # any two directories of this machine

    async def copy_object(
        self, request: CopyRequest, progress: ByteCounter, retry_config: RetryConfig
    ) -> ObjectMeta | None:
        # Waited for to the end: a cancelled caller must not leave a link or copy running behind it.
        await wait_to_end(anyio.to_thread.run_sync(self._copy_sync, request))
        progress.add(request.source.size)
        return None

    def _copy_sync(self, request: CopyRequest) -> None:
        """A hard link of the source under a temporary name (a copy across file systems), then the
        same atomic rename as a write. Every write replaces a file by rename, never in place, so the
        link keeps the version it was made of when the source is written again."""
        source = _inside(Path(request.source_bucket).resolve(), request.source.key, request.source_uri)
        path = self._path(request.key)
        try:
            self._check_no_conflict(path, request.uri)
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            tmp = path.with_name(f"{_TMP_MARK}{uuid.uuid4().hex}-{path.name}")
            linked, copied_etag = True, ""
            try:
                os.link(source, tmp, follow_symlinks=False)  # the same inode: its identity is the source's
            except OSError as exc:
                if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                linked, copied_etag = False, self._copy_file(source, tmp)
            copied = _etag(os.stat(tmp)) if linked else copied_etag
            if request.source.etag and copied != request.source.etag:
                os.unlink(tmp)  # the source was replaced since its HEAD: copy nothing of either
                raise ObjectChangedError(request.source_uri)
            self._commit(tmp, path, request.uri, overwrite=request.overwrite)
        except OSError as exc:
            raise _translate(exc, request.source_uri if isinstance(exc, FileNotFoundError) else request.uri) from exc

    def _copy_file(self, source: Path, tmp: Path) -> str:
        """Copy ``source`` to ``tmp``; the identity (``_etag``) of the source file that was read."""
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, self.file_mode)
        try:
            with open(source, "rb") as reader, os.fdopen(fd, "wb", closefd=False) as writer:
                read = os.fstat(reader.fileno())
                shutil.copyfileobj(reader, writer, 1 << 20)
                writer.flush()
                os.utime(fd, ns=(read.st_atime_ns, read.st_mtime_ns))
                os.fsync(fd)
            return _etag(read)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        finally:
            os.close(fd)

    def _check_no_conflict(self, path: Path, uri: str) -> None:
        """Refuse a name whose file is a directory of other artifacts, or lies under another artifact.

        An object store keeps ``x.parquet`` and ``x.parquet/y.parquet`` side by side; a file system
        cannot, and would answer with a bare "File exists" or "Is a directory".
        """
        assert self._real_root is not None
        if path.is_dir():
            raise NameConflictError(
                f"{uri} cannot be stored: the local store holds other artifacts under the directory "
                f"{path.as_uri()}, which has this name's path; choose another name", uri=uri)
        for ancestor in path.parents:
            if ancestor == self._real_root or self._real_root not in ancestor.parents:
                return
            if ancestor.exists() and not ancestor.is_dir():
                raise NameConflictError(
                    f"{uri} cannot be stored: the artifact {ancestor.as_uri()} holds the path of one of "
                    "its directories; choose another name", uri=uri)

    async def read_first(self, key: str, length: int, *, version: str | None = None) -> tuple[ObjectMeta, bytes]:
        return await anyio.to_thread.run_sync(self._read_sync, key)

    def _read_sync(self, key: str) -> tuple[ObjectMeta, bytes]:
        path = self._path(key)
        try:
            with open(path, "rb") as handle:
                data = handle.read()
                meta = self._meta(key, os.fstat(handle.fileno()))
        except OSError as exc:
            raise _translate(exc, self.uri(key)) from exc
        return ObjectMeta(key=key, size=len(data), last_modified=meta.last_modified), data

    async def read_into(
        self, key: str, start: int, buffer: memoryview, etag: str | None, *, version: str | None = None
    ) -> None:
        raise NotImplementedError  # read_first always returns the whole file

    def _meta(self, key: str, st: os.stat_result, path: Path | None = None) -> ObjectMeta:
        metadata: dict[str, str] = {}
        if path is not None and key.endswith(".parquet"):
            metadata = _parquet_counts(path)
        return ObjectMeta(
            key=key,
            size=st.st_size,
            etag=_etag(st),
            last_modified=datetime.fromtimestamp(st.st_mtime, tz=UTC),
            content_type=StorageFormat.CSV.content_type if key.endswith(".csv") else
            StorageFormat.PARQUET.content_type,
            metadata=metadata,
        )

    async def head(self, key: str, *, version: str | None = None) -> ObjectMeta:
        return await anyio.to_thread.run_sync(self._head_sync, key)

    def _head_sync(self, key: str) -> ObjectMeta:
        path = self._path(key)
        try:
            st = path.stat()
        except OSError as exc:
            raise _translate(exc, self.uri(key)) from exc
        if not path.is_file():
            raise ArtifactNotFoundError(f"{self.uri(key)} does not exist", uri=self.uri(key))
        return self._meta(key, st, path)

    async def list_page(self, prefix: str, token: str | None) -> ObjectPage:
        # One page: a directory walk has no continuation token, and the stat of each file comes with it.
        return ObjectPage(await anyio.to_thread.run_sync(self._list_sync, prefix), None)

    def _list_sync(self, prefix: str) -> list[ObjectMeta]:
        assert self._real_root is not None
        # Only walk the directory the prefix names (its part up to the last '/').
        start = self._real_root / prefix.rsplit("/", 1)[0] if "/" in prefix else self._real_root
        found = []
        for directory, _dirs, files in os.walk(start):
            for file in files:
                if file.startswith(_TMP_MARK):
                    continue
                path = Path(directory, file)
                key = path.relative_to(self._real_root).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    found.append(self._meta(key, path.stat()))
                except FileNotFoundError:
                    continue  # deleted while the directory was walked
        found.sort(key=lambda meta: meta.key.encode())  # key order, as S3 and GCS list
        return found

    async def delete(self, key: str) -> None:
        await anyio.to_thread.run_sync(self._delete_sync, key)

    def _delete_sync(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise _translate(exc, self.uri(key)) from exc


def _etag(st: os.stat_result) -> str:
    """The file's identity: every write replaces the file (a new inode), and changes its time."""
    return f"{st.st_ino}-{st.st_mtime_ns}-{st.st_size}"


@contextlib.contextmanager
def _directory_lock(directory: Path) -> Iterator[None]:
    """An exclusive ``flock`` on the directory for the moment a file is moved into it, so a write with
    ``if_match`` compares and replaces with no other write of this store (any process) in between."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: the comparison alone, without the lock
        yield
        return
    fd = os.open(directory, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _inside(root: Path, key: str, uri: str) -> Path:
    """``root / key``, refusing a path that resolves outside ``root``."""
    path = root / key
    resolved = path.resolve()
    if root not in resolved.parents:
        raise AccessDeniedError(f"{uri} resolves outside the store root", uri=uri)
    return path


def _parquet_counts(path: Path) -> dict[str, str]:
    import pyarrow.parquet as pq

    from .codecs import index_columns

    try:
        meta = pq.read_metadata(path)
        schema = meta.schema.to_arrow_schema()
    except Exception:
        return {}
    index = index_columns(schema)
    return {META_ROWS: str(meta.num_rows), META_COLUMNS: str(len([n for n in schema.names if n not in index]))}


def _translate(exc: OSError, uri: str) -> StoreError:
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, FileNotFoundError | NotADirectoryError) or exc.errno == errno.ENOENT:
        return ArtifactNotFoundError(f"{uri} does not exist", uri=uri)
    if isinstance(exc, PermissionError):
        return AccessDeniedError(f"permission denied for {uri}", uri=uri)
    if exc.errno == errno.ELOOP:
        return AccessDeniedError(f"{uri} is a symbolic link; the store does not follow links", uri=uri)
    return StoreError(f"{uri}: {exc.strerror or type(exc).__name__}", uri=uri)


class AsyncLocalPipelineStore(AsyncPipelineStore):
    """DataFrame artifacts as files under a local directory: the embedded default.

    Same interface and error types as the cloud stores. Writes are atomic (temporary file, fsync,
    rename), names can never escape ``root``, and files are private to their owner by default.

    Args:
        root: The directory that holds the artifacts (created if missing, unless ``create=False``).
        prefix: Sub-path for every artifact (trailing ``/`` stripped).
        format: ``StorageFormat.PARQUET`` (default) or ``StorageFormat.CSV``.
        create: Create ``root`` on first use when it does not exist.
        file_mode: Permission bits of new files (default 0o600: owner only).
        compression: Parquet compression codec.
        transfer: Bulk concurrency (:class:`TransferConfig`); part sizes do not apply.
        retry: Retry attempts and backoff (:class:`RetryConfig`).

    Raises:
        ConfigurationError: An invalid argument.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        *,
        create: bool = True,
        file_mode: int = 0o600,
        compression: str = "snappy",
        transfer: TransferConfig | None = None,
        retry: RetryConfig | None = None,
    ) -> None:
        super().__init__(prefix, format, compression=compression, transfer=transfer, retry=retry)
        if not isinstance(root, str | os.PathLike) or not str(root):
            raise ConfigurationError("root must be a directory path")
        if not isinstance(file_mode, int) or not 0 <= file_mode <= 0o777:
            raise ConfigurationError("file_mode must be permission bits such as 0o600")
        self.root = Path(root).expanduser().absolute()
        self._backend = _LocalBackend(self.root, create=bool(create), file_mode=file_mode)

    def _pickle_config(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        # Pickled with its absolute root, so a worker started in another directory finds the same files.
        args, kwargs = super()._pickle_config()
        return ((self.root, *args[1:]), kwargs) if args else (args, {**kwargs, "root": self.root})

    def __repr__(self) -> str:
        return f"AsyncLocalPipelineStore(root={str(self.root)!r}, prefix={self.prefix!r}, format={self.format.value!r})"
