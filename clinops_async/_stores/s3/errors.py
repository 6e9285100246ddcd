"""botocore's errors as the clinops_async tree: what each S3 error code means for the caller."""

from __future__ import annotations

import asyncio

from ..._aws import credentials_error
from ..._exceptions import (
    AccessDeniedError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ConfigurationError,
    IntegrityError,
    StoreError,
    TransientStoreError,
)
from ..backend import ObjectChangedError

__all__ = ["error_code", "translate"]


_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "RequestTimeTooSkewed",
    "InternalError", "ServiceUnavailable", "RequestLimitExceeded", "ConditionalRequestConflict",
    "OperationAborted", "TooManyRequestsException",
}


_DENIED_CODES = {
    "AccessDenied", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch",
    "ExpiredToken", "InvalidToken", "AccountProblem",
}


_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}


#: What S3 answers when a body does not match the checksum (CRC32C, Content-MD5) sent with it.
_DIGEST_CODES = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidChecksum"}


def translate(exc: BaseException, uri: str, bucket: str) -> BaseException:
    """Map a botocore/aiohttp exception to the clinops_async error a caller can act on."""
    from botocore import exceptions as bex

    if isinstance(exc, StoreError | ConfigurationError | ObjectChangedError):
        return exc
    if isinstance(exc, bex.ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code == "NoSuchBucket":
            # The answer names the missing bucket: for a copy it may be the source's, not ``bucket``.
            missing = str(err.get("BucketName") or bucket)
            return BucketNotFoundError(f"bucket {missing!r} does not exist (for {uri})", uri=uri)
        if code in _MISSING_CODES or status == 404:
            return ArtifactNotFoundError(f"{uri} does not exist", uri=uri)
        if code in _DENIED_CODES or status == 403:
            return AccessDeniedError(
                f"access denied to {uri} ({code or status}); check the credentials and the bucket policy",
                uri=uri,
            )
        if code in _DIGEST_CODES:
            return IntegrityError(
                f"{uri}: S3 refused the upload because its bytes did not match their checksum ({code}); "
                "they were damaged on the way and nothing was stored. Retry the upload",
                uri=uri,
            )
        if code in _TRANSIENT_CODES or status >= 500 or status == 429:
            return TransientStoreError(f"{uri}: the server answered {code or status}", uri=uri)
        if code == "InvalidRange" or status == 416:
            return StoreError(f"{uri}: the requested range is not satisfiable", uri=uri)
        return StoreError(f"{uri}: S3 refused the request ({code or status})", uri=uri)
    credentials = credentials_error(exc)
    if credentials is not None:
        return credentials
    if isinstance(
        exc,
        bex.ConnectionError | bex.HTTPClientError | bex.ResponseStreamingError | bex.IncompleteReadError
        | ConnectionError | asyncio.TimeoutError,
    ):
        return TransientStoreError(f"{uri}: connection failed ({type(exc).__name__})", uri=uri)
    try:
        import aiohttp
    except ImportError:  # pragma: no cover
        return exc
    if isinstance(exc, aiohttp.ClientError):
        return TransientStoreError(f"{uri}: connection failed ({type(exc).__name__})", uri=uri)
    if isinstance(exc, bex.BotoCoreError):
        return StoreError(f"{uri}: the S3 client failed ({type(exc).__name__})", uri=uri)
    return exc


def error_code(exc: BaseException | None) -> str | None:
    """The S3 error code of a botocore ClientError; None for anything else (a dropped connection's
    botocore error carries ``response = None``)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    error = response.get("Error")
    return str(error.get("Code")) if isinstance(error, dict) and error.get("Code") is not None else None
