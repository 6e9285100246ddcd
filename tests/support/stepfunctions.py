"""Helpers and fixtures for the Step Functions tests: asl-validator, mermaid, moto's Lambda, ARNs.

asl-validator (npm, v4) checks every definition a test renders, and mermaid's own parser checks the
drawings. Both live in the project-local ``.tools/node_modules`` (installed here on first use when npm
can reach its registry; see ``NPM_TOOLS``), and each runs as one node process per test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from clinops_async._pipelines.pipeline import AsyncStepFunctionsPipeline

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "ACCOUNT",
    "ROLE",
    "AslValidator",
    "MermaidParser",
    "asl_validator",
    "lambda_arn",
    "mermaid_parser_fixture",
    "queue_lambda_results",
    "validated_definitions",
]

ROOT = Path(__file__).resolve().parents[2]
TOOLS = Path(os.environ.get("CLINOPS_TOOLS_DIR", ROOT / ".tools"))
#: The npm packages the tests use, installed together (npm prunes what an install does not name).
NPM_TOOLS = {"asl-validator": "4.0.0", "mermaid": "11.17.2", "jsdom": "29.1.1"}
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/StepFunctionsRole"


def lambda_arn(function: str, region: str = "us-east-1") -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT}:function:{function}"


def queue_lambda_results(url: str, *results: Any, region: str = "us-east-1") -> None:
    """Queue what moto's stand-in Lambda returns next (first in, first out; then it echoes its input)."""
    body = json.dumps({"results": [json.dumps(r) for r in results], "region": region}).encode()
    request = urllib.request.Request(f"{url}/moto-api/static/lambda-simple/response", data=body,
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).close()


class _LineTool:
    """One long-lived ``node`` process answering one JSON line per JSON line sent, with a cache."""

    def __init__(self, node: str, script: str, tools: Path) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, dict[str, Any]] = {}
        self._process = subprocess.Popen(
            [node, str(ROOT / "tests" / "support" / script), str(tools)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )

    def ask(self, question: Any) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        text = json.dumps(question)
        with self._lock:
            if text not in self._answers:
                self._process.stdin.write(text + "\n")
                self._process.stdin.flush()
                line = self._process.stdout.readline()
                if not line:
                    raise RuntimeError(f"the node helper exited with {self._process.poll()}")
                self._answers[text] = json.loads(line)
            return self._answers[text]

    def close(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(5)
        if self._process.stdout is not None:
            self._process.stdout.close()


class AslValidator(_LineTool):
    """asl-validator over definitions sent line by line.

    asl-validator compiles its JSON schemas on every call (about 0.3 s), so answers are cached by
    definition text.
    """

    def __init__(self, node: str, tools: Path) -> None:
        super().__init__(node, "asl_validate.cjs", tools)

    def errors(self, definition: dict[str, Any]) -> str | None:
        """None when ``definition`` is valid ASL, else asl-validator's error text."""
        answer = self.ask(definition)
        return None if answer["valid"] else str(answer["errors"])


class MermaidParser(_LineTool):
    """mermaid's own parser (run in jsdom) over charts sent line by line."""

    def __init__(self, node: str, tools: Path) -> None:
        super().__init__(node, "mermaid_parse.mjs", tools)

    def errors(self, chart: str) -> str | None:
        """None when mermaid parses ``chart`` as a flowchart, else its error text."""
        answer = self.ask(chart)
        if not answer["valid"]:
            return str(answer["errors"])
        if answer.get("type") != "flowchart-v2":
            return f"parsed as {answer.get('type')!r}, not as a flowchart"
        return None


def _ensure_node_tools() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so asl-validator and mermaid (npm) cannot check the output")
    missing = [name for name in NPM_TOOLS if not (TOOLS / "node_modules" / name / "package.json").exists()]
    if missing:
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"{', '.join(missing)} missing from {TOOLS}, and npm is not installed to add them")
        done = subprocess.run(
            [npm, "install", "--prefix", str(TOOLS), "--no-save", "--no-audit", "--no-fund",
             *(f"{name}@{version}" for name, version in NPM_TOOLS.items())],
            capture_output=True, text=True, timeout=600,
        )
        if done.returncode != 0:
            pytest.fail(f"could not install {', '.join(NPM_TOOLS)} into {TOOLS}: {done.stderr[-2000:]}")
    return node, TOOLS


@pytest.fixture(scope="session")
def asl_validator() -> Iterator[AslValidator]:
    node, tools = _ensure_node_tools()
    validator = AslValidator(node, tools)
    try:
        yield validator
    finally:
        validator.close()


@pytest.fixture(scope="session", name="mermaid_parser")
def mermaid_parser_fixture() -> Iterator[MermaidParser]:
    node, tools = _ensure_node_tools()
    parser = MermaidParser(node, tools)
    try:
        yield parser
    finally:
        parser.close()


@pytest.fixture
def validated_definitions(
    asl_validator: AslValidator, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[dict[str, Any]]]:
    """Record every definition rendered during the test and check each with asl-validator at the end."""
    rendered: list[dict[str, Any]] = []
    original = AsyncStepFunctionsPipeline.definition

    def recording(self: AsyncStepFunctionsPipeline) -> dict[str, Any]:
        definition = original(self)
        rendered.append(json.loads(json.dumps(definition)))
        return definition

    monkeypatch.setattr(AsyncStepFunctionsPipeline, "definition", recording)
    yield rendered
    for definition in rendered:
        errors = asl_validator.errors(definition)
        assert errors is None, f"asl-validator rejects {json.dumps(definition)[:300]}...: {errors}"
