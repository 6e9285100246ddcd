"""Nothing leaks: no output unless logging is configured, no credentials in reprs, errors or logs."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest

from clinops_async import AsyncS3PipelineStore, ClinopsError, S3PipelineStore
from tests.support.servers import ROOT, Server, free_port

if TYPE_CHECKING:
    from pathlib import Path

SECRET_KEY = "SyntheticSecretKey0123456789abcdefEXAMPLE"
SESSION_TOKEN = "SyntheticSessionTokenEXAMPLE0123456789"


def test_library_prints_nothing_unless_logging_is_configured(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import pandas as pd
        from clinops_async import LocalPipelineStore
        def bad_progress(done, total):
            raise RuntimeError("callback bug")
        with LocalPipelineStore({str(tmp_path)!r}) as store:
            store.upload(pd.DataFrame({{"a": [1]}}), "x", progress=bad_progress)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and done.stderr == ""


async def test_credentials_never_appear_in_reprs_errors_or_logs(
    moto: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIASYNTHETICEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_SESSION_TOKEN", SESSION_TOKEN)
    caplog.set_level(logging.DEBUG, logger="clinops_async")
    seen: list[str] = []
    dead = f"http://127.0.0.1:{free_port()}"
    from clinops_async import RetryConfig

    for endpoint in (moto.url, dead):
        store = AsyncS3PipelineStore("no-such-bucket-x", endpoint_url=endpoint,
                                     retry=RetryConfig(max_attempts=2, initial_backoff=0.01))
        seen.append(repr(store))
        async with store:
            for call in (store.download("x"), store.upload(pd.DataFrame({"a": [1]}), "x"), store.list_artifacts()):
                with pytest.raises(ClinopsError) as caught:
                    await call
                seen.extend([str(caught.value), repr(caught.value)])
    facade = S3PipelineStore("no-such-bucket-x", endpoint_url=moto.url)
    seen.append(repr(facade))
    facade.close()
    seen.append(caplog.text)
    text = "\n".join(seen)
    assert SECRET_KEY not in text and SESSION_TOKEN not in text


@pytest.mark.parametrize("kind", ["store", "pipeline"])
async def test_unknown_aws_profile_is_a_configuration_error(kind: str, moto: Server) -> None:
    from clinops_async import AsyncStepFunctionsPipeline, ConfigurationError

    if kind == "store":
        store = AsyncS3PipelineStore("some-bucket", profile="no-such-profile-here", endpoint_url=moto.url)
        with pytest.raises(ConfigurationError, match="no-such-profile-here"):
            await store.exists("x")
    else:
        pipeline = AsyncStepFunctionsPipeline(
            "p", "arn:aws:iam::123456789012:role/R", profile="no-such-profile-here", endpoint_url=moto.url
        )
        with pytest.raises(ConfigurationError, match="no-such-profile-here"):
            await pipeline.list_executions()


async def test_credentials_handed_in_never_appear_in_reprs_or_errors(moto: Server) -> None:
    from clinops_async import GCSPipelineStore, StepFunctionsPipeline
    from clinops_async._stores.gcs.auth import check_credentials

    handed_in: dict[str, Any] = {"aws_access_key_id": "AKIASYNTHETICHANDED", "aws_secret_access_key": SECRET_KEY,
                                 "aws_session_token": SESSION_TOKEN}
    seen: list[str] = []
    store = AsyncS3PipelineStore("no-such-bucket-x", endpoint_url=moto.url, **handed_in)
    seen += [repr(store), repr(store._backend), repr(vars(store._backend))]
    async with store:
        with pytest.raises(ClinopsError) as caught:
            await store.download("x")
        seen += [str(caught.value), repr(caught.value)]
    facade = S3PipelineStore("no-such-bucket-x", endpoint_url=moto.url, **handed_in)
    seen.append(repr(facade))
    facade.close()
    pipeline = StepFunctionsPipeline("p", "arn:aws:iam::123456789012:role/R", endpoint_url=moto.url, **handed_in)
    seen += [repr(pipeline), repr(vars(pipeline._async))]
    pipeline.close()
    key = "-----BEGIN PRIVATE KEY-----\nMIIEsyntheticNotAKey\n-----END PRIVATE KEY-----\n"
    info = {"type": "service_account", "client_email": "a@b.iam.gserviceaccount.com", "private_key": key}
    with pytest.raises(ClinopsError) as refused:
        check_credentials(info, "service_account_info")
    seen.append(str(refused.value))
    gcs = GCSPipelineStore("some-bucket", emulator_host="http://127.0.0.1:1")
    seen.append(repr(gcs))
    gcs.close()
    text = "\n".join(seen)
    assert SECRET_KEY not in text and SESSION_TOKEN not in text and "MIIEsynthetic" not in text
