"""Requester pays (S3 ``RequestPayer``, GCS ``userProject``) on every request, and credentials handed in
(an aiobotocore session, explicit keys, a refreshable provider; a gcloud-aio-auth token).

A recording proxy stands between the store and the server, so what is checked is what reached it.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from clinops_async import (
    AsyncGCSPipelineStore,
    AsyncS3PipelineStore,
    AsyncStepFunctionsPipeline,
    ClinopsError,
    ConfigurationError,
    PassStep,
)
from tests.support.frames import icu_windows
from tests.support.stepfunctions import ROLE
from tests.support.store_envs import GCSEnv, S3Env
from tests.support.tcp_proxy import TcpProxy

if TYPE_CHECKING:
    from tests.support.servers import Server

SECRET = "SyntheticHandedInSecret0123456789EXAMPLEkey"
TOKEN = "SyntheticHandedInSessionToken/0123456789+EXAMPLE="

_REQUEST = re.compile(rb"(GET|PUT|POST|DELETE|HEAD|PATCH) (\S+) HTTP/1\.1\r\n(.*?)\r\n\r\n", re.S)


def requests(proxy: TcpProxy) -> list[tuple[str, str, str]]:
    """``(method, target, headers)`` of every request the proxy forwarded (headers lower-cased)."""
    return [
        (m.group(1).decode(), m.group(2).decode("latin-1"), m.group(3).decode("latin-1").lower())
        for connection in proxy.connections for m in _REQUEST.finditer(bytes(connection))
    ]


async def exercise(store: Any) -> None:
    """One of each kind of request a store makes."""
    await store.upload(icu_windows(stays=1), "w")
    await store.info("w")
    await store.download("w")
    await store.list_artifacts()
    await store.list_versions("w")
    await store.delete("w")


async def test_requester_pays_goes_with_every_s3_request(moto: Server) -> None:
    s3 = S3Env(moto.url)
    async with TcpProxy(moto.port, record=True) as proxy:
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, requester_pays=True) as store:
            await exercise(store)
            url = await store.signed_url("w")
        sent = requests(proxy)
        assert {method for method, _, _ in sent} >= {"PUT", "GET", "HEAD", "DELETE"}
        # Every operation whose input takes RequestPayer (HeadBucket, for one, does not).
        of_objects = [(method, target, headers) for method, target, headers in sent if target.count("/") > 1
                      or "?" in target]
        assert len(of_objects) >= 6
        assert all("x-amz-request-payer: requester" in headers for _, _, headers in of_objects), sent
    # botocore signs RequestPayer as a header: whoever uses the URL sends "x-amz-request-payer: requester".
    assert "X-Amz-SignedHeaders=host%3Bx-amz-request-payer" in url
    async with TcpProxy(moto.port, record=True) as proxy:
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url) as store:
            await store.upload(icu_windows(stays=1), "w")
        assert not any("x-amz-request-payer" in headers for _, _, headers in requests(proxy))


async def test_user_project_goes_with_every_gcs_request(fake_gcs: Server) -> None:
    gcs = GCSEnv("fake-gcs", fake_gcs.url)
    async with TcpProxy(fake_gcs.port, record=True) as proxy:
        async with AsyncGCSPipelineStore(gcs.bucket, emulator_host=proxy.url, user_project="billing-project") as store:
            await exercise(store)
        sent = requests(proxy)
    assert len(sent) >= 6
    assert all("userProject=billing-project" in target for _, target, _ in sent), sent
    with pytest.raises(ConfigurationError, match="user_project"):
        AsyncGCSPipelineStore(gcs.bucket, user_project="")


def signed_with(proxy: TcpProxy) -> set[str]:
    """The access key ids the requests were signed with."""
    return {m.group(1) for _, _, headers in requests(proxy) for m in re.finditer(r"credential=(\w+)/", headers)}


async def test_explicit_keys_sign_the_requests_and_are_never_shown(
    moto: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    s3 = S3Env(moto.url)
    async with TcpProxy(moto.port, record=True) as proxy:
        store = AsyncS3PipelineStore(
            s3.bucket, endpoint_url=proxy.url, aws_access_key_id="AKIDHANDEDINKEYS01",
            aws_secret_access_key=SECRET, aws_session_token=TOKEN,
        )
        async with store:
            await store.upload(icu_windows(stays=1), "w")
            with pytest.raises(ClinopsError) as caught:
                await store.download("missing")
            shown = [repr(store), repr(store._backend), str(caught.value), repr(caught.value)]
        assert signed_with(proxy) == {"akidhandedinkeys01"}
        assert all(TOKEN.lower() in headers for _, _, headers in requests(proxy))  # X-Amz-Security-Token
    text = "\n".join([*shown, caplog.text])
    assert SECRET not in text and TOKEN not in text


async def test_a_session_of_your_own_makes_the_client(moto: Server) -> None:
    from aiobotocore.session import AioSession

    session = AioSession()
    session.set_credentials("AKIDFROMASESSION02", SECRET)
    s3 = S3Env(moto.url)
    async with TcpProxy(moto.port, record=True) as proxy:
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, session=session) as store:
            await store.upload(icu_windows(stays=1), "w")
        assert signed_with(proxy) == {"akidfromasession02"}


async def test_a_credential_provider_is_asked_again_before_its_credentials_expire(moto: Server) -> None:
    calls: list[datetime] = []

    async def provider() -> dict[str, str]:
        calls.append(datetime.now(UTC))
        # Expiring within botocore's mandatory refresh window (10 minutes): asked before every use.
        expiry = datetime.now(UTC) + timedelta(minutes=5)
        return {"access_key": f"AKIDPROVIDED{len(calls):06d}", "secret_key": SECRET, "token": TOKEN,
                "expiry_time": expiry.isoformat()}

    s3 = S3Env(moto.url)
    async with TcpProxy(moto.port, record=True) as proxy:
        async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, credential_provider=provider) as store:
            await store.upload(icu_windows(stays=1), "w")
            await store.info("w")
        assert len(calls) >= 2
        assert signed_with(proxy) <= {f"akidprovided{n:06d}" for n in range(1, len(calls) + 1)}
        assert len(signed_with(proxy)) >= 2


async def test_a_pipeline_takes_handed_in_keys(moto: Server) -> None:
    async with TcpProxy(moto.port, record=True) as proxy:
        pipeline = AsyncStepFunctionsPipeline(
            "handed-in-keys", ROLE, endpoint_url=proxy.url, max_attempts=1,
            aws_access_key_id="AKIDPIPELINEKEYS03", aws_secret_access_key=SECRET,
        ).add_step(PassStep("P", {"ok": True}))
        async with pipeline:
            await pipeline.deploy()
        assert signed_with(proxy) == {"akidpipelinekeys03"}
    assert SECRET not in repr(pipeline)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"profile": "dev", "aws_access_key_id": "AKIDX", "aws_secret_access_key": SECRET}, "only one way"),
        ({"session": object()}, "aiobotocore session"),
        ({"aws_access_key_id": "AKIDX"}, "aws_secret_access_key"),
        ({"aws_secret_access_key": SECRET}, "aws_access_key_id"),
        ({"aws_access_key_id": "AKIDX", "aws_secret_access_key": SECRET, "aws_session_token": ""}, "session_token"),
        ({"credential_provider": "not callable"}, "credential_provider"),
        ({"requester_pays": "yes"}, "requester_pays"),
    ],
)
def test_bad_credentials_are_refused_before_any_io_without_showing_them(
    options: dict[str, Any], message: str
) -> None:
    for make in (
        lambda: AsyncS3PipelineStore("some-bucket", **options),
        lambda: AsyncStepFunctionsPipeline("p", ROLE, **{k: v for k, v in options.items() if k != "requester_pays"}),
    ):
        if "requester_pays" in options and make.__code__.co_names.count("AsyncStepFunctionsPipeline"):
            continue
        with pytest.raises(ConfigurationError, match=message) as caught:
            make()
        assert SECRET not in str(caught.value)


async def test_a_gcs_token_of_your_own_authorises_every_request(fake_gcs: Server) -> None:
    from gcloud.aio.auth import Token

    class FixedToken(Token):  # stands in for Google's token service, which is not reachable here
        def __init__(self) -> None:
            super().__init__(service_file=None)
            self.asked = 0

        async def get(self) -> str:
            self.asked += 1
            return "synthetic-access-token-xyz"

    token = FixedToken()
    gcs = GCSEnv("fake-gcs", fake_gcs.url)
    async with TcpProxy(fake_gcs.port, record=True) as proxy:
        # endpoint_url, not emulator_host: a real endpoint, so credentials are sent.
        async with AsyncGCSPipelineStore(gcs.bucket, endpoint_url=proxy.url, token=token) as store:
            await store.upload(icu_windows(stays=1), "w")
            await store.download("w")
            assert "synthetic-access-token-xyz" not in repr(store) + repr(store._backend)
        sent = requests(proxy)
    assert token.asked == len(sent) >= 2
    assert all("authorization: bearer synthetic-access-token-xyz" in headers for _, _, headers in sent)
    with pytest.raises(ConfigurationError, match="only one way"):
        AsyncGCSPipelineStore(gcs.bucket, token=token, credentials_path="key.json")
    with pytest.raises(ConfigurationError, match="Token"):
        AsyncGCSPipelineStore(gcs.bucket, token="a-token-string")
