"""Step Functions errors, and their translation from botocore at the boundary.

::

    PipelineError
    ├── PipelineNotDeployedError (LookupError)    the state machine does not exist: call deploy() first
    ├── ExecutionNotFoundError (LookupError)      no such execution
    ├── PipelineAccessDeniedError (PermissionError)
    ├── ExecutionFailedError                      .execution_arn .status .error .cause
    └── ExecutionTimeoutError (TimeoutError)      wait() gave up; the execution goes on
    ConfigurationError (ValueError)               a bad argument (before any I/O) or one AWS rejected

AWS's own message is kept where it helps (an invalid definition says what is wrong) and dropped where
it could echo request details (signature and credential errors).
"""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, TypeVar

from .._aws import credentials_error
from .._exceptions import (
    ConfigurationError,
    ExecutionNotFoundError,
    PipelineAccessDeniedError,
    PipelineError,
    PipelineNotDeployedError,
)

if TYPE_CHECKING:
    from collections.abc import Awaitable

__all__ = [
    "ExecutionNotFoundError",
    "PipelineAccessDeniedError",
    "PipelineNotDeployedError",
    "arn_in_message",
    "call",
    "error_code",
    "translate",
]

_INVALID_CODES = {
    "InvalidArn", "InvalidName", "InvalidDefinition", "InvalidExecutionInput", "ValidationException",
    "MissingRequiredParameter", "InvalidLoggingConfiguration", "InvalidTracingConfiguration",
    "InvalidEncryptionConfiguration", "StateMachineTypeNotSupported", "InvalidToken",
}
_DENIED_CODES = {
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "SignatureDoesNotMatch", "ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId",
    "KmsAccessDeniedException", "MissingAuthenticationToken",
}
_QUOTA_CODES = {"ExecutionLimitExceeded", "StateMachineLimitExceeded", "ServiceQuotaExceededException"}
T = TypeVar("T")
_ARN_IN_MESSAGE = re.compile(r"arn:[A-Za-z0-9-]+:states:[^'\"\s]+")


async def call(request: Awaitable[T], what: str) -> T:
    """Await one client request, with any failure translated (``what`` says what was being done)."""
    try:
        return await request
    except Exception as exc:
        raise translate(exc, what) from exc


def arn_in_message(exc: BaseException) -> str | None:
    """The Step Functions ARN an error message names (AWS names the one that already exists)."""
    found = _ARN_IN_MESSAGE.search(str(exc))
    return found.group().rstrip("'\".") if found else None


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def translate(exc: BaseException, what: str) -> BaseException:
    """Map a botocore/aiohttp exception raised while doing ``what`` to a clinops_async error."""
    from botocore import exceptions as bex

    if isinstance(exc, PipelineError | ConfigurationError):
        return exc
    if isinstance(exc, bex.ClientError):
        code = error_code(exc)
        message = str(exc.response.get("Error", {}).get("Message", ""))[:500]
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "StateMachineDoesNotExist":
            return PipelineNotDeployedError(f"{what}: the state machine does not exist; call deploy() first")
        if code == "ExecutionDoesNotExist":
            return ExecutionNotFoundError(f"{what}: no such execution")
        if code in _DENIED_CODES or status == 403:
            # The AWS message is left out: for signature errors it echoes the signed request.
            return PipelineAccessDeniedError(
                f"{what}: access denied ({code or status}); check the credentials, the region and the "
                "IAM policy (states:* actions, iam:PassRole on the role)"
            )
        if code in _INVALID_CODES:
            return ConfigurationError(f"{what}: Step Functions rejected the request ({code}): {message}")
        if code in _QUOTA_CODES:
            return PipelineError(f"{what}: a Step Functions quota is exhausted ({code}): {message}")
        if status >= 500 or status == 429 or "Throttl" in code:
            return PipelineError(
                f"{what}: Step Functions answered {code or status} through every retry; try again later"
            )
        return PipelineError(f"{what}: Step Functions refused the request ({code or status}): {message}")
    credentials = credentials_error(exc)
    if credentials is not None:
        return credentials
    if isinstance(exc, bex.BotoCoreError | ConnectionError | asyncio.TimeoutError):
        return PipelineError(f"{what}: could not reach Step Functions ({type(exc).__name__})")
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return exc
    if isinstance(exc, aiohttp.ClientError):
        return PipelineError(f"{what}: could not reach Step Functions ({type(exc).__name__})")
    return exc
