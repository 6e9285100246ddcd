"""clinops_async: async-first transfer of clinical pipeline artifacts and Step Functions pipelines."""

import logging as _logging

from ._config import RetryConfig, TransferConfig
from ._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ClinopsError,
    ConfigurationError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    ExecutionTimeoutError,
    IntegrityError,
    NameConflictError,
    PipelineAccessDeniedError,
    PipelineError,
    PipelineNotDeployedError,
    SerializationError,
    StoreError,
    TransientStoreError,
)
from ._pipelines.pipeline import AsyncStepFunctionsPipeline
from ._pipelines.results import ExecutionResult, ExecutionSummary, PollConfig
from ._pipelines.steps import (
    LAMBDA_SERVICE_ERRORS,
    FailStep,
    MapStep,
    ParallelStep,
    PassStep,
    PipelineStep,
    S3Prefix,
    WaitStep,
)
from ._pipelines.sync import StepFunctionsPipeline
from ._redaction import install_log_redaction as _install_log_redaction
from ._stores.bulk import BulkResult, TransferOutcome
from ._stores.codecs import StorageFormat
from ._stores.core import ArtifactInfo, AsyncPipelineStore
from ._stores.gcs.backend import AsyncGCSPipelineStore
from ._stores.local import AsyncLocalPipelineStore
from ._stores.open import open_store
from ._stores.s3 import AsyncS3PipelineStore, IncompleteUpload
from ._stores.sync import GCSPipelineStore, LocalPipelineStore, S3PipelineStore
from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "ArtifactExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "AsyncGCSPipelineStore",
    "AsyncLocalPipelineStore",
    "AsyncPipelineStore",
    "AsyncS3PipelineStore",
    "AsyncStepFunctionsPipeline",
    "BucketNotFoundError",
    "BulkResult",
    "ClinopsError",
    "ConfigurationError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionResult",
    "ExecutionSummary",
    "ExecutionTimeoutError",
    "FailStep",
    "GCSPipelineStore",
    "IncompleteUpload",
    "IntegrityError",
    "LAMBDA_SERVICE_ERRORS",
    "LocalPipelineStore",
    "MapStep",
    "NameConflictError",
    "ParallelStep",
    "PassStep",
    "PipelineAccessDeniedError",
    "PipelineError",
    "PipelineNotDeployedError",
    "PipelineStep",
    "PollConfig",
    "RetryConfig",
    "S3PipelineStore",
    "S3Prefix",
    "SerializationError",
    "StepFunctionsPipeline",
    "StorageFormat",
    "StoreError",
    "TransferConfig",
    "TransferOutcome",
    "TransientStoreError",
    "WaitStep",
    "__version__",
    "open_store",
]

# Silent unless the application configures logging (no "last resort" output to stderr).
_logging.getLogger("clinops_async").addHandler(_logging.NullHandler())
# No credential in what our clients' libraries log, even at DEBUG (docs/errors.md, "Logging").
_install_log_redaction()
