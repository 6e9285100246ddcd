"""DEBUG logging never writes a credential: every library our clients use, against the real moto server.

A subprocess configures the root logger at DEBUG (as someone chasing a problem would), with synthetic
credentials (a secret key, a session token) and an endpoint URL that carries a password, then uploads,
lists, reads and deletes through S3. Everything logged is scanned. The same script with
``CLINOPS_LOG_REDACTION=0`` shows that these secrets are really there to be found.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import textwrap
from urllib.parse import urlsplit

import pytest

from clinops_async._redaction import RedactingFilter, redact
from tests.support.servers import ROOT, Server
from tests.support.store_envs import S3Env

SECRET_KEY = "SyntheticSecretKeyForLogs0123456789EXAMPLE"
SESSION_TOKEN = "SyntheticSessionTokenForLogs/abc+def=0123456789EXAMPLE"
URL_PASSWORD = "SyntheticUrlPassword42"

_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    import pandas as pd
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    from clinops_async import ClinopsError, RetryConfig, S3PipelineStore
    bucket, endpoint, with_password = sys.argv[1:]
    with S3PipelineStore(bucket, "logs", endpoint_url=endpoint) as store:
        store.upload(pd.DataFrame({"a": [1, 2]}), "x")
        assert store.list_artifacts() == ["x"]
        store.download("x")
        store.delete("x")
        try:
            store.info("x")
        except FileNotFoundError:
            logging.getLogger("botocore.test").debug("failed", exc_info=True)
    # aiohttp refuses a password in the URL beside a signature, but botocore logs the URL first.
    with S3PipelineStore(bucket, endpoint_url=with_password, retry=RetryConfig(max_attempts=1)) as store:
        try:
            store.info("x")
        except ClinopsError:
            logging.getLogger("clinops_async").debug("failed", exc_info=True)
    """
)

#: A SigV4 signature, wherever botocore writes it: "Signature=<hex>" or "Signature:\\n<hex>".
_SIGNATURE = re.compile(r"(?i)signature[=:]\s*[0-9a-f]{64}")


def _run(moto: Server, **extra: str) -> str:
    s3 = S3Env(moto.url)
    parts = urlsplit(moto.url)
    with_password = f"{parts.scheme}://clinops:{URL_PASSWORD}@{parts.netloc}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLINOPS_"))}
    env.update(AWS_ACCESS_KEY_ID="AKIASYNTHETICLOGS", AWS_SECRET_ACCESS_KEY=SECRET_KEY,
               AWS_SESSION_TOKEN=SESSION_TOKEN, AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(ROOT), **extra)
    done = subprocess.run([sys.executable, "-c", _SCRIPT, s3.bucket, moto.url, with_password], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr


def test_debug_logs_of_every_client_library_hold_no_credential(moto: Server) -> None:
    log = _run(moto)
    assert "botocore.endpoint" in log and "Traceback" in log  # requests and a traceback were logged
    assert "'Authorization': b'****'" in log or "'Authorization': '****'" in log
    for secret in (SECRET_KEY, SESSION_TOKEN, URL_PASSWORD):
        assert secret not in log
    assert not _SIGNATURE.search(log), _SIGNATURE.search(log)


def test_without_redaction_the_same_logs_would_leak(moto: Server) -> None:
    log = _run(moto, CLINOPS_LOG_REDACTION="0")
    assert SESSION_TOKEN in log and URL_PASSWORD in log and _SIGNATURE.search(log)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{'Authorization': b'AWS4-HMAC-SHA256 Credential=AKIA/x, Signature=abc', 'X-Amz-Security-Token': b'tok'}",
         "{'Authorization': b'****', 'X-Amz-Security-Token': b'****'}"),
        ("x-amz-security-token:tok\nhost:h", "x-amz-security-token:****\nhost:h"),
        ("GET https://u:pw@h/k?X-Amz-Signature=ab&X-Amz-Credential=c&x=1",
         "GET https://****@h/k?X-Amz-Signature=****&X-Amz-Credential=****&x=1"),
        ('{"access_token": "ya29.a0", "client_secret": "cs", "expires_in": 3599}',
         '{"access_token": "****", "client_secret": "****", "expires_in": 3599}'),
        ("Authorization: Bearer ya29.token", "Authorization: ****"),
        ("<SessionToken>t</SessionToken><SecretAccessKey>s</SecretAccessKey>",
         "<SessionToken>****</SessionToken><SecretAccessKey>****</SecretAccessKey>"),
        ('"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE\\n-----END PRIVATE KEY-----\\n"',
         '"private_key": "****"'),
        ("Signature:\n" + "a" * 64, "Signature:\n****"),
        ("listing s3://bucket/prefix/ with 3 keys", "listing s3://bucket/prefix/ with 3 keys"),
    ],
)
def test_redact_masks_each_kind_of_secret_and_nothing_else(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_the_filter_redacts_a_record_with_arguments_and_a_traceback() -> None:
    try:
        raise RuntimeError("http://u:pw@host")
    except RuntimeError:
        record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "headers %s", ({"Authorization": "AWS4 s"},),
                                   sys.exc_info())
    assert RedactingFilter().filter(record) is True
    assert record.getMessage() == "headers {'Authorization': '****'}"
    assert record.exc_text is not None and "pw" not in record.exc_text and "RuntimeError" in record.exc_text


_HANDED_IN_SCRIPT = textwrap.dedent(
    """
    import logging, sys
    from datetime import datetime, timedelta, timezone
    import pandas as pd
    logging.basicConfig(level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
    from clinops_async import ClinopsError, S3PipelineStore
    bucket, endpoint, secret, token = sys.argv[1:]

    async def provider():
        expiry = datetime.now(timezone.utc) + timedelta(minutes=5)
        return {"access_key": "AKIAPROVIDEDLOGS", "secret_key": secret, "token": token,
                "expiry_time": expiry.isoformat()}

    handed_in = [dict(aws_access_key_id="AKIAHANDEDINLOGS", aws_secret_access_key=secret, aws_session_token=token),
                 dict(credential_provider=provider)]
    for credentials in handed_in:
        with S3PipelineStore(bucket, "logs", endpoint_url=endpoint, **credentials) as store:
            store.upload(pd.DataFrame({"a": [1, 2]}), "x")
            store.download("x")
            logging.getLogger("clinops_async").debug("signed %s", store.signed_url("x"))
            logging.getLogger("clinops_async").debug("store %r credentials %r", store, credentials)
            try:
                store.info("missing")
            except ClinopsError:
                logging.getLogger("botocore.test").debug("failed", exc_info=True)
    """
)


def test_debug_logs_hold_no_credential_handed_in_to_a_store(moto: Server) -> None:
    """Keys and a provider's answers given in code are masked as environment credentials are."""
    secret, token = "SyntheticHandedInSecretForLogs0123456789", "SyntheticHandedInTokenForLogs/xyz+0123="
    s3 = S3Env(moto.url)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CLINOPS_"))}
    env.update(AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", _HANDED_IN_SCRIPT, s3.bucket, moto.url, secret, token], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    log = done.stderr
    assert "botocore.endpoint" in log and "clinops_async DEBUG signed http" in log and "credentials {" in log
    assert secret not in log and token not in log
    assert not _SIGNATURE.search(log), _SIGNATURE.search(log)
