"""Helpers and fixtures for the Step Functions tests: asl-validator, moto's Lambda stand-in, ARNs.

asl-validator (npm, v4) checks every definition a test renders: it is installed into the
project-local ``.tools/node_modules`` (``npm install --prefix .tools asl-validator@4.0.0``, done here
on first use when npm can reach its registry) and runs as one node process per test session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from clinops_async._stepfunctions import AsyncStepFunctionsPipeline

__all__ = [
    "ACCOUNT",
    "ROLE",
    "AslValidator",
    "asl_validator",
    "lambda_arn",
    "queue_lambda_results",
    "validated_definitions",
]

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("CLINOPS_TOOLS_DIR", ROOT / ".tools"))
ASL_VALIDATOR_VERSION = "4.0.0"
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


class AslValidator:
    """One long-lived ``node`` process running asl-validator over definitions sent line by line.

    asl-validator compiles its JSON schemas on every call (about 0.3 s), so answers are cached by
    definition text.
    """

    def __init__(self, node: str, tools: Path) -> None:
        self._lock = threading.Lock()
        self._answers: dict[str, str | None] = {}
        self._process = subprocess.Popen(
            [node, str(ROOT / "tests" / "asl_validate.cjs"), str(tools)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, encoding="utf-8",
        )

    def errors(self, definition: dict[str, Any]) -> str | None:
        """None when ``definition`` is valid ASL, else asl-validator's error text."""
        assert self._process.stdin is not None and self._process.stdout is not None
        text = json.dumps(definition)
        with self._lock:
            if text not in self._answers:
                self._process.stdin.write(text + "\n")
                self._process.stdin.flush()
                answer = json.loads(self._process.stdout.readline())
                self._answers[text] = None if answer["valid"] else str(answer["errors"])
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


def _ensure_asl_validator() -> tuple[str, Path]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed, so asl-validator (npm) cannot check the definitions")
    if not (TOOLS / "node_modules" / "asl-validator" / "package.json").exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail(f"asl-validator is missing from {TOOLS} and npm is not installed to add it")
        done = subprocess.run(
            [npm, "install", "--prefix", str(TOOLS), "--no-save", "--no-audit", "--no-fund",
             f"asl-validator@{ASL_VALIDATOR_VERSION}"],
            capture_output=True, text=True, timeout=300,
        )
        if done.returncode != 0:
            pytest.fail(f"could not install asl-validator into {TOOLS}: {done.stderr[-2000:]}")
    return node, TOOLS


@pytest.fixture(scope="session")
def asl_validator() -> Iterator[AslValidator]:
    node, tools = _ensure_asl_validator()
    validator = AslValidator(node, tools)
    try:
        yield validator
    finally:
        validator.close()


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
