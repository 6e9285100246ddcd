"""The public S3 store: its options checked, its backend built."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from ..._exceptions import ConfigurationError
from ..buckets import check_s3_bucket
from ..codecs import StorageFormat
from ..core import AsyncPipelineStore
from .backend import S3Backend, ServerSideEncryption

if TYPE_CHECKING:
    from ..._config import RetryConfig, TransferConfig

__all__ = ["AsyncS3PipelineStore", "ServerSideEncryption"]


class AsyncS3PipelineStore(AsyncPipelineStore):
    """DataFrame artifacts in an S3 bucket, on aiobotocore.

    One long-lived client per store, opened on first use (or by ``async with``) and closed by
    ``aclose()``. A store is bound to the event loop it is first used on.

    Args:
        bucket: The bucket name, checked against S3's naming rules for general purpose buckets.
        prefix: Key prefix for every artifact (trailing ``/`` stripped), e.g. ``"clinops/prod"``.
        format: ``StorageFormat.PARQUET`` (default) or ``StorageFormat.CSV``.
        region: AWS region of the bucket.
        profile: A named AWS profile; None for the default credential chain.
        endpoint_url: A custom endpoint (MinIO, a local server). Default: ``AWS_ENDPOINT_URL_S3`` or
            ``AWS_ENDPOINT_URL`` from the environment, else AWS. A custom endpoint uses path-style
            addressing unless ``addressing_style`` says otherwise.
        addressing_style: ``"path"``, ``"virtual"`` or ``"auto"``.
        server_side_encryption: ``"AES256"`` (SSE-S3), ``"aws:kms"`` (SSE-KMS) or ``"aws:kms:dsse"``.
        sse_kms_key_id: The KMS key for SSE-KMS (id, alias or ARN); implies ``"aws:kms"``.
        compression: Parquet compression codec (``"snappy"``, ``"zstd"``, ..., ``"none"``).
        transfer: Part sizes, thresholds and concurrency (:class:`TransferConfig`).
        retry: Retry attempts and backoff (:class:`RetryConfig`).

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
        )

    def __repr__(self) -> str:
        return f"AsyncS3PipelineStore(bucket={self.bucket!r}, prefix={self.prefix!r}, format={self.format.value!r})"
