"""Blocking facades: each method runs its async twin on the shared loop thread (:mod:`._portal`).

A facade holds one portal lease from creation to ``close()`` (or the end of a ``with`` block; open
facades are closed at interpreter exit). It works from any thread, inside a running event loop (a
Jupyter cell), and a Ctrl-C cancels the call in flight and waits for its clean-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from .. import _portal
from .batches import DEFAULT_BATCH_ROWS
from .codecs import ResultKind, StorageFormat
from .datasets.facade import DatasetFacadeMethods
from .gcs.backend import AsyncGCSPipelineStore, UploadMode
from .local import AsyncLocalPipelineStore
from .s3 import AsyncS3PipelineStore, IncompleteUpload, ServerSideEncryption

if TYPE_CHECKING:
    import os
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from datetime import timedelta

    import pandas as pd
    import polars as pl
    import pyarrow as pa

    from .._aws import CredentialProvider
    from .._config import RetryConfig, TransferConfig
    from .bulk import BulkResult, ProgressCallback
    from .core import ArtifactInfo, AsyncPipelineStore, ByteProgress, UploadData
    from .filters import Filters
    from .listing import ArtifactEntry
    from .signing import SignedMethod
    from .versions import ArtifactVersion

__all__ = ["GCSPipelineStore", "LocalPipelineStore", "PipelineStoreFacade", "S3PipelineStore"]


class PipelineStoreFacade(DatasetFacadeMethods, _portal.Facade):
    """The blocking API shared by every store; see the async store for each method's full text."""

    _async: AsyncPipelineStore

    @property
    def async_store(self) -> AsyncPipelineStore:
        """The async store this facade drives (bound to the facade's loop thread)."""
        return self._async

    @property
    def prefix(self) -> str:
        return self._async.prefix

    @property
    def format(self) -> StorageFormat:
        return self._async.format

    def uri(self, name: str) -> str:
        """The URI of artifact ``name`` (no I/O)."""
        return self._async.uri(name)

    def upload(
        self, df: UploadData, name: str, *, overwrite: bool = True, progress: ByteProgress | None = None,
        if_match: str | None = None,
    ) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.upload`."""
        return self._lease.call(self._async.upload, df, name, overwrite=overwrite, progress=progress, if_match=if_match)

    @overload
    def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                 result_type: Literal["pandas"] = ..., progress: ByteProgress | None = ...,
                 version: str | None = ...) -> pd.DataFrame: ...
    @overload
    def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                 result_type: Literal["arrow"], progress: ByteProgress | None = ...,
                 version: str | None = ...) -> pa.Table: ...
    @overload
    def download(self, name: str, *, columns: Sequence[str] | None = ..., filters: Filters | None = ...,
                 result_type: Literal["polars"], progress: ByteProgress | None = ...,
                 version: str | None = ...) -> pl.DataFrame: ...

    def download(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        progress: ByteProgress | None = None,
        version: str | None = None,
    ) -> Any:
        """Blocking version of :meth:`AsyncPipelineStore.download`."""
        return self._lease.call(
            self._async.download, name, columns=columns, filters=filters, result_type=result_type, progress=progress,
            version=version,
        )

    def iter_batches(
        self,
        name: str,
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        batch_rows: int = DEFAULT_BATCH_ROWS,
        result_type: ResultKind = "pandas",
        version: str | None = None,
    ) -> Iterator[Any]:
        """Blocking version of :meth:`AsyncPipelineStore.iter_batches`: a plain iterator (``for batch in ...``)."""
        return self._lease.iterate(
            self._async.iter_batches, name, columns=columns, filters=filters, batch_rows=batch_rows,
            result_type=result_type, version=version,
        )

    def list_artifacts(self, prefix: str = "") -> list[str]:
        """Blocking version of :meth:`AsyncPipelineStore.list_artifacts`."""
        return self._lease.call(self._async.list_artifacts, prefix)

    def iter_artifacts(self, prefix: str = "") -> Iterator[ArtifactEntry]:
        """Blocking version of :meth:`AsyncPipelineStore.iter_artifacts`: a plain iterator, page by page."""
        return self._lease.iterate(self._async.iter_artifacts, prefix)

    def upload_batches(
        self, batches: Iterable[Any], name: str, *, schema: pa.Schema | None = None, overwrite: bool = True,
        progress: ByteProgress | None = None,
    ) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.upload_batches` (a plain iterable, read in a worker thread)."""
        return self._lease.call(
            self._async.upload_batches, batches, name, schema=schema, overwrite=overwrite, progress=progress
        )

    def exists(self, name: str) -> bool:
        """Blocking version of :meth:`AsyncPipelineStore.exists`."""
        return self._lease.call(self._async.exists, name)

    def info(self, name: str, *, version: str | None = None) -> ArtifactInfo:
        """Blocking version of :meth:`AsyncPipelineStore.info`."""
        return self._lease.call(self._async.info, name, version=version)

    def list_versions(self, name: str) -> list[ArtifactVersion]:
        """Blocking version of :meth:`AsyncPipelineStore.list_versions`."""
        return self._lease.call(self._async.list_versions, name)

    def signed_url(
        self, name: str, *, expires: timedelta | int | float = 3600, method: SignedMethod = "GET",
        version: str | None = None,
    ) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.signed_url`."""
        return self._lease.call(self._async.signed_url, name, expires=expires, method=method, version=version)

    def delete(self, name: str, *, missing_ok: bool = False) -> None:
        """Blocking version of :meth:`AsyncPipelineStore.delete`."""
        return self._lease.call(self._async.delete, name, missing_ok=missing_ok)

    def upload_many(
        self,
        frames: Mapping[str, UploadData] | Iterable[tuple[str, UploadData]],
        *,
        overwrite: bool = True,
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[str]:
        """Blocking version of :meth:`AsyncPipelineStore.upload_many`."""
        return self._lease.call(
            self._async.upload_many, frames, overwrite=overwrite, concurrency=concurrency, progress=progress
        )

    def download_many(
        self,
        names: Iterable[str],
        *,
        columns: Sequence[str] | None = None,
        filters: Filters | None = None,
        result_type: ResultKind = "pandas",
        concurrency: int | None = None,
        progress: ProgressCallback | None = None,
    ) -> BulkResult[Any]:
        """Blocking version of :meth:`AsyncPipelineStore.download_many`."""
        return self._lease.call(
            self._async.download_many, names, columns=columns, filters=filters, result_type=result_type,
            concurrency=concurrency, progress=progress,
        )

    def copy(self, src: str, dst: str, *, to: PipelineStoreFacade | None = None, overwrite: bool = True,
             progress: ByteProgress | None = None, verify: bool = False) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.copy` (``to``: another blocking store)."""
        return self._lease.call(self._async.copy, src, dst, to=_inner(to), overwrite=overwrite, progress=progress,
                                verify=verify)

    def move(self, src: str, dst: str, *, to: PipelineStoreFacade | None = None, overwrite: bool = True,
             progress: ByteProgress | None = None) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.move`."""
        return self._lease.call(self._async.move, src, dst, to=_inner(to), overwrite=overwrite, progress=progress)

    def rename(self, src: str, dst: str, *, overwrite: bool = True, progress: ByteProgress | None = None) -> str:
        """Blocking version of :meth:`AsyncPipelineStore.rename`."""
        return self._lease.call(self._async.rename, src, dst, overwrite=overwrite, progress=progress)

    def copy_prefix(self, src_prefix: str, dst_prefix: str, *, to: PipelineStoreFacade | None = None,
                    overwrite: bool = True, concurrency: int | None = None,
                    progress: ProgressCallback | None = None, verify: bool = False) -> BulkResult[str]:
        """Blocking version of :meth:`AsyncPipelineStore.copy_prefix`."""
        return self._lease.call(self._async.copy_prefix, src_prefix, dst_prefix, to=_inner(to), overwrite=overwrite,
                                concurrency=concurrency, progress=progress, verify=verify)

    def move_prefix(self, src_prefix: str, dst_prefix: str, *, to: PipelineStoreFacade | None = None,
                    overwrite: bool = True, concurrency: int | None = None,
                    progress: ProgressCallback | None = None) -> BulkResult[str]:
        """Blocking version of :meth:`AsyncPipelineStore.move_prefix`."""
        return self._lease.call(self._async.move_prefix, src_prefix, dst_prefix, to=_inner(to), overwrite=overwrite,
                                concurrency=concurrency, progress=progress)

    def copy_many(self, pairs: Mapping[str, str] | Iterable[tuple[str, str]], *,
                  to: PipelineStoreFacade | None = None, overwrite: bool = True, concurrency: int | None = None,
                  progress: ProgressCallback | None = None, verify: bool = False) -> BulkResult[str]:
        """Blocking version of :meth:`AsyncPipelineStore.copy_many`."""
        return self._lease.call(self._async.copy_many, pairs, to=_inner(to), overwrite=overwrite,
                                concurrency=concurrency, progress=progress, verify=verify)

    def move_many(self, pairs: Mapping[str, str] | Iterable[tuple[str, str]], *,
                  to: PipelineStoreFacade | None = None, overwrite: bool = True, concurrency: int | None = None,
                  progress: ProgressCallback | None = None) -> BulkResult[str]:
        """Blocking version of :meth:`AsyncPipelineStore.move_many`."""
        return self._lease.call(self._async.move_many, pairs, to=_inner(to), overwrite=overwrite,
                                concurrency=concurrency, progress=progress)

    def __repr__(self) -> str:
        return repr(self._async).replace("Async", "", 1)


def _inner(store: object) -> Any:
    """The async store behind a blocking one (the copy checks anything else)."""
    return store._async if isinstance(store, PipelineStoreFacade) else store


class S3PipelineStore(PipelineStoreFacade):
    """Blocking version of :class:`AsyncS3PipelineStore` (same arguments, same positional order)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        region: str = "us-east-1",
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        addressing_style: Literal["path", "virtual", "auto"] | None = None,
        server_side_encryption: ServerSideEncryption | None = None,
        sse_kms_key_id: str | None = None,
        compression: str = "snappy",
        transfer: TransferConfig | None = None,
        retry: RetryConfig | None = None,
        requester_pays: bool = False,
        session: Any = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        credential_provider: CredentialProvider | None = None,
    ) -> None:
        self._start(
            AsyncS3PipelineStore(
                bucket, prefix, format, region, profile, endpoint_url=endpoint_url,
                addressing_style=addressing_style, server_side_encryption=server_side_encryption,
                sse_kms_key_id=sse_kms_key_id, compression=compression, transfer=transfer, retry=retry,
                requester_pays=requester_pays, session=session, aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key, aws_session_token=aws_session_token,
                credential_provider=credential_provider,
            )
        )

    @property
    def bucket(self) -> str:
        return self._async.bucket  # type: ignore[attr-defined,no-any-return]

    def list_incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        """Blocking version of :meth:`AsyncS3PipelineStore.list_incomplete_uploads`."""
        return self._lease.call(self._s3.list_incomplete_uploads, prefix)

    def abort_incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        """Blocking version of :meth:`AsyncS3PipelineStore.abort_incomplete_uploads`."""
        return self._lease.call(self._s3.abort_incomplete_uploads, prefix)

    @property
    def _s3(self) -> AsyncS3PipelineStore:
        return self._async  # type: ignore[return-value]


