"""GCS-specific behaviour, against gcp-storage-emulator and fake-gcs-server (through a TCP proxy where a
test needs to break, hold or watch the network)."""

from __future__ import annotations

import asyncio
import json
import time
import traceback
import urllib.parse
from typing import TYPE_CHECKING, Any, TypedDict

import aiohttp
import anyio
import pandas as pd
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from clinops_async import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ConfigurationError,
    IntegrityError,
    RetryConfig,
    TransferConfig,
    TransientStoreError,
)
from clinops_async._stores.gcs.backend import AsyncGCSPipelineStore
from clinops_async._stores.gcs.http import status_error, translate
from clinops_async._stores.sync import GCSPipelineStore
from tests.support.frames import icu_windows, wide_frame
from tests.support.servers import Server, start_fake_gcs
from tests.support.store_envs import GCSEnv, gcs_create_bucket
from tests.support.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

MiB = 1 << 20
KMS_KEY = "projects/p/locations/europe-west4/keyRings/clinops/cryptoKeys/artifacts"
#: Bytes that must never appear in an error message: they stand for key material.
SECRET = "SYNTHETIC-KEY-MATERIAL-0123456789"


def frame_of(mib: float, seed: int = 0) -> pd.DataFrame:
    """Random float columns: about ``mib`` MiB of Parquet with compression off."""
    return wide_frame(int(mib * MiB / 80), 10, seed=seed)


@pytest.fixture(params=["gcs-emulator", "fake-gcs"])
def gcs_env(request: pytest.FixtureRequest) -> GCSEnv:
    server = request.getfixturevalue("gcs_emulator" if request.param == "gcs-emulator" else "fake_gcs")
    return GCSEnv(request.param, server.url)


@pytest.fixture(params=["gcs-emulator", "fake-gcs"])
async def proxied(request: pytest.FixtureRequest) -> AsyncIterator[tuple[GCSEnv, TcpProxy]]:
    """A fresh bucket and a proxy in front of its server. Stores made on ``proxy.url`` go through it."""
    proxy = await TcpProxy().start()
    own: Server | None = None
    if request.param == "gcs-emulator":
        server = request.getfixturevalue("gcs_emulator")  # it builds session URIs from the Host header
    else:
        # fake-gcs-server writes its -external-url into session URIs: point it at the proxy.
        own = server = await anyio.to_thread.run_sync(lambda: start_fake_gcs(external_url=proxy.url))
    proxy.target_port = server.port
    try:
        yield GCSEnv(request.param, server.url), proxy
    finally:
        await proxy.stop()
        if own is not None:
            own.stop()


def gap(request: pytest.FixtureRequest, env: GCSEnv, backend: str, reason: str) -> None:
    """Mark this test as a known failure on ``backend`` alone."""
    if env.name == backend:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def through(env: GCSEnv, proxy: TcpProxy, **options: Any) -> AsyncGCSPipelineStore:
    return AsyncGCSPipelineStore(env.bucket, emulator_host=proxy.url, **options)


class StoreOptions(TypedDict):
    compression: str
    transfer: TransferConfig


LARGE = StoreOptions(compression="none", transfer=TransferConfig(multipart_threshold=MiB))
QUICK_RETRY = RetryConfig(max_attempts=3, initial_backoff=0.0)


# -- resumable uploads -----------------------------------------------------------------------------


async def _upload_with_one_cut(env: GCSEnv, proxy: TcpProxy) -> tuple[int, int]:
    """Upload ~4 MiB in 1 MiB chunks, cutting the connection halfway through the second chunk."""
    df = frame_of(4)
    proxy.cut_after = int(1.5 * MiB)
    async with through(env, proxy, chunk_size=MiB, retry=QUICK_RETRY, **LARGE) as store:
        await store.upload(df, "vitals")
        sent = proxy.sent
        assert proxy.cuts == 1
        pd.testing.assert_frame_equal(await store.download("vitals"), df)
        size = (await store.info("vitals")).size
    assert env.keys() == ["vitals.parquet"]
    return size, sent


