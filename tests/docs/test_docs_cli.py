"""The examples of docs/cli.md run as written, in an empty directory, with the local store."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from tests.support.servers import ROOT

if TYPE_CHECKING:
    from pathlib import Path

DOC = ROOT / "docs" / "cli.md"


def examples() -> str:
    text = DOC.read_text(encoding="utf-8").split("## Examples", 1)[1]
    found = re.search(r"```bash\n(.*?)```", text, re.S)
    assert found, "docs/cli.md has no bash block under '## Examples'"
    return found.group(1)


@pytest.mark.slow  # a whole documented shell session, one subprocess per command
def test_documented_examples_run_as_written(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("clinops-async", f'exec "{sys.executable}" -m clinops_async "$@"'),
                          ("python", f'exec "{sys.executable}" "$@"')):
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\n{command}\n")
        shim.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", examples()], cwd=work, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "[None, 480]" in done.stdout  # ls --json: rows of the local CSV (unknown) and the Parquet copy
    assert not (work / "copy" / "features" / "windows_2024_01.csv").exists()
    assert (work / "copy" / "features" / "windows_2024_01.parquet").exists()
