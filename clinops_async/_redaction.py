"""Secrets out of log records: what our clients' libraries log at DEBUG is redacted as it is made.

With the root logger at DEBUG, botocore logs every request's headers (``Authorization``, with its
signature, and ``X-Amz-Security-Token``), the canonical request and the signature it computed;
urllib3 and aiohttp log URLs, which may carry a password or a presigned query; gcloud-aio logs token
requests. Turning DEBUG on to chase a problem must not write a credential to a log file, so every
record from these loggers (and their children) passes through :func:`redact` when it is created:

    botocore  aiobotocore  boto3  s3transfer  urllib3  aiohttp  gcloud.aio  google.auth  clinops_async

A ``logging.Filter`` attached to a logger does not see its children's records, and the libraries
create their loggers lazily, on import; so the redaction wraps the log record factory instead, which
sees every record, and touches only those of the loggers above. It is on by default (installed when
the package is imported, and again whenever a client is opened); set the environment variable
``CLINOPS_LOG_REDACTION=0`` before that to leave records as the libraries make them.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import traceback
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["REDACTED_LOGGERS", "RedactingFilter", "install_log_redaction", "redact", "register_secret"]

#: The loggers (with every child) whose records are redacted.
REDACTED_LOGGERS = ("botocore", "aiobotocore", "boto3", "s3transfer", "urllib3", "aiohttp", "gcloud.aio",
                    "google.auth", "clinops_async")

MASK = "****"

#: Environment variables whose values are credentials: replaced wherever they appear.
_SECRET_VARIABLES = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")

_NAMED_SECRET = (r"authorization|x-amz-security-token|x-goog-api-key|access_token|refresh_token|id_token"
                 r"|client_secret|private_key|password|passwd|secret_?access_?key|session_?token|security_?token")

# Each pattern keeps its group 1 (the name of the secret) and masks what follows it.
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # PEM blocks first: a private key has spaces and newlines, which end the patterns below.
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.S), MASK),
    # 'Authorization': b'AWS4-HMAC-SHA256 Credential=..., Signature=...', "password": "...", token=...
    (re.compile(rf"(?i)((?:{_NAMED_SECRET})['\"]?\s*[:=]\s*(?:b(?=['\"]))?['\"]?)[^'\"\r\n&]+"), rf"\1{MASK}"),
    # <SecretAccessKey>...</SecretAccessKey> and <SessionToken> in STS answers.
    (re.compile(r"(?i)(<(SecretAccessKey|SessionToken|Token)>)[^<]*"), rf"\1{MASK}"),
    # Presigned and signed query strings, and Signature=... inside any header.
    (re.compile(r"(?i)((?:X-Amz-)?(?:Signature|Credential|Security-Token)|AWSAccessKeyId|GoogleAccessId)=[^&\s'\",]+"),
     rf"\1={MASK}"),
    # botocore.auth's "Signature:\n<hex>" and the StringToSign it logs before it.
    (re.compile(r"(?i)(signature:\s*)[0-9a-f]{16,}"), rf"\1{MASK}"),
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), rf"\1{MASK}"),
    # scheme://user:password@host
    (re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@'\"]+@"), rf"\1{MASK}@"),
)


#: Secrets handed to a store or pipeline in code (explicit keys, a provider's answers): masked
#: wherever they appear, as the secret environment values are.
_HANDED_IN: set[str] = set()


def register_secret(value: str | None) -> None:
    """Mask ``value`` in every redacted record from now on (a credential handed in, not from the environment)."""
    if isinstance(value, str) and len(value) >= 4:
        _HANDED_IN.add(value)


def redact(text: str) -> str:
    """``text`` with credentials masked: secret environment values, signatures, tokens, passwords."""
    for variable in _SECRET_VARIABLES:
        value = os.environ.get(variable)
        if value and len(value) >= 4:
            text = text.replace(value, MASK)
    for value in tuple(_HANDED_IN):
        text = text.replace(value, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def _is_redacted_logger(name: str) -> bool:
    return any(name == root or name.startswith(root + ".") for root in REDACTED_LOGGERS)


class RedactingFilter(logging.Filter):
    """Masks credentials in a record's message and traceback; it never drops a record.

    The factory installed by :func:`install_log_redaction` applies it to the covered loggers.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact("".join(traceback.format_exception(*record.exc_info)).rstrip("\n"))
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()
_install_lock = threading.Lock()


def _enabled() -> bool:
    return os.environ.get("CLINOPS_LOG_REDACTION", "1").strip().lower() not in ("0", "false", "no", "off")


def install_log_redaction() -> None:
    """Redact the records of :data:`REDACTED_LOGGERS` from now on (idempotent, thread-safe).

    Does nothing when ``CLINOPS_LOG_REDACTION=0``. The record factory in place (the default or an
    application's own) keeps making the records; this one only masks them afterwards.
    """
    if not _enabled():
        return
    with _install_lock:
        current = logging.getLogRecordFactory()
        if getattr(current, "_clinops_redacting", False):
            return
        previous: Callable[..., logging.LogRecord] = current

        def make_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            if _is_redacted_logger(record.name):
                _FILTER.filter(record)
            return record

        make_record._clinops_redacting = True  # type: ignore[attr-defined]
        logging.setLogRecordFactory(make_record)
