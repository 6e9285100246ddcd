"""clinops_async: async-first transfer of clinical pipeline artifacts and Step Functions pipelines."""

import importlib as _importlib
import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

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
    SchemaMismatchError,
    SerializationError,
    StoreError,
    TransientStoreError,
)
from ._redaction import install_log_redaction as _install_log_redaction

if _TYPE_CHECKING:
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
    from ._stores.bulk import BulkResult, TransferOutcome
    from ._stores.codecs import StorageFormat
    from ._stores.core import ArtifactInfo, AsyncPipelineStore
    from ._stores.gcs.backend import AsyncGCSPipelineStore
    from ._stores.listing import ArtifactEntry
    from ._stores.local import AsyncLocalPipelineStore
    from ._stores.open import open_store
    from ._stores.s3 import AsyncS3PipelineStore, IncompleteUpload
    from ._stores.sync import GCSPipelineStore, LocalPipelineStore, S3PipelineStore

from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "ArtifactEntry",
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
    "SchemaMismatchError",
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

#: Where each name of the API lives. They load on first use (PEP 562), so `import clinops_async`
#: and the command line start without pandas, pyarrow or the cloud SDKs.
_LAZY = {
    "ArtifactEntry": "._stores.listing",
    "ArtifactInfo": "._stores.core",
    "AsyncGCSPipelineStore": "._stores.gcs.backend",
    "AsyncLocalPipelineStore": "._stores.local",
    "AsyncPipelineStore": "._stores.core",
    "AsyncS3PipelineStore": "._stores.s3",
    "AsyncStepFunctionsPipeline": "._pipelines.pipeline",
    "BulkResult": "._stores.bulk",
    "ExecutionResult": "._pipelines.results",
    "ExecutionSummary": "._pipelines.results",
    "FailStep": "._pipelines.steps",
    "GCSPipelineStore": "._stores.sync",
    "IncompleteUpload": "._stores.s3",
    "LAMBDA_SERVICE_ERRORS": "._pipelines.steps",
    "LocalPipelineStore": "._stores.sync",
    "MapStep": "._pipelines.steps",
    "ParallelStep": "._pipelines.steps",
    "PassStep": "._pipelines.steps",
    "PipelineStep": "._pipelines.steps",
    "PollConfig": "._pipelines.results",
    "S3PipelineStore": "._stores.sync",
    "S3Prefix": "._pipelines.steps",
    "StepFunctionsPipeline": "._pipelines.sync",
    "StorageFormat": "._stores.codecs",
    "TransferOutcome": "._stores.bulk",
    "WaitStep": "._pipelines.steps",
    "open_store": "._stores.open",
}

# Silent unless the application configures logging (no "last resort" output to stderr).
_logging.getLogger("clinops_async").addHandler(_logging.NullHandler())
# No credential in what our clients' libraries log, even at DEBUG (docs/errors.md, "Logging").
_install_log_redaction()


def __getattr__(name: str) -> _Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'clinops_async' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
