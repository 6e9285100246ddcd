"""clinops_async: async-first transfer of clinical pipeline artifacts and Step Functions pipelines."""

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
from ._local import AsyncLocalPipelineStore
from ._open import open_store
from ._s3 import AsyncS3PipelineStore
from ._store import ArtifactInfo, AsyncPipelineStore, BulkResult, TransferOutcome
from ._sync import LocalPipelineStore, S3PipelineStore
from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "ArtifactExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "AsyncLocalPipelineStore",
    "AsyncPipelineStore",
    "AsyncS3PipelineStore",
    "BucketNotFoundError",
    "BulkResult",
    "ClinopsError",
    "ConfigurationError",
    "ExecutionFailedError",
    "ExecutionTimeoutError",
    "IntegrityError",
    "LocalPipelineStore",
    "PipelineError",
    "RetryConfig",
    "S3PipelineStore",
    "SerializationError",
    "StorageFormat",
    "StoreError",
    "TransferConfig",
    "TransferOutcome",
    "TransientStoreError",
    "__version__",
    "open_store",
]