async def test_upload_survives_a_connection_cut_mid_chunk(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    await _upload_with_one_cut(*proxied)


async def test_upload_resumes_from_the_servers_offset_not_byte_zero(
    proxied: tuple[GCSEnv, TcpProxy], request: pytest.FixtureRequest
) -> None:
    env, proxy = proxied
    gap(request, env, "fake-gcs", "fake-gcs-server finalizes a truncated object when asked for the upload "
        "status (bytes */N); the store deletes it and has to start over from byte 0")
    size, sent = await _upload_with_one_cut(env, proxy)
    # Resumed at the offset the server reported: at most the half chunk cut off went twice (less when
    # the server kept the bytes that arrived). Started over from byte 0 it would be size + 1.5 MiB.
    assert size < sent < size + MiB


async def test_cancelled_resumable_upload_cancels_its_session(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    env, proxy = proxied
    proxy.record = True
    proxy.pattern, proxy.on_match = b"PUT /upload", "hold"
    async with through(env, proxy, chunk_size=MiB, **LARGE) as store:
        task = asyncio.create_task(store.upload(frame_of(3), "x"))
        await asyncio.wait_for(proxy.matched.wait(), 30)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert b"DELETE /upload/storage/v1/b/" in proxy.recorded
    assert env.keys() == []


# -- composite uploads -----------------------------------------------------------------------------


async def test_composite_upload_nests_beyond_32_sources_and_removes_components(gcs_env: GCSEnv) -> None:
    df = frame_of(9.5)  # 38 components of 256 KiB: two intermediate composes, then the final one
    async with gcs_env.make(upload_mode="composite", chunk_size=256 * 1024, **LARGE) as store:
        await store.upload(df, "features/windows")
        info = await store.info("features/windows")
        pd.testing.assert_frame_equal(await store.download("features/windows"), df)
    assert gcs_env.keys() == ["features/windows.parquet"]
    resource = gcs_env.resource("features/windows.parquet")
    assert resource["crc32c"] == info.checksum
    assert resource["contentType"] == "application/octet-stream"
    assert info.rows == len(df)


async def test_failed_compose_deletes_every_component(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    env, proxy = proxied
    proxy.pattern, proxy.on_match = b"/compose", "drop"
    async with through(env, proxy, upload_mode="composite", chunk_size=MiB, retry=QUICK_RETRY, **LARGE) as store:
        with pytest.raises(TransientStoreError) as caught:
            await store.upload(frame_of(4), "x")
    assert caught.value.attempts == 3 and proxy.matches == 3
    assert env.keys() == []


async def test_cancelled_composite_upload_deletes_every_component(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    env, proxy = proxied
    proxy.pattern, proxy.on_match = b"/compose", "hold"
    async with through(env, proxy, upload_mode="composite", chunk_size=MiB, **LARGE) as store:
        task = asyncio.create_task(store.upload(frame_of(4), "x"))
        await asyncio.wait_for(proxy.matched.wait(), 30)
        assert env.incomplete_uploads() >= 4  # the components exist while the compose is held
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert env.keys() == []


# -- large artifacts -------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "mode"),
    # The default mode on both; composite where components really upload concurrently
    # (gcp-storage-emulator serves one request at a time: 20 s there, and no extra coverage).
    [("gcs-emulator", "resumable"), ("fake-gcs", "resumable"), ("fake-gcs", "composite")],
)
async def test_200_mb_artifact_round_trips(request: pytest.FixtureRequest, backend: str, mode: str) -> None:
    server = request.getfixturevalue("gcs_emulator" if backend == "gcs-emulator" else "fake_gcs")
    gcs_env = GCSEnv(backend, server.url)
    df = frame_of(200)
    async with gcs_env.make(upload_mode=mode, compression="none") as store:
        await store.upload(df, "big")
        info = await store.info("big")
        assert info.size > 200 * MiB
        assert gcs_env.resource("big.parquet")["crc32c"] == info.checksum
        pd.testing.assert_frame_equal(await store.download("big"), df)
        await store.delete("big")
    assert gcs_env.keys() == []


@pytest.mark.parametrize("size_mib", [0.5, 3], ids=["one-request", "resumable"])
async def test_bytes_damaged_on_the_way_up_raise_integrity_error_and_leave_nothing(
    proxied: tuple[GCSEnv, TcpProxy], size_mib: float
) -> None:
    env, proxy = proxied
    async with through(env, proxy, chunk_size=MiB, **LARGE) as store:
        await store.exists("warm-up")  # the connection is open: the next bytes are the upload's
        proxy.corrupt_at = proxy.sent + int(size_mib * MiB) // 2
        with pytest.raises(IntegrityError):
            await store.upload(frame_of(size_mib), "x")
        assert proxy.corrupt_at is None
    assert env.keys() == []


# -- downloads -------------------------------------------------------------------------------------


async def test_object_replaced_between_ranges_is_read_again_whole(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    # fake-gcs-server pins the later ranges to the first one's generation; gcp-storage-emulator has
    # no generations, so the mixed bytes fail their CRC32C, and a HEAD tells a change from damage.
    env, proxy = proxied
    old, new = frame_of(12, seed=1), frame_of(12, seed=2)
    transfer = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB, max_concurrency=1)
    async with env.make(compression="none", transfer=transfer) as direct:
        await direct.upload(old, "w")
        proxy.pattern, proxy.on_match = f"bytes={5 * MiB}-".encode(), "hold"
        async with through(env, proxy, compression="none", transfer=transfer) as store:
            download = asyncio.create_task(store.download("w"))
            await asyncio.wait_for(proxy.matched.wait(), 30)  # the first range is in, the second held
            await direct.upload(new, "w")
            proxy.release.set()
            pd.testing.assert_frame_equal(await download, new)


@pytest.mark.parametrize("size_mib", [0.5, 12], ids=["one-request", "ranges"])
async def test_damaged_bytes_on_download_raise_integrity_error(gcs_env: GCSEnv, size_mib: float) -> None:
    df = frame_of(size_mib)
    transfer = TransferConfig(multipart_threshold=5 * MiB, part_size=5 * MiB)
    async with gcs_env.make(compression="none", transfer=transfer) as store:
        await store.upload(df, "w")
        data = bytearray(gcs_env.get_bytes("w.parquet"))
        data[int(size_mib * MiB * 0.6)] ^= 0x01
        gcs_env.put_bytes("w.parquet", bytes(data), gcs_env.metadata("w.parquet"))
        with pytest.raises(IntegrityError):
            await store.download("w")


# -- options and errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["resumable", "composite"])
async def test_kms_key_name_goes_with_every_write(proxied: tuple[GCSEnv, TcpProxy], mode: str) -> None:
    env, proxy = proxied
    proxy.record = True
    async with through(env, proxy, kms_key_name=KMS_KEY, upload_mode=mode, chunk_size=MiB, **LARGE) as store:
        await store.upload(pd.DataFrame({"a": [1]}), "small")
        await store.upload(frame_of(3), "large")
    writes = [urllib.parse.unquote(line) for line in proxy.request_lines() if line.startswith("POST ")]
    assert sum("uploadType=multipart" in line for line in writes) >= (4 if mode == "composite" else 1)
    assert sum("/compose" in line for line in writes) == (1 if mode == "composite" else 0)
    assert all(f"kmsKeyName={KMS_KEY}" in line for line in writes), writes
    assert env.keys() == ["large.parquet", "small.parquet"]


async def test_small_artifact_is_one_request_each_way(proxied: tuple[GCSEnv, TcpProxy]) -> None:
    # One multipart POST carries the bytes, the metadata, the CRC32C and the precondition; one GET of the
    # media brings the bytes back with the metadata (and so the recorded CRC32C) in its headers.
    env, proxy = proxied
    proxy.record = True
    df = icu_windows(stays=2)
    async with through(env, proxy) as store:
        await store.upload(df, "small", overwrite=False)
        uploaded = proxy.request_lines()
        body = proxy.recorded
        pd.testing.assert_frame_equal(await store.download("small"), df)
        downloaded = [line for line in proxy.request_lines() if line not in uploaded]
    assert len(uploaded) == 1 and uploaded[0].startswith("POST "), uploaded
    assert "uploadType=multipart" in uploaded[0] and "ifGenerationMatch=0" in uploaded[0]
    assert b'"crc32c": ' in body and b'"clinops-crc32c": ' in body
    assert len(downloaded) == 1 and downloaded[0].startswith("GET ") and "alt=media" in downloaded[0], downloaded


async def test_overwrite_false_is_enforced_by_the_server(gcs_env: GCSEnv, request: pytest.FixtureRequest) -> None:
    gap(request, gcs_env, "gcs-emulator", "gcp-storage-emulator ignores ifGenerationMatch=0")
    async with gcs_env.make() as store:
        await store.upload(pd.DataFrame({"v": [1]}), "x", overwrite=False)
        # A small upload is one conditional request (ifGenerationMatch=0): no separate existence check.
        with pytest.raises(ArtifactExistsError):
            await store.upload(pd.DataFrame({"v": [2]}), "x", overwrite=False)
        pd.testing.assert_frame_equal(await store.download("x"), pd.DataFrame({"v": [1]}))


async def test_missing_bucket_is_named(gcs_env: GCSEnv) -> None:
    store = AsyncGCSPipelineStore("no-such-bucket-here", emulator_host=gcs_env.endpoint, **LARGE)
    async with store:
        with pytest.raises(BucketNotFoundError, match="no-such-bucket-here"):
            await store.upload(pd.DataFrame({"a": [1]}), "small")
        with pytest.raises(BucketNotFoundError):
            await store.upload(frame_of(2), "large")
        with pytest.raises(BucketNotFoundError):
            await store.list_artifacts()
        with pytest.raises(FileNotFoundError):
            await store.download("small")


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"error": {"message": "The specified bucket does not exist."}}', BucketNotFoundError),
        (404, b'{"error": {"message": "No such object: b/k"}}', ArtifactNotFoundError),
        (401, b"", AccessDeniedError),
        (403, b'{"error": {"message": "caller does not have storage.objects.create"}}', AccessDeniedError),
        (412, b"", ArtifactExistsError),
        (429, b"", TransientStoreError),
        (503, b"", TransientStoreError),
        (400, b'{"error": {"message": "Provided CRC32C \\"x\\" doesn\'t match calculated CRC32C"}}', IntegrityError),
    ],
)
def test_http_errors_map_to_store_errors(status: int, body: bytes, expected: type[Exception]) -> None:
    error = status_error(status, body, "gs://b/k.parquet", "b")
    assert type(error) is expected
    assert error.uri == "gs://b/k.parquet"