class GCSPipelineStore(PipelineStoreFacade):
    """Blocking version of :class:`AsyncGCSPipelineStore` (same arguments, same positional order)."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        credentials_path: str | os.PathLike[str] | None = None,
        *,
        emulator_host: str | None = None,
        endpoint_url: str | None = None,
        kms_key_name: str | None = None,
        upload_mode: UploadMode = "resumable",
        chunk_size: int | None = None,
        compression: str = "snappy",
        transfer: TransferConfig | None = None,
        retry: RetryConfig | None = None,
        user_project: str | None = None,
        token: Any = None,
        service_account_info: Mapping[str, Any] | None = None,
    ) -> None:
        self._start(
            AsyncGCSPipelineStore(
                bucket, prefix, format, credentials_path, emulator_host=emulator_host,
                endpoint_url=endpoint_url, kms_key_name=kms_key_name, upload_mode=upload_mode, chunk_size=chunk_size,
                compression=compression, transfer=transfer, retry=retry, user_project=user_project, token=token,
                service_account_info=service_account_info,
            )
        )

    @property
    def bucket(self) -> str:
        return self._async.bucket  # type: ignore[attr-defined,no-any-return]


class LocalPipelineStore(PipelineStoreFacade):
    """Blocking version of :class:`AsyncLocalPipelineStore` (same arguments)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        prefix: str = "",
        format: StorageFormat | str = StorageFormat.PARQUET,
        **options: Any,
    ) -> None:
        self._start(AsyncLocalPipelineStore(root, prefix, format, **options))
