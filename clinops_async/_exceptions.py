"""The exception tree of clinops_async.

Every error the library raises on purpose derives from :class:`ClinopsError`. Errors from the
SDKs (botocore, aiohttp, gcloud-aio) are translated at the backend boundary with ``raise ... from
exc``, so callers never need to import an SDK to handle a failure::

    ClinopsError
    ├── ConfigurationError (ValueError)        bad argument, bad name, bad key, bad credentials file
    │   ├── StepInputError                     a step's event names no artifact it can read
    │   └── InvalidDefinitionError             a state machine definition breaks a rule; .state
    ├── StoreError                             .uri
    │   ├── ArtifactNotFoundError (FileNotFoundError)
    │   │   └── VersionNotFoundError           no such version (``version=``) of the artifact
    │   ├── BucketNotFoundError (FileNotFoundError)
    │   ├── ArtifactExistsError (FileExistsError)
    │   ├── ArtifactChangedError               changed since it was read: ``if_match=``, a step's reference
    │   ├── UnsupportedOperationError          this store cannot do it (a local store signing a URL)
    │   ├── NameConflictError                  local store: the name's path is another artifact's
    │   ├── AccessDeniedError (PermissionError)
    │   ├── IntegrityError                     checksum mismatch: the data is not returned
    │   └── TransientStoreError                retries exhausted; .attempts
    ├── SerializationError                     a DataFrame cannot be encoded or decoded
    │   └── SchemaMismatchError                a streamed batch's columns differ from the stream's
    └── PipelineError
        ├── PipelineNotDeployedError (LookupError)    the state machine does not exist: deploy() first
        ├── ExecutionNotFoundError (LookupError)      no such execution
        ├── PipelineAccessDeniedError (PermissionError)
        ├── ExecutionFailedError               .execution_arn .status .error .cause
        └── ExecutionTimeoutError (TimeoutError)

Misuse of an object (use after close, from another event loop, or after ``os.fork()``) is a plain
``RuntimeError``. Messages name the artifact and what to do; they never contain DataFrame values or
credentials.
"""

from __future__ import annotations

__all__ = [
    "AccessDeniedError",
    "ArtifactChangedError",
    "ArtifactExistsError",
    "ArtifactNotFoundError",
    "BucketNotFoundError",
    "ClinopsError",
    "ConfigurationError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionTimeoutError",
    "IntegrityError",
    "InvalidDefinitionError",
    "NameConflictError",
    "PipelineAccessDeniedError",
    "PipelineError",
    "PipelineNotDeployedError",
    "SchemaMismatchError",
    "SerializationError",
    "StepInputError",
    "StoreError",
    "TransientStoreError",
    "UnsupportedOperationError",
    "VersionNotFoundError",
]


class ClinopsError(Exception):
    """Root of every error clinops_async raises on purpose."""


class ConfigurationError(ClinopsError, ValueError):
    """A bad argument: an invalid name, option, ARN or credentials file. Raised before any I/O."""


class StepInputError(ConfigurationError):
    """A pipeline step's event names no artifact in a shape the step handler reads."""


class InvalidDefinitionError(ConfigurationError):
    """A state machine definition breaks a rule of the States Language or a Step Functions limit.

    Raised before anything is sent. ``state`` names the state at fault (None: the whole definition).
    """

    def __init__(self, message: str, *, state: str | None = None) -> None:
        super().__init__(message)
        self.state = state


class StoreError(ClinopsError):
    """A store operation failed.

    Attributes:
        uri: The URI of the artifact (or bucket) the operation was about, when there is one.
    """

    def __init__(self, message: str, *, uri: str | None = None) -> None:
        super().__init__(message)
        self.uri = uri


class ArtifactNotFoundError(StoreError, FileNotFoundError):
    """The artifact does not exist."""


class VersionNotFoundError(ArtifactNotFoundError):
    """The artifact exists, or did, but not in the version asked for (``version=``)."""


class BucketNotFoundError(StoreError, FileNotFoundError):
    """The bucket (or local root directory) does not exist."""


class ArtifactExistsError(StoreError, FileExistsError):
    """``upload(..., overwrite=False)`` found an artifact already stored under that name."""


class ArtifactChangedError(StoreError):
    """The artifact changed since it was read: a write with ``if_match=`` found another ETag or
    generation (or none: deleted), so another writer won and nothing was written; or a step's
    reference names an artifact whose CRC32C is no longer the one stored (it was replaced since).
    Read it again (``info``) and decide."""


class UnsupportedOperationError(StoreError):
    """The store cannot do this at all (a local directory cannot sign a URL nor keep versions).
    Raised before any I/O."""


class NameConflictError(StoreError):
    """The local store cannot hold this name beside an artifact it already holds.

    A file and a directory would need one path: artifact ``x`` is the file ``x.parquet``, so
    ``x.parquet/y`` cannot be stored beside it, nor ``x`` beside ``x.parquet/y``. Object stores have
    no such conflict. Choose another name (or delete the other artifact); ``overwrite`` does not help.
    """


class AccessDeniedError(StoreError, PermissionError):
    """The credentials in use may not perform this operation."""


class IntegrityError(StoreError):
    """The bytes received do not match the checksum recorded for them; no data is returned."""


class TransientStoreError(StoreError):
    """A retryable failure (throttling, 5xx, dropped connection) persisted through every retry.

    Attributes:
        attempts: How many attempts were made before giving up.
    """

    def __init__(self, message: str, *, uri: str | None = None, attempts: int = 1) -> None:
        super().__init__(message, uri=uri)
        self.attempts = attempts


class SerializationError(ClinopsError):
    """A DataFrame cannot be encoded to (or decoded from) the store's format."""


class SchemaMismatchError(SerializationError):
    """A batch of a streamed upload has other columns, or other column types, than the stream's schema
    (given as ``schema=`` or taken from the first batch). Nothing is stored."""


class PipelineError(ClinopsError):
    """A Step Functions pipeline operation failed."""


class PipelineNotDeployedError(PipelineError, LookupError):
    """The state machine does not exist (in this account and region): call ``deploy()`` first."""


class ExecutionNotFoundError(PipelineError, LookupError):
    """No execution has this ARN."""


class PipelineAccessDeniedError(PipelineError, PermissionError):
    """The credentials in use may not perform this Step Functions operation."""


class ExecutionFailedError(PipelineError):
    """An execution ended in a state other than SUCCEEDED.

    Attributes:
        execution_arn: The execution.
        status: ``FAILED``, ``TIMED_OUT`` or ``ABORTED``.
        error: The error name reported by Step Functions, if any.
        cause: The cause reported by Step Functions, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        execution_arn: str,
        status: str,
        error: str | None = None,
        cause: str | None = None,
    ) -> None:
        super().__init__(message)
        self.execution_arn = execution_arn
        self.status = status
        self.error = error
        self.cause = cause


class ExecutionTimeoutError(PipelineError, TimeoutError):
    """``wait()`` gave up before the execution reached a terminal state (the execution goes on).

    Attributes:
        execution_arn: The execution that is still running.
    """

    def __init__(self, message: str, *, execution_arn: str) -> None:
        super().__init__(message)
        self.execution_arn = execution_arn
