"""Fixtures of the command-line tests."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

from tests.support.cli import CLI_SECRET
from tests.support.servers import ROOT

if TYPE_CHECKING:
    from tests.support.servers import Server


@pytest.fixture
def env(moto: Server) -> dict[str, str]:
    """An environment that points the command line at moto, with test credentials and nothing else of AWS."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "FORCE_COLOR", "TTY_COMPATIBLE"))}
    clean.update(AWS_ENDPOINT_URL=moto.url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY=CLI_SECRET,
                 AWS_DEFAULT_REGION="us-east-1", PYTHONPATH=str(ROOT))
    return clean
