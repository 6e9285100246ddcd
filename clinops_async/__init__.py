"""clinops_async: async-first transfer of clinical pipeline artifacts and Step Functions pipelines."""

from __future__ import annotations

from ._codecs import StorageFormat
from ._config import RetryConfig, TransferConfig
from ._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ClinopsError,
    ConfigurationError,
    ExecutionFailedError,
    ExecutionTimeoutError,
    IntegrityError,
    PipelineError,
    SerializationError,
    StoreError,
    TransientStoreError,
)
from ._s3 import AsyncS3PipelineStore
from ._store import ArtifactInfo, BulkResult, TransferOutcome
from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "ArtifactExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "AsyncS3PipelineStore",
    "BucketNotFoundError",
    "BulkResult",
    "ClinopsError",
    "ConfigurationError",
    "ExecutionFailedError",
    "ExecutionTimeoutError",
    "IntegrityError",
    "PipelineError",
    "RetryConfig",
    "SerializationError",
    "StorageFormat",
    "StoreError",
    "TransferConfig",
    "TransferOutcome",
    "TransientStoreError",
    "__version__",
]
