"""The public S3 store: its options checked, its backend built."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from ..._aws import aws_auth
from ..._exceptions import ConfigurationError
from ..._retry import retry
from ..buckets import check_s3_bucket
from ..codecs import StorageFormat
from ..core import AsyncPipelineStore
from ..names import list_prefix
from .backend import S3Backend, ServerSideEncryption

if TYPE_CHECKING:
    from ..._aws import CredentialProvider
    from ..._config import RetryConfig, TransferConfig

__all__ = ["AsyncS3PipelineStore", "IncompleteUpload", "ServerSideEncryption"]


@dataclass(frozen=True)
class IncompleteUpload:
    """A multipart upload that was started and never completed nor aborted (its parts still cost
    storage). clinops_async aborts its own on failure and cancellation; one is left only when the
    abort itself could not reach S3, and the error of that upload names it.

    Attributes:
        uri: The URI of the object the upload was writing.
        upload_id: S3's id of the upload.
        initiated: When it was started, when S3 reports it.
    """

    uri: str
    upload_id: str
    initiated: datetime | None


class AsyncS3PipelineStore(AsyncPipelineStore):
    """DataFrame artifacts in an S3 bucket, on aiobotocore.

    One long-lived client per store, opened on first use (or by ``async with``) and closed by
    ``aclose()``. A store is bound to the event loop it is first used on.

    Args:
        bucket: The bucket name, checked against S3's naming rules for general purpose buckets.
        prefix: Key prefix for every artifact (trailing ``/`` stripped), e.g. ``"clinops/prod"``.
        format: ``StorageFormat.PARQUET`` (default) or ``StorageFormat.CSV``.
        region: AWS region of the bucket.
        profile: A named AWS profile; None for the default credential chain (or the credentials below).
        endpoint_url: A custom endpoint (MinIO, a local server). Default: ``AWS_ENDPOINT_URL_S3`` or
            ``AWS_ENDPOINT_URL`` from the environment, else AWS. A custom endpoint uses path-style
            addressing unless ``addressing_style`` says otherwise.
        addressing_style: ``"path"``, ``"virtual"`` or ``"auto"``.
        server_side_encryption: ``"AES256"`` (SSE-S3), ``"aws:kms"`` (SSE-KMS) or ``"aws:kms:dsse"``.
        sse_kms_key_id: The KMS key for SSE-KMS (id, alias or ARN); implies ``"aws:kms"``.
        compression: Parquet compression codec (``"snappy"``, ``"zstd"``, ..., ``"none"``).
        transfer: Part sizes, thresholds and concurrency (:class:`TransferConfig`).
        retry: Retry attempts and backoff (:class:`RetryConfig`).
        requester_pays: Send ``RequestPayer=requester`` with every request (and signed URL): this
            account pays for requests and transfer from a requester-pays bucket.
        session: An ``aiobotocore.session.AioSession`` of your own to make the client with (its
            credentials, config files and event hooks).
        aws_access_key_id: Explicit credentials (from a secrets manager, say), with
            ``aws_secret_access_key`` and, for temporary ones, ``aws_session_token``.
        aws_secret_access_key: See ``aws_access_key_id``.
        aws_session_token: See ``aws_access_key_id``.
        credential_provider: An async callable returning ``{"access_key", "secret_key", "token",
            "expiry_time"}`` (botocore's refreshable-credentials form), called again before the expiry.
            Only one of ``profile``, ``session``, the keys and ``credential_provider`` may be given;
            none of them ever appears in a repr, a log line or an error.

    Raises:
        ConfigurationError: An invalid argument (no I/O is done by the constructor).
    """

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
        super().__init__(prefix, format, compression=compression, transfer=transfer, retry=retry)
        check_s3_bucket(bucket)
        if not isinstance(region, str) or not region:
            raise ConfigurationError("region must be a non-empty string such as 'us-east-1'")
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise ConfigurationError("profile must be a profile name or None")
        if endpoint_url is not None and (
            not isinstance(endpoint_url, str) or not endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError("endpoint_url must start with http:// or https://")
        if addressing_style not in (None, "path", "virtual", "auto"):
            raise ConfigurationError("addressing_style must be 'path', 'virtual' or 'auto'")
        if sse_kms_key_id is not None and server_side_encryption is None:
            server_side_encryption = "aws:kms"
        if server_side_encryption not in (None, "AES256", "aws:kms", "aws:kms:dsse"):
            raise ConfigurationError("server_side_encryption must be 'AES256', 'aws:kms' or 'aws:kms:dsse'")
        if sse_kms_key_id is not None and server_side_encryption == "AES256":
            raise ConfigurationError("sse_kms_key_id needs server_side_encryption='aws:kms'")
        if not isinstance(requester_pays, bool):
            raise ConfigurationError("requester_pays must be True or False")
        self.bucket = bucket
        self.region = region
        self.profile = profile
        self._backend = S3Backend(
            bucket,
            region=region,
            profile=profile,
            endpoint_url=endpoint_url,
            addressing_style=addressing_style,
            sse=server_side_encryption,
            sse_kms_key_id=sse_kms_key_id,
            transfer=self.transfer,
            requester_pays=requester_pays,
            auth=aws_auth(profile=profile, session=session, provider=credential_provider,
                          access_key_id=aws_access_key_id, secret_access_key=aws_secret_access_key,
                          session_token=aws_session_token),
        )

    async def list_incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        """The multipart uploads under the store prefix and ``prefix`` (a plain string prefix of the
        keys, as for ``list_artifacts``) that were never completed nor aborted.

        Raises:
            ConfigurationError: Invalid prefix (before any I/O).
        """
        key_prefix = list_prefix(self.prefix, prefix)
        backend = await self._ready()
        assert isinstance(backend, S3Backend)
        found = await retry(
            self.retry_config, lambda: backend.incomplete_uploads(key_prefix),
            what=f"listing of the incomplete uploads under {backend.uri(key_prefix)}",
        )
        return [IncompleteUpload(backend.uri(key), upload_id, started) for key, upload_id, started in found]

    async def abort_incomplete_uploads(self, prefix: str = "") -> list[IncompleteUpload]:
        """Abort every upload ``list_incomplete_uploads(prefix)`` lists, and return them.

        Raises:
            ConfigurationError: Invalid prefix (before any I/O).
        """
        uploads = await self.list_incomplete_uploads(prefix)
        backend = self._backend
        assert isinstance(backend, S3Backend)
        for upload in uploads:
            key = upload.uri.removeprefix(backend.uri(""))
            await retry(
                self.retry_config, lambda: backend.abort_upload(key, upload.upload_id),  # noqa: B023 - awaited at once
                what=f"abort of {upload.uri}",
            )
        return uploads

    def __repr__(self) -> str:
        return f"AsyncS3PipelineStore(bucket={self.bucket!r}, prefix={self.prefix!r}, format={self.format.value!r})"
