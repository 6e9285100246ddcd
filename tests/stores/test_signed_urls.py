"""Signed URLs, fetched with a plain HTTP client (urllib) from the local servers.

None of the local servers checks a signature (moto and SeaweedFS run without authentication, the GCS
emulators have none), so a URL is checked for its shape and lifetime, fetched for the artifact's
bytes, and a GCS one has its V4 signature verified against the key's public half, by the string to
sign Google documents (rebuilt here from the URL). S3's are botocore's own presigning.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from clinops_async import AsyncGCSPipelineStore, ConfigurationError, UnsupportedOperationError
from tests.stores.test_versions import enable_versioning
from tests.support.frames import icu_windows
from tests.support.store_envs import GCSEnv

if TYPE_CHECKING:
    from tests.support.servers import Server
    from tests.support.store_envs import StoreEnv


CLOUDS = pytest.mark.parametrize("store_env", ["s3", "seaweedfs", "gcs-emulator", "fake-gcs"], indirect=True)
S3 = pytest.mark.parametrize("store_env", ["s3", "seaweedfs"], indirect=True)
GCS = pytest.mark.parametrize("store_env", ["gcs-emulator", "fake-gcs"], indirect=True)


def fetch(url: str, *, method: str = "GET", data: bytes | None = None) -> bytes:
    headers = {"Content-Type": "application/octet-stream"} if data is not None else {}
    request = urllib.request.Request(url, method=method, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        return bytes(response.read())


@pytest.fixture(scope="module")
def service_account_info() -> dict[str, Any]:
    """A synthetic service-account key (a fresh RSA key; no such account exists)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account", "project_id": "synthetic-project", "private_key_id": "k1",
        "private_key": pem, "client_email": "signer@synthetic-project.iam.gserviceaccount.com",
        "token_uri": "http://127.0.0.1:9/token",
    }


def signing_store(store_env: StoreEnv, info: dict[str, Any], **options: Any) -> Any:
    if isinstance(store_env, GCSEnv):
        return AsyncGCSPipelineStore(
            store_env.bucket, emulator_host=store_env.endpoint, service_account_info=info, **options
        )
    return store_env.make(**options)


@CLOUDS
async def test_a_signed_get_url_reads_the_artifact_with_no_credentials(
    store_env: StoreEnv, service_account_info: dict[str, Any]
) -> None:
    async with signing_store(store_env, service_account_info) as store:
        await store.upload(icu_windows(stays=2), "w")
        url = await store.signed_url("w", expires=timedelta(minutes=10))
    assert fetch(url) == store_env.get_bytes("w.parquet")


@S3
async def test_a_signed_put_url_stores_the_bytes_sent(
    store_env: StoreEnv, service_account_info: dict[str, Any]
) -> None:
    body = b"raw bytes of another tool"
    async with signing_store(store_env, service_account_info) as store:
        url = await store.signed_url("incoming", method="PUT", expires=600)
    fetch(url, method="PUT", data=body)
    assert store_env.get_bytes("incoming.parquet") == body


@S3
async def test_a_signed_url_of_a_version_reads_that_version(store_env: StoreEnv) -> None:
    enable_versioning(store_env)
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=1), "w")
        first = store_env.get_bytes("w.parquet")
        old = (await store.info("w")).version
        await store.upload(icu_windows(stays=2), "w")
        url = await store.signed_url("w", version=old)
    assert "versionId=" in url
    assert fetch(url) == first