def test_connection_failures_are_transient() -> None:
    for exc in (aiohttp.ServerDisconnectedError(), aiohttp.ClientPayloadError("cut"), TimeoutError()):
        assert isinstance(translate(exc, "gs://b/k", "b"), TransientStoreError)


@pytest.mark.parametrize(
    "options",
    [{"upload_mode": "parallel"}, {"chunk_size": 1000}, {"chunk_size": 0}, {"kms_key_name": "my-key"},
     {"emulator_host": ""}, {"endpoint_url": "storage.googleapis.com"}],
)
def test_invalid_options_are_configuration_errors(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        AsyncGCSPipelineStore("bucket", **options)


# -- credentials -----------------------------------------------------------------------------------


def _service_account(token_uri: str = "https://oauth2.googleapis.com/token") -> dict[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return {
        "type": "service_account",
        "project_id": "synthetic-project",
        "private_key_id": SECRET,
        "private_key": pem,
        "client_email": "pipeline@synthetic-project.iam.gserviceaccount.com",
        "token_uri": token_uri,
    }


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "does not exist"),
        ('{"type": "service_account", "private_key": "' + SECRET, "not valid JSON"),
        (b"\xff\xfe" + SECRET.encode(), "not valid JSON"),
        (json.dumps([SECRET]), "not a JSON object"),
        (json.dumps({"private_key": SECRET, "client_email": "a@b.c"}), "no usable 'type'"),
        (json.dumps({"type": "service_account", "private_key_id": SECRET, "client_email": "a@b.c"}),
         "without 'private_key'"),
        (json.dumps({"type": "service_account", "client_email": "a@b.c",
                     "private_key": f"-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"}),
         "not a valid PEM private key"),
        (json.dumps({"type": "authorized_user", "client_id": "c", "client_secret": SECRET}), "'refresh_token'"),
    ],
    ids=["missing", "truncated-json", "not-utf8", "json-array", "no-type", "no-private-key", "bad-pem",
         "user-without-refresh-token"],
)
def test_bad_credentials_file_is_a_configuration_error_naming_the_path(
    tmp_path: Path, content: str | bytes | None, problem: str
) -> None:
    path = tmp_path / "clinops-sa.json"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(ConfigurationError) as caught:
        AsyncGCSPipelineStore("my-clinical-bucket", credentials_path=path)
    message = str(caught.value)
    assert str(path) in message and problem in message
    assert SECRET not in "".join(traceback.format_exception(caught.value))
    with pytest.raises(ConfigurationError):
        GCSPipelineStore("my-clinical-bucket", credentials_path=str(path))


