"""GCS V4 signed URLs (``GOOG4-RSA-SHA256``), as Google documents them for signing by hand.

The string to sign is built here because gcloud-aio-storage's ``Blob.get_signed_url`` fixes the host
when it is imported (``storage.googleapis.com``, or ``STORAGE_EMULATOR_HOST`` as it was then), always
writes ``https://``, and lowercases header values; the store's own endpoint (a Private Service
Connect endpoint, an emulator) must be the URL's host. The signature itself comes from the
service-account key (``cryptography``) or, without a key (workload identity, the metadata server,
impersonation), from the IAM Credentials ``signBlob`` API through gcloud-aio-auth's ``IamClient``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

import anyio

from ..._exceptions import AccessDeniedError, ConfigurationError, StoreError, TransientStoreError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["Signer"]

_METADATA_EMAIL = "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/email"


class Signer:
    """Signs URLs for one bucket on one endpoint.

    Args:
        root: The endpoint the URLs point at (Google's, or another one's such as an emulator's).
        bucket: The bucket.
        credentials: The service-account (or other) credentials in use, or None (metadata server).
        token: A gcloud-aio-auth token handed in by the caller, or None.
        user_project: The project billed for requests (``userProject``), or None.
    """

    def __init__(
        self, root: str, bucket: str, *, credentials: Mapping[str, Any] | None, token: Any, user_project: str | None
    ) -> None:
        parts = urlsplit(root)
        self.scheme, self.host = parts.scheme, parts.netloc
        self.bucket = bucket
        self.credentials = dict(credentials or getattr(token, "service_data", None) or {})
        self.token = token
        self.user_project = user_project
        self._key: Any = None  # the parsed private key, once loaded

    def __repr__(self) -> str:
        return f"<GCS URL signer bucket={self.bucket!r}>"

    async def sign(
        self, key: str, *, method: str, seconds: int, generation: str | None, session: Any, uri: str
    ) -> str:
        """The signed URL of ``key``; signing by ``signBlob`` asks Google, through ``session``."""
        now = datetime.now(UTC)
        stamp = now.strftime("%Y%m%dT%H%M%SZ")
        scope = f"{now.strftime('%Y%m%d')}/auto/storage/goog4_request"
        email = self.credentials.get("client_email") or await self._account_email(session, uri)
        path = f"/{quote(self.bucket, safe='')}/{quote(key, safe='/~')}"
        params = {
            "X-Goog-Algorithm": "GOOG4-RSA-SHA256",
            "X-Goog-Credential": f"{email}/{scope}",
            "X-Goog-Date": stamp,
            "X-Goog-Expires": str(seconds),
            "X-Goog-SignedHeaders": "host",
        }
        if generation is not None:
            params["generation"] = generation
        if self.user_project is not None:
            params["userProject"] = self.user_project
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in sorted(params.items()))
        canonical = "\n".join([method, path, query, f"host:{self.host}\n", "host", "UNSIGNED-PAYLOAD"])
        to_sign = "\n".join(["GOOG4-RSA-SHA256", stamp, scope, hashlib.sha256(canonical.encode()).hexdigest()])
        key_pem = self.credentials.get("private_key")
        if isinstance(key_pem, str) and key_pem:
            # Parsing the key costs about 150 ms (cryptography checks the RSA key), so it is done once,
            # and it and the signature (about 1 ms) run in a worker thread, off the event loop.
            signature = await anyio.to_thread.run_sync(self._sign_with_key, key_pem, to_sign.encode())
        else:
            signature = await self._sign_blob(to_sign.encode(), email, session, uri)
        return f"{self.scheme}://{self.host}{path}?{query}&X-Goog-Signature={signature.hex()}"

    def _iam_client(self, session: Any) -> Any:
        from gcloud.aio.auth import IamClient

        try:
            if self.token is not None:
                return IamClient(token=self.token, session=session)
            data = self.credentials or None
            return IamClient(service_file=io.StringIO(json.dumps(data)) if data else None, session=session)
        except TypeError:
            raise ConfigurationError(
                "these Google credentials cannot sign URLs (a user login has no service account): use a "
                "service-account key, or run as a service account (workload identity, the metadata server)"
            ) from None

    async def _account_email(self, session: Any, uri: str) -> str:
        """The service account to sign as: the impersonated one, or the metadata server's default."""
        email = self._iam_client(session).service_account_email
        if email:
            return str(email)
        try:
            async with session.get(_METADATA_EMAIL, headers={"Metadata-Flavor": "Google"}) as response:
                response.raise_for_status()
                return str(await response.text()).strip()
        except Exception as exc:
            raise ConfigurationError(
                f"cannot sign a URL for {uri}: the credentials hold no key, and the metadata server that "
                "names the service account is unreachable; pass service-account credentials"
            ) from exc

    async def _sign_blob(self, data: bytes, email: str, session: Any, uri: str) -> bytes:
        client = self._iam_client(session)
        try:
            answer = await client.sign_blob(data, service_account_email=email)
        except Exception as exc:
            raise TransientStoreError(
                f"{uri}: the IAM signBlob request failed ({type(exc).__name__})", uri=uri
            ) from exc
        signed = answer.get("signedBlob") if isinstance(answer, dict) else None
        if not signed:
            status = (answer.get("error") or {}).get("code") if isinstance(answer, dict) else None
            if status in (401, 403):
                raise AccessDeniedError(
                    f"cannot sign a URL for {uri}: the service account may not sign blobs "
                    "(it needs iam.serviceAccounts.signBlob on itself, e.g. roles/iam.serviceAccountTokenCreator)",
                    uri=uri,
                )
            raise StoreError(f"{uri}: the IAM signBlob API answered without a signature (HTTP {status})", uri=uri)
        return base64.b64decode(signed)


    def _sign_with_key(self, key_pem: str, data: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding, rsa
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        if self._key is None:
            key = load_pem_private_key(key_pem.encode(), password=None)
            if not isinstance(key, rsa.RSAPrivateKey):
                raise ConfigurationError("the service-account private key is not an RSA key; it cannot sign a V4 URL")
            self._key = key
        return bytes(self._key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
