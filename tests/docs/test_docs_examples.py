"""Every ```python block of README.md and docs/ runs, as written, against the local servers.

The convention (also in docs/development.md):

- The blocks of one page run in order in one namespace, so a later block may use what an earlier one
  made. `windows_df` is given: synthetic ICU feature windows (`clinops_async.synthetic.icu_windows`).
- A block may use top-level `await` and `async with`, as in a notebook cell or `python -m asyncio`:
  such a block runs as the body of a coroutine, on one event loop per page, with its names landing in
  the page's namespace.
- S3 and Step Functions examples reach moto only through `AWS_ENDPOINT_URL` and test credentials; GCS
  examples reach gcp-storage-emulator only through `STORAGE_EMULATOR_HOST`. The bucket the examples
  name, `my-clinical-bucket`, exists (empty) on both. Nothing in a block is rewritten.
- On the pages in NOTEBOOK_PAGES every block runs inside the running event loop, as a Jupyter cell
  does, so blocking calls there are tested where a loop is already running.
- The working directory is an empty temporary directory, so relative paths stay inside it.
- A block that cannot run here is marked by an HTML comment right before it, with the reason:
  `<!-- not-run: needs real AWS credentials -->`. Use it sparingly.
- Blocking stores and pipelines a page leaves open are closed after it: the original API's snippets
  never close theirs, and a page may rebind `store` to another one.

The ```bash blocks of the pages in SHELL_PAGES run too, in order, as one `bash -euo pipefail` script
with `clinops-async` and `python` on the PATH, in the same environment (not-run markers apply).

Pages with a test of their own are left out here: docs/pipelines.md (tests/docs/test_docs_pipelines.py,
which also compares its printed JSON and diagram) and docs/cli.md (tests/docs/test_docs_cli.py, shell).
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import inspect
import io
import os
import re
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from clinops_async import _portal
from tests.support.servers import ROOT
from tests.support.store_envs import gcs_create_bucket

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

#: Pages tested elsewhere, with where.
OWN_TESTS = {
    "docs/pipelines.md": "tests/docs/test_docs_pipelines.py",
    "docs/cli.md": "tests/docs/test_docs_cli.py",
}
#: Pages whose blocks all run inside the page's running event loop, as notebook cells do.
NOTEBOOK_PAGES = ["docs/notebooks.md"]
#: Pages whose shell examples run as well (a walk-through that must work as a whole).
SHELL_PAGES = ["docs/getting-started.md"]
BUCKET = "my-clinical-bucket"
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w+-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.S | re.M)
NOT_RUN = re.compile(r"<!--\s*not-run:(?P<reason>[^>]*?)-->\s*\Z")


@dataclass(frozen=True)
class Block:
    page: str
    line: int
    code: str
    not_run: str | None


def pages() -> list[str]:
    found = ["README.md", *(str(p.relative_to(ROOT)) for p in sorted((ROOT / "docs").rglob("*.md")))]
    return [p for p in found if p not in OWN_TESTS]


def blocks(page: str, language: str = "python") -> list[Block]:
    text = (ROOT / page).read_text(encoding="utf-8")
    found: list[Block] = []
    for match in FENCE.finditer(text):
        lang = match.group("lang")
        line = text.count("\n", 0, match.start()) + 1
        if lang in ("py", "python3", "pycon", "ipython"):
            pytest.fail(f"{page}:{line}: write ```python, so the block is tested")
        if lang != language:
            continue
        if match.group("indent"):
            pytest.fail(f"{page}:{line}: an indented ```{language} block is not tested; move it to the margin")
        marker = NOT_RUN.search(text[: match.start()].rstrip() + "\n")
        reason = None
        if marker:
            reason = marker.group("reason").strip()
            if not reason:
                pytest.fail(f"{page}:{line}: a not-run marker must say why")
        if reason is None and re.search(r"[\"'](?:file://)?/tmp/|[\"']file:///", match.group("body")):
            pytest.fail(f"{page}:{line}: use a relative local path; examples run in a temporary directory")
        found.append(Block(page, line, match.group("body"), reason))
    return found


@pytest.fixture
def servers(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """moto and gcp-storage-emulator with an empty `my-clinical-bucket`, reached through the environment."""
    page: str = request.node.callspec.params["page"]
    text = (ROOT / page).read_text(encoding="utf-8")
    moto = request.getfixturevalue("moto")
    import boto3  # type: ignore[import-untyped]

    boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1").create_bucket(Bucket=BUCKET)
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SFN", "AWS_PROFILE", "AWS_SESSION_TOKEN",
                 "GOOGLE_APPLICATION_CREDENTIALS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    if "GCS" in text or "gs://" in text:
        gcs = request.getfixturevalue("gcs_emulator")
        urllib.request.urlopen(f"{gcs.url}/wipe", timeout=30).close()
        gcs_create_bucket(gcs.url, BUCKET)
        monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    if "StepFunctionsPipeline" in text:
        request.getfixturevalue("validated_definitions")  # asl-validator checks every definition built
    monkeypatch.chdir(tmp_path)
    opened: list[Any] = []
    start = _portal.Facade._start

    def keeping(self: _portal.Facade, async_twin: Any) -> None:
        start(self, async_twin)
        opened.append(self)

    monkeypatch.setattr(_portal.Facade, "_start", keeping)
    try:
        yield
    finally:
        for facade in opened:
            facade.close()


async def _as_cell(code: Any, namespace: dict[str, Any]) -> None:
    """Run ``code`` the way Jupyter runs a cell: inside the running event loop."""
    asyncio.get_running_loop()
    result = eval(code, namespace)
    if inspect.iscoroutine(result):
        await result


def _close_async_left_open(namespace: dict[str, Any], runner: asyncio.Runner) -> None:
    for value in list(namespace.values()):
        if type(value).__module__.startswith("clinops_async") and inspect.iscoroutinefunction(
            getattr(value, "aclose", None)
        ):
            runner.run(value.aclose())


@pytest.mark.parametrize("page", [p for p in pages() if blocks(p)])
@pytest.mark.usefixtures("servers")
def test_page_examples_run(page: str) -> None:
    from clinops_async.synthetic import icu_windows

    namespace: dict[str, Any] = {"__name__": "__docs__", "windows_df": icu_windows(stays=4, hours=12)}
    ran = 0
    with asyncio.Runner() as runner:
        try:
            for block in blocks(page):
                if block.not_run is not None:
                    continue
                where = f"{page}:{block.line}"
                code = compile(block.code, where, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                with contextlib.redirect_stdout(io.StringIO()):
                    if page in NOTEBOOK_PAGES:
                        runner.run(_as_cell(code, namespace))
                    else:
                        result = eval(code, namespace)
                        if inspect.iscoroutine(result):
                            runner.run(result)
                ran += 1
        finally:
            _close_async_left_open(namespace, runner)
    assert ran, f"{page}: every block is marked not-run"


@pytest.mark.slow  # a whole documented shell session, one subprocess per command
@pytest.mark.parametrize("page", SHELL_PAGES)
@pytest.mark.usefixtures("servers")
def test_page_shell_examples_run(page: str, tmp_path: Path) -> None:
    script = "\n".join(b.code for b in blocks(page, "bash") if b.not_run is None)
    assert script, f"{page} has no shell block to run"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, command in (("clinops-async", f'exec "{sys.executable}" -m clinops_async "$@"'),
                          ("python", f'exec "{sys.executable}" "$@"')):
        shim = bin_dir / name
        shim.write_text(f"#!/bin/sh\n{command}\n")
        shim.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    if page == "docs/getting-started.md":
        assert "copy bytes" in done.stderr, "cp --progress drew no progress bar"
        assert ": SUCCEEDED in " in done.stdout, "the pipeline run did not succeed"


def test_every_page_is_tested_somewhere() -> None:
    for page, test in OWN_TESTS.items():
        assert (ROOT / test).is_file(), f"{page} is said to be tested by {test}, which does not exist"
    untested = [b for p in pages() for b in blocks(p) if b.not_run is not None]
    assert len(untested) <= 3, f"too many not-run blocks: {[(b.page, b.line, b.not_run) for b in untested]}"


def test_api_pages_cover_every_public_name() -> None:
    import clinops_async
    import clinops_async.orchestrate

    documented = {m.group(1) for p in (ROOT / "docs" / "api").glob("*.md")
                  for m in re.finditer(r"^::: ([\w.]+)", p.read_text(encoding="utf-8"), re.M)}
    missing = [n for n in clinops_async.__all__ if n != "__version__" and f"clinops_async.{n}" not in documented]
    assert not missing, f"public names without an API entry in docs/api/: {missing}"
    assert "clinops_async.orchestrate" in documented
    for name in clinops_async.orchestrate.__all__:
        assert getattr(clinops_async.orchestrate, name) is getattr(clinops_async, name), name