@S3
async def test_an_s3_url_carries_its_lifetime(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        await store.upload(icu_windows(stays=1), "w")
        url = await store.signed_url("w", expires=1)
    query = dict(parse_qsl(urlsplit(url).query))
    assert query["X-Amz-Expires"] == "1"
    signed_at = datetime.strptime(query["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - signed_at).total_seconds()) < 60
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256" and query["X-Amz-SignedHeaders"] == "host"
    assert query["X-Amz-Credential"].endswith("/us-east-1/s3/aws4_request")


@GCS
async def test_a_gcs_url_is_a_v4_url_signed_by_the_key(
    store_env: StoreEnv, service_account_info: dict[str, Any]
) -> None:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    async with signing_store(store_env, service_account_info, user_project="billing-project") as store:
        url = await store.signed_url("dir/w x", expires=timedelta(hours=2), version="1700000000000001")
    parts = urlsplit(url)
    assert isinstance(store_env, GCSEnv)
    assert f"{parts.scheme}://{parts.netloc}" == store_env.endpoint
    assert parts.path == f"/{store_env.bucket}/dir/w%20x.parquet"
    query = dict(parse_qsl(parts.query))
    assert query["X-Goog-Algorithm"] == "GOOG4-RSA-SHA256"
    assert query["X-Goog-Expires"] == "7200"
    assert query["X-Goog-SignedHeaders"] == "host"
    assert query["generation"] == "1700000000000001" and query["userProject"] == "billing-project"
    email, date, region, service, kind = query["X-Goog-Credential"].split("/")
    assert (email, region, service, kind) == (service_account_info["client_email"], "auto", "storage", "goog4_request")
    assert query["X-Goog-Date"].startswith(date)
    # Google's V4 steps: canonical request, string to sign, RSA-SHA256 over it.
    signed_query = parts.query.rsplit("&X-Goog-Signature=", 1)[0]
    canonical = f"GET\n{parts.path}\n{signed_query}\nhost:{parts.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    to_sign = "\n".join(["GOOG4-RSA-SHA256", query["X-Goog-Date"], f"{date}/auto/storage/goog4_request",
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key = serialization.load_pem_private_key(service_account_info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    key.public_key().verify(  # raises InvalidSignature if the URL was not signed by this key
        bytes.fromhex(query["X-Goog-Signature"]), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize("store_env", ["local"], indirect=True)
async def test_the_local_store_cannot_sign(store_env: StoreEnv) -> None:
    store = store_env.make()
    with pytest.raises(UnsupportedOperationError, match="cannot sign"):
        await store.signed_url("w")
    assert store._state == "new"


@pytest.mark.parametrize("store_env", ["s3", "fake-gcs"], indirect=True)
@pytest.mark.parametrize("expires", [0, -60, 0.5, timedelta(days=7, seconds=1), timedelta(seconds=-1), "3600",
                                     float("nan"), True])
async def test_a_lifetime_out_of_bounds_is_refused_before_any_io(store_env: StoreEnv, expires: Any) -> None:
    store = store_env.make()
    with pytest.raises(ConfigurationError, match="expires"):
        await store.signed_url("w", expires=expires)
    with pytest.raises(ConfigurationError, match="method"):
        await store.signed_url("w", method="DELETE")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="GET"):
        await store.signed_url("w", method="PUT", version="1")
    assert store._state == "new"


@S3
async def test_seven_days_is_the_longest_lifetime(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        url = await store.signed_url("w", expires=timedelta(days=7))
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"] == str(7 * 24 * 3600)


@GCS
async def test_an_emulator_store_without_a_key_cannot_sign(store_env: StoreEnv) -> None:
    async with store_env.make() as store:
        with pytest.raises(ConfigurationError, match="service_account_info"):
            await store.signed_url("w")


def test_the_service_account_info_is_checked_and_never_shown(service_account_info: dict[str, Any]) -> None:
    garbage = "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----"
    broken = {**service_account_info, "private_key": garbage}
    with pytest.raises(ConfigurationError, match="private_key") as caught:
        AsyncGCSPipelineStore("some-bucket", service_account_info=broken)
    assert "not a key" not in str(caught.value)
    with pytest.raises(ConfigurationError, match="client_email"):
        AsyncGCSPipelineStore("some-bucket", service_account_info={**service_account_info, "client_email": ""})
    with pytest.raises(ConfigurationError, match="only one way"):
        AsyncGCSPipelineStore("some-bucket", service_account_info=service_account_info, credentials_path="key.json")
    store = AsyncGCSPipelineStore("some-bucket", service_account_info=service_account_info)
    shown = repr(store) + repr(store._backend) + json.dumps(vars(store), default=repr)
    assert service_account_info["private_key"] not in shown


async def test_without_a_key_a_gcs_url_is_signed_by_the_iam_sign_blob_api(
    fake_gcs: Server, service_account_info: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workload identity: no key in the credentials, so the metadata server names the account and the
    IAM Credentials API signs. A local server stands in for both (at their documented paths), signing
    with the synthetic key, so the URL's signature can be verified as in the test above."""
    import base64

    from aiohttp import web
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from gcloud.aio.auth import Token

    from clinops_async._stores.gcs import signing

    key = serialization.load_pem_private_key(service_account_info["private_key"].encode(), password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    email = service_account_info["client_email"]
    asked: list[str] = []

    async def account(request: web.Request) -> web.Response:
        assert request.headers["Metadata-Flavor"] == "Google"
        return web.Response(text=email)

    async def sign_blob(request: web.Request) -> web.Response:
        asked.append(request.match_info["account"])
        payload = base64.b64decode((await request.json())["payload"])
        signed = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
        return web.json_response({"keyId": "k1", "signedBlob": base64.b64encode(signed).decode()})

    app = web.Application()
    app.router.add_get("/computeMetadata/v1/instance/service-accounts/default/email", account)
    app.router.add_post("/v1/projects/-/serviceAccounts/{account}:signBlob", sign_blob)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    monkeypatch.setattr(signing, "_METADATA_EMAIL",
                        f"http://127.0.0.1:{port}/computeMetadata/v1/instance/service-accounts/default/email")
    monkeypatch.setattr("gcloud.aio.auth.iam.API_ROOT_IAM_CREDENTIALS", f"http://127.0.0.1:{port}/v1")

    class MetadataToken(Token):  # the metadata server's token, without a metadata server
        async def get(self) -> str:
            return "synthetic-access-token"

    gcs = GCSEnv("fake-gcs", fake_gcs.url)
    try:
        async with AsyncGCSPipelineStore(gcs.bucket, endpoint_url=fake_gcs.url, token=MetadataToken()) as store:
            url = await store.signed_url("w", expires=300)
    finally:
        await runner.cleanup()
    assert asked == [email]
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    assert query["X-Goog-Credential"].startswith(f"{email}/")
    signed_query = parts.query.rsplit("&X-Goog-Signature=", 1)[0]
    canonical = f"GET\n{parts.path}\n{signed_query}\nhost:{parts.netloc}\n\nhost\nUNSIGNED-PAYLOAD"
    scope = query["X-Goog-Credential"].split("/", 1)[1]
    to_sign = "\n".join(["GOOG4-RSA-SHA256", query["X-Goog-Date"], scope,
                         hashlib.sha256(canonical.encode()).hexdigest()])
    key.public_key().verify(
        bytes.fromhex(query["X-Goog-Signature"]), to_sign.encode(), padding.PKCS1v15(), hashes.SHA256()
    )
