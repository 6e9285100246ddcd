"""clinops_async: async-first transfer of clinical pipeline artifacts and Step Functions pipelines."""

import importlib as _importlib
import logging as _logging
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from ._config import RetryConfig, TransferConfig
from ._exceptions import (
    AccessDeniedError,
    ArtifactChangedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ClinopsError,
    ConfigurationError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    ExecutionTimeoutError,
    IntegrityError,
    InvalidDefinitionError,
    NameConflictError,
    PipelineAccessDeniedError,
    PipelineError,
    PipelineNotDeployedError,
    SchemaMismatchError,
    SerializationError,
    StepInputError,
    StoreError,
    TransientStoreError,
    UnsupportedOperationError,
    VersionNotFoundError,
)
from ._redaction import install_log_redaction as _install_log_redaction

if _TYPE_CHECKING:
    from ._pipelines.pipeline import AsyncStepFunctionsPipeline
    from ._pipelines.releases import LoggingConfig
    from ._pipelines.results import ExecutionResult, ExecutionSummary, PollConfig
    from ._pipelines.states import (
        Catcher,
        Choice,
        Condition,
        DistributedMap,
        Fail,
        ItemBatcher,
        ItemReader,
        Jsonata,
        Map,
        Parallel,
        Pass,
        Processor,
        ProcessorConfig,
        ReaderConfig,
        ResultWriter,
        Retrier,
        Scope,
        StateMachine,
        Succeed,
        Task,
        Var,
        Wait,
        WriterConfig,
    )
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
    from ._stores.versions import ArtifactVersion

from ._version import __version__

__all__ = [
    "AccessDeniedError",
    "ArtifactChangedError",
    "ArtifactEntry",
    "ArtifactExistsError",
    "ArtifactInfo",
    "ArtifactNotFoundError",
    "ArtifactVersion",
    "AsyncGCSPipelineStore",
    "AsyncLocalPipelineStore",
    "AsyncPipelineStore",
    "AsyncS3PipelineStore",
    "AsyncStepFunctionsPipeline",
    "BucketNotFoundError",
    "BulkResult",
    "Catcher",
    "Choice",
    "ClinopsError",
    "Condition",
    "ConfigurationError",
    "DistributedMap",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionResult",
    "ExecutionSummary",
    "ExecutionTimeoutError",
    "Fail",
    "FailStep",
    "GCSPipelineStore",
    "IncompleteUpload",
    "IntegrityError",
    "InvalidDefinitionError",
    "ItemBatcher",
    "ItemReader",
    "Jsonata",
    "LAMBDA_SERVICE_ERRORS",
    "LocalPipelineStore",
    "LoggingConfig",
    "Map",
    "MapStep",
    "NameConflictError",
    "Parallel",
    "ParallelStep",
    "Pass",
    "PassStep",
    "PipelineAccessDeniedError",
    "PipelineError",
    "PipelineNotDeployedError",
    "PipelineStep",
    "PollConfig",
    "Processor",
    "ProcessorConfig",
    "ReaderConfig",
    "ResultWriter",
    "Retrier",
    "RetryConfig",
    "S3PipelineStore",
    "S3Prefix",
    "SchemaMismatchError",
    "Scope",
    "SerializationError",
    "StateMachine",
    "StepFunctionsPipeline",
    "StepInputError",
    "StorageFormat",
    "StoreError",
    "Succeed",
    "Task",
    "TransferConfig",
    "TransferOutcome",
    "TransientStoreError",
    "UnsupportedOperationError",
    "Var",
    "VersionNotFoundError",
    "Wait",
    "WaitStep",
    "WriterConfig",
    "__version__",
    "open_store",
]

#: Where each name of the API lives. They load on first use (PEP 562), so `import clinops_async`
#: and the command line start without pandas, pyarrow or the cloud SDKs.
_LAZY = {
    "ArtifactEntry": "._stores.listing",
    "ArtifactInfo": "._stores.core",
    "ArtifactVersion": "._stores.versions",
    "AsyncGCSPipelineStore": "._stores.gcs.backend",
    "AsyncLocalPipelineStore": "._stores.local",
    "AsyncPipelineStore": "._stores.core",
    "AsyncS3PipelineStore": "._stores.s3",
    "AsyncStepFunctionsPipeline": "._pipelines.pipeline",
    "BulkResult": "._stores.bulk",
    "Catcher": "._pipelines.states",
    "Choice": "._pipelines.states",
    "Condition": "._pipelines.states",
    "DistributedMap": "._pipelines.states",
    "ExecutionResult": "._pipelines.results",
    "ExecutionSummary": "._pipelines.results",
    "Fail": "._pipelines.states",
    "FailStep": "._pipelines.steps",
    "GCSPipelineStore": "._stores.sync",
    "IncompleteUpload": "._stores.s3",
    "ItemBatcher": "._pipelines.states",
    "ItemReader": "._pipelines.states",
    "Jsonata": "._pipelines.states",
    "LAMBDA_SERVICE_ERRORS": "._pipelines.steps",
    "LocalPipelineStore": "._stores.sync",
    "LoggingConfig": "._pipelines.releases",
    "Map": "._pipelines.states",
    "MapStep": "._pipelines.steps",
    "Parallel": "._pipelines.states",
    "ParallelStep": "._pipelines.steps",
    "Pass": "._pipelines.states",
    "PassStep": "._pipelines.steps",
    "PipelineStep": "._pipelines.steps",
    "PollConfig": "._pipelines.results",
    "Processor": "._pipelines.states",
    "ProcessorConfig": "._pipelines.states",
    "ReaderConfig": "._pipelines.states",
    "ResultWriter": "._pipelines.states",
    "Retrier": "._pipelines.states",
    "S3PipelineStore": "._stores.sync",
    "S3Prefix": "._pipelines.steps",
    "Scope": "._pipelines.states",
    "StateMachine": "._pipelines.states",
    "StepFunctionsPipeline": "._pipelines.sync",
    "StorageFormat": "._stores.codecs",
    "Succeed": "._pipelines.states",
    "Task": "._pipelines.states",
    "TransferOutcome": "._stores.bulk",
    "Var": "._pipelines.states",
    "Wait": "._pipelines.states",
    "WaitStep": "._pipelines.steps",
    "WriterConfig": "._pipelines.states",
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
