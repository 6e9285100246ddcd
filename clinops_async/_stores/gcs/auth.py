"""Google credentials for the GCS store: where they come from, checked before any network I/O.

Order (as Google's client libraries do): the ``credentials_path`` given to the store, else
Application Default Credentials: the file named by ``GOOGLE_APPLICATION_CREDENTIALS``, else the
gcloud CLI's ``application_default_credentials.json``, else the metadata server of the GCP machine the
code runs on. With an emulator (``STORAGE_EMULATOR_HOST``) no credentials are used at all.

A credentials file is read once, checked (readable, a JSON object, a known ``type`` with the fields
that type needs, a private key that parses) and handed to gcloud-aio-auth as an in-memory copy. Errors
name the file and the missing field, never a value from it.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path
from typing import Any

from ..._exceptions import ConfigurationError

__all__ = ["SCOPES", "check_credentials", "find_adc_file", "load_credentials_file", "make_token"]

SCOPES = ["https://www.googleapis.com/auth/devstorage.read_write"]

#: A real credentials file is a few KB; anything far larger is not one.
_MAX_FILE_BYTES = 1 << 20

#: The fields each credentials type needs (the types gcloud-aio-auth can use).
_REQUIRED = {
    "service_account": ("client_email", "private_key"),
    "authorized_user": ("client_id", "client_secret", "refresh_token"),
    "external_account": ("audience", "subject_token_type", "token_url", "credential_source"),
    "impersonated_service_account": ("source_credentials", "service_account_impersonation_url"),
}


def load_credentials_file(path: str | os.PathLike[str], *, origin: str) -> dict[str, Any]:
    """Read and check a Google credentials JSON file.

    Args:
        path: The file.
        origin: How it was named, for messages (``"credentials_path"``, an environment variable).

    Returns:
        The parsed file.

    Raises:
        ConfigurationError: The file is missing, unreadable, not JSON, or not a usable credentials
            file. The message names the path and the problem, never the file's contents.
    """
    shown = os.fspath(path)
    where = f"Google credentials file {shown!r} (from {origin})"
    try:
        with open(path, "rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigurationError(f"{where} does not exist") from None
    except IsADirectoryError:
        raise ConfigurationError(f"{where} is a directory, not a JSON key file") from None
    except PermissionError:
        raise ConfigurationError(f"{where} cannot be read: permission denied") from None
    except OSError as exc:
        raise ConfigurationError(f"{where} cannot be read ({exc.strerror or type(exc).__name__})") from None
    if len(raw) > _MAX_FILE_BYTES:
        raise ConfigurationError(f"{where} is larger than 1 MiB: it is not a credentials file")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ConfigurationError(
            f"{where} is not valid JSON; download a service-account key (JSON) from the Google Cloud console"
        ) from None
    return check_credentials(data, where)


def check_credentials(data: object, where: str) -> dict[str, Any]:
    """``data`` checked as Google credentials (a known ``type`` with its fields, a key that parses);
    ``where`` names it in messages, which never show a value from it."""
    if not isinstance(data, dict):
        raise ConfigurationError(f"{where} is not a JSON object; expected a service-account key")
    kind = data.get("type")
    if not isinstance(kind, str) or kind not in _REQUIRED:
        raise ConfigurationError(
            f"{where} has no usable 'type' field; expected one of {', '.join(sorted(_REQUIRED))}"
        )
    missing = [field for field in _REQUIRED[kind] if not data.get(field)]
    if missing:
        raise ConfigurationError(f"{where} is a {kind} file without {', '.join(repr(f) for f in missing)}")
    if kind == "service_account":
        _check_private_key(data["private_key"], where)
    return data


def _check_private_key(value: object, where: str) -> None:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    if not isinstance(value, str):
        raise ConfigurationError(f"{where} has a 'private_key' that is not a PEM string")
    try:
        load_pem_private_key(value.encode("utf-8"), password=None)
    except Exception:
        raise ConfigurationError(f"{where} has a 'private_key' that is not a valid PEM private key") from None


def find_adc_file() -> tuple[Path, str] | None:
    """The Application Default Credentials file and how it was found, or None (metadata server)."""
    env = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if env:
        return Path(env), "GOOGLE_APPLICATION_CREDENTIALS"
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    well_known = Path(config, "application_default_credentials.json")
    if well_known.is_file():
        return well_known, "the gcloud CLI's application default credentials"
    return None


def make_token(data: dict[str, Any] | None, session: Any) -> Any:
    """A gcloud-aio-auth token for ``data`` (None: the GCE metadata server) on ``session``.

    The token makes one attempt per refresh: the store's own retry (bounded by ``RetryConfig``)
    decides what is retried, instead of gcloud-aio-auth's minute-long backoff.
    """
    try:
        from gcloud.aio.auth import Token
    except ImportError:  # pragma: no cover - depends on the installed extras
        raise ImportError("AsyncGCSPipelineStore needs gcloud-aio-auth: pip install 'clinops-async[gcp]'") from None

    single_attempt = getattr(Token.acquire_access_token, "__wrapped__", Token.acquire_access_token)

    class _Token(Token):
        acquire_access_token = single_attempt

        def __repr__(self) -> str:
            return "<GCS access token>"

    service_file = io.StringIO(json.dumps(data)) if data is not None else None
    return _Token(service_file=service_file, session=session, scopes=SCOPES)
