"""Shared fixtures: one real local server per test session, isolated per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.backends import LocalEnv, S3Env, StoreEnv
from tests.servers import Server, moto_reset, start_moto

pytest_plugins = ["tests.sfn_helpers"]

AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="session")
def moto_server() -> Iterator[Server]:
    for key, value in AWS_TEST_ENV.items():
        os.environ.setdefault(key, value)
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(key, None)
    server = start_moto()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def moto(moto_server: Server) -> Server:
    """The moto server, with all state from earlier tests cleared."""
    moto_reset(moto_server.url)
    return moto_server


@pytest.fixture
def bucket_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


# -- one behavioural suite over every store backend ------------------------------------------------
#
# A backend is a name in STORE_BACKENDS and a branch in `store_env`; tests that take `store_env`
# run once per backend. `store_env.make(prefix=..., **options)` returns a fresh async store on an
# isolated bucket (or directory), and `store_env.raw` gives byte-level access for the tests that
# must inspect or damage what is stored.

STORE_BACKENDS = ["local", "s3"]


@pytest.fixture(params=STORE_BACKENDS)
def store_env(request: pytest.FixtureRequest, tmp_path: Path) -> StoreEnv:
    backend = request.param
    if backend == "local":
        return LocalEnv(tmp_path / "store")
    if backend == "s3":
        server = request.getfixturevalue("moto")
        return S3Env(server.url)
    raise AssertionError(backend)
