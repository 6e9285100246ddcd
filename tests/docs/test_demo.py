"""`make demo` keeps working: the tour runs end to end (small) and reports every leg."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.support.servers import ROOT

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.slow  # starts every local server in a subprocess
def test_demo_tour_runs_every_leg(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "clinops_async.demo", "--root", str(tmp_path / "store"),
         "--stays", "12", "--hours", "6"],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    for leg in ("local  up 12/12", "s3     up 12/12", "gcs    up 12/12", "projection", "SUCCEEDED"):
        assert leg in out, out
    assert "FAILED" not in out
