"""Signed URLs: a bounded-time link to read (or write) one artifact without credentials.

S3 presigns with botocore's own signer (``generate_presigned_url``); GCS signs Google's V4 form
(:mod:`.gcs.signing`). The lifetime is checked here, once, before any I/O: S3 and GCS both refuse
to honour more than seven days.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Literal, TypeAlias

from .._exceptions import ConfigurationError
from .parts import StoreParts

__all__ = ["MAX_URL_LIFETIME", "SignedMethod", "SigningMixin", "check_lifetime"]

#: The longest a V4-signed URL may live, on S3 and GCS alike.
MAX_URL_LIFETIME = 7 * 24 * 3600

#: What a signed URL lets its holder do: read (GET) or write (PUT) the artifact.
SignedMethod: TypeAlias = Literal["GET", "PUT"]


def check_lifetime(expires: timedelta | int | float) -> int:
    """``expires`` as whole seconds, at least one and at most seven days; ConfigurationError otherwise."""
    if isinstance(expires, timedelta):
        seconds = expires.total_seconds()
    elif isinstance(expires, int | float) and not isinstance(expires, bool):
        seconds = float(expires)
    else:
        raise ConfigurationError(f"expires must be a timedelta or a number of seconds; got {expires!r}")
    if not seconds >= 1:  # also refuses NaN
        raise ConfigurationError(f"expires must be at least one second; got {seconds:g} s")
    if seconds > MAX_URL_LIFETIME:
        raise ConfigurationError(f"expires must be at most 7 days ({MAX_URL_LIFETIME} s); got {seconds:g} s")
    return int(seconds)


class SigningMixin(StoreParts):
    """``signed_url`` for AsyncPipelineStore."""

    if TYPE_CHECKING:
        def _check_version(self, version: str | None) -> str | None: ...

    async def signed_url(
        self,
        name: str,
        *,
        expires: timedelta | int | float = 3600,
        method: SignedMethod = "GET",
        version: str | None = None,
    ) -> str:
        """A URL that lets anyone who holds it read (or write) artifact ``name`` for a bounded time.

        S3: a presigned URL (botocore's signer, with the store's credentials). GCS: a V4 signed URL,
        signed with the service-account key in use, or by the IAM ``signBlob`` API when the store
        runs on workload identity or the metadata server (the account needs
        ``iam.serviceAccounts.signBlob`` on itself). Nobody is asked whether the artifact exists:
        a URL for a missing one answers 404 when used. A ``PUT`` URL stores the raw bytes it is sent,
        without the checksum and row counts ``upload`` records.

        Args:
            name: Artifact name.
            expires: Lifetime, a ``timedelta`` or seconds: at least 1 s, at most 7 days (default 1 h).
            method: ``"GET"`` (read) or ``"PUT"`` (write).
            version: Sign a read of this version (``list_versions``); GET only.

        Returns:
            The URL.

        Raises:
            ConfigurationError: Invalid name, lifetime, method or version (before any I/O), or
                credentials that cannot sign (an emulator without a key, a user login).
            UnsupportedOperationError: The local store, which cannot sign (before any I/O).
        """
        key = self.key(name)
        seconds = check_lifetime(expires)
        if method not in ("GET", "PUT"):
            raise ConfigurationError(f"method must be 'GET' or 'PUT'; got {method!r}")
        if not self._backend.can_sign:
            raise self._backend.unsupported("cannot sign URLs: a local directory has no URL to share")
        version = self._check_version(version)
        if version is not None and method != "GET":
            raise ConfigurationError("version= signs a read: use it with method='GET'")
        backend = await self._ready()
        return await backend.sign_url(key, method=method, seconds=seconds, version=version)