def test_credentials_directory_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="directory"):
        AsyncGCSPipelineStore("my-clinical-bucket", credentials_path=tmp_path)


async def test_adc_file_from_environment_is_checked_before_any_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    missing = tmp_path / "adc.json"
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(missing))
    store = AsyncGCSPipelineStore("my-clinical-bucket")
    with pytest.raises(ConfigurationError, match="GOOGLE_APPLICATION_CREDENTIALS") as caught:
        await store.exists("x")
    assert str(missing) in str(caught.value)
    await store.aclose()


async def _token_server(answer: tuple[int, dict[str, Any]]) -> tuple[web.AppRunner, str]:
    async def token(_: web.Request) -> web.Response:
        return web.json_response(answer[1], status=answer[0])

    app = web.Application()
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}/token"


async def test_service_account_token_is_sent_and_key_never_shown(
    tmp_path: Path, fake_gcs: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    runner, token_uri = await _token_server((200, {"access_token": "synthetic-access-token", "expires_in": 3600}))
    env = GCSEnv("fake-gcs", fake_gcs.url)
    key = tmp_path / "sa.json"
    account = _service_account(token_uri)
    key.write_text(json.dumps(account))
    try:
        async with TcpProxy(fake_gcs.port, record=True) as proxy:
            store = AsyncGCSPipelineStore(env.bucket, "p", credentials_path=key, endpoint_url=proxy.url)
            async with store:
                await store.upload(icu_windows(stays=1), "w")
                assert await store.list_artifacts() == ["w"]
            assert b"Authorization: Bearer synthetic-access-token" in proxy.recorded
            shown = repr(store) + repr(store._backend)
            assert account["private_key"] not in shown and SECRET not in shown and str(key) not in repr(store)
    finally:
        await runner.cleanup()


async def test_refused_token_is_access_denied_at_once(
    tmp_path: Path, fake_gcs: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    runner, token_uri = await _token_server((400, {"error": "invalid_grant", "error_description": "bad"}))
    key = tmp_path / "sa.json"
    key.write_text(json.dumps(_service_account(token_uri)))
    try:
        store = AsyncGCSPipelineStore("my-clinical-bucket", credentials_path=key, endpoint_url=fake_gcs.url)
        started = time.monotonic()
        async with store:
            with pytest.raises(AccessDeniedError, match="access token") as caught:
                await store.exists("x")
        assert time.monotonic() - started < 5  # no minute-long backoff inside the auth library
        assert SECRET not in "".join(traceback.format_exception(caught.value))
    finally:
        await runner.cleanup()


# -- the documented blocking API ---------------------------------------------------------------------


def test_documented_gcs_snippet_runs_as_written(
    gcs_env: GCSEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs_env.endpoint)
    try:
        gcs_create_bucket(gcs_env.endpoint, "my-clinical-bucket")
    except Exception:
        pass  # created by an earlier run on this server
    windows_df = icu_windows()
    namespace: dict[str, Any] = {"windows_df": windows_df}
    exec(
        """
from clinops_async.orchestrate import GCSPipelineStore, StorageFormat
store = GCSPipelineStore(
bucket="my-clinical-bucket",
prefix="clinops/prod/v2",
format=StorageFormat.PARQUET,
)
# Upload a DataFrame after preprocessing
uri = store.upload(windows_df, "features/windows_2024_01")
# → 'gs://my-clinical-bucket/clinops/prod/v2/features/windows_2024_01.parquet'
# Download in a downstream step
df = store.download("features/windows_2024_01")
# List all artifacts under a sub-prefix
artifacts = store.list_artifacts("features/")
""",
        namespace,
    )
    store = namespace["store"]
    try:
        assert namespace["uri"] == "gs://my-clinical-bucket/clinops/prod/v2/features/windows_2024_01.parquet"
        pd.testing.assert_frame_equal(namespace["df"], windows_df)
        assert namespace["artifacts"] == ["features/windows_2024_01"]
        assert store.info("features/windows_2024_01").content_type == "application/octet-stream"
        store.delete("features/windows_2024_01")
    finally:
        store.close()


def test_blocking_store_csv_content_type(gcs_env: GCSEnv) -> None:
    with GCSPipelineStore(gcs_env.bucket, "exports", "csv", emulator_host=gcs_env.endpoint) as store:
        uri = store.upload(pd.DataFrame({"subject_id": [10000001], "heart_rate": [80.5]}), "vitals")
        assert uri == f"gs://{gcs_env.bucket}/exports/vitals.csv"
        assert store.bucket == gcs_env.bucket
    assert gcs_env.resource("exports/vitals.csv")["contentType"].startswith("text/csv")
