"""docs/pipelines.md runs as written: its Python blocks, in order, against moto via the environment.

A ```json block right after a Python block must equal what that block printed, and the ```mermaid
block must be what the finished pipeline draws. A block right after a ``<!-- not-run: reason -->``
marker is not run (an API the local stand-in lacks; docs/testing.md), as on the other pages.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tests.support.servers import Server
    from tests.support.stepfunctions import MermaidParser

pytestmark = pytest.mark.usefixtures("validated_definitions")

DOC = Path(__file__).resolve().parents[2] / "docs" / "pipelines.md"
BLOCK = re.compile(r"(<!--\s*not-run:[^>]*-->\n)?^```(\w+)\n(.*?)^```", re.S | re.M)

async def _put_artifacts(url: str) -> None:
    import aiobotocore.session

    session = aiobotocore.session.get_session()
    async with session.create_client("s3", endpoint_url=url, region_name="us-east-1") as s3:
        await s3.create_bucket(Bucket="my-clinical-bucket")
        for key in (
            "clinops/prod/features/windows_2024_01.parquet",
            "clinops/prod/features/windows_2024_02.parquet",
            "clinops/prod/labels/labels_2024_01.parquet",
        ):
            await s3.put_object(Bucket="my-clinical-bucket", Key=key, Body=b"synthetic")


def test_docs_pipelines_run_as_written(
    moto: Server, monkeypatch: pytest.MonkeyPatch, mermaid_parser: MermaidParser
) -> None:
    import asyncio

    asyncio.run(_put_artifacts(moto.url))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SFN", raising=False)

    blocks = BLOCK.findall(DOC.read_text(encoding="utf-8"))
    namespace: dict[str, Any] = {"__name__": "docs_pipelines"}
    printed = ""
    ran = 0
    try:
        for not_run, language, text in blocks:
            if language == "python" and not_run:
                continue
            if language == "python":
                out = io.StringIO()
                with contextlib.redirect_stdout(out):
                    exec(compile(text, f"{DOC.name} block {ran}", "exec"), namespace)
                printed = out.getvalue()
                ran += 1
            elif language == "json":
                assert json.loads(printed) == json.loads(text), (
                    "a json block differs from the output above it"
                )
    finally:
        pipeline = namespace.get("pipeline")
        if pipeline is not None:
            pipeline.close()
    assert ran >= 8
    mermaid = next(text for _, language, text in blocks if language == "mermaid")
    assert namespace["pipeline"].to_mermaid() == mermaid
    assert mermaid_parser.errors(mermaid) is None
    assert namespace["keys"] == [
        "clinops/prod/features/windows_2024_01.parquet",
        "clinops/prod/features/windows_2024_02.parquet",
    ]
