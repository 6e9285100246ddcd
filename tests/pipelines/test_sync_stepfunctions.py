"""The blocking StepFunctionsPipeline, and every documented snippet run as written against moto.

The snippets reach moto only through the environment (AWS_ENDPOINT_URL and the test credentials),
exactly as a user's script would; the documentation's 9-digit account id becomes 123456789012.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import uuid
from typing import TYPE_CHECKING, Any

import pytest

from clinops_async import ConfigurationError, ExecutionFailedError
from clinops_async._pipelines.pipeline import PollConfig
from clinops_async._pipelines.steps import FailStep, PassStep, WaitStep
from clinops_async._pipelines.sync import StepFunctionsPipeline
from tests.support.stepfunctions import ROLE, lambda_arn

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.servers import Server

pytestmark = pytest.mark.usefixtures("validated_definitions")

BUILD = '''
from clinops_async.orchestrate import StepFunctionsPipeline, PipelineStep
pipeline = StepFunctionsPipeline(
name="clinops-daily-ingest",
role_arn="arn:aws:iam::123456789:role/StepFunctionsRole",
region="us-east-1",
)
pipeline.add_step(PipelineStep(
name="Ingest",
resource="arn:aws:lambda:us-east-1:123456789:function:clinops-ingest",
parameters={"source": "mimic-iv", "date": "2024-01-01"},
timeout_seconds=1800,
))
pipeline.add_step(PipelineStep(
name="Preprocess",
resource="arn:aws:lambda:us-east-1:123456789:function:clinops-preprocess",
retry_attempts=2,
))
pipeline.add_step(PipelineStep(
name="FeatureExtraction",
resource="arn:aws:lambda:us-east-1:123456789:function:clinops-features",
))
'''

INSPECT = '''
print(pipeline.definition_json())
'''

DEPLOY_AND_EXECUTE = '''
# Create or update the state machine in AWS
arn = pipeline.deploy()
# Start an execution
execution_arn = pipeline.execute(
input_data={"date": "2024-01-15"},
execution_name="daily-2024-01-15",
)
'''


def with_real_account(snippet: str) -> str:
    return re.sub(r"\b123456789\b", "123456789012", snippet)


@pytest.fixture
def aws_env(moto: Server, monkeypatch: pytest.MonkeyPatch) -> Server:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("AWS_ENDPOINT_URL_SFN", raising=False)
    return moto


@pytest.fixture
def namespace() -> Iterator[dict[str, Any]]:
    scope: dict[str, Any] = {}
    yield scope
    pipeline = scope.get("pipeline")
    if pipeline is not None:
        pipeline.close()


@pytest.mark.usefixtures("aws_env")
def test_documented_snippets_run_as_written(
    namespace: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    exec(with_real_account(BUILD), namespace)
    exec(INSPECT, namespace)
    shown = json.loads(capsys.readouterr().out)
    assert shown["Comment"] == "clinops-daily-ingest — built by clinops.orchestrate"
    assert shown["StartAt"] == "Ingest"
    ingest = shown["States"]["Ingest"]
    assert ingest["Type"] == "Task" and ingest["Resource"].startswith("arn:aws:lambda:")
    assert ingest["Next"] == "Preprocess"

    exec(DEPLOY_AND_EXECUTE, namespace)
    pipeline = namespace["pipeline"]
    assert namespace["arn"] == "arn:aws:states:us-east-1:123456789012:stateMachine:clinops-daily-ingest"
    assert namespace["execution_arn"].endswith(":execution:clinops-daily-ingest:daily-2024-01-15")
    result = pipeline.wait(namespace["execution_arn"], timeout=30)
    # moto's Lambda echoes its input: Ingest's parameters flow through every step
    assert result.status == "SUCCEEDED"
    assert result.output == {"source": "mimic-iv", "date": "2024-01-01"}
    # running the deploy snippet again updates the machine and returns the same execution
    exec(DEPLOY_AND_EXECUTE, namespace)
    assert namespace["execution_arn"] == result.execution_arn


def test_the_documented_account_id_fails_in_one_clear_line(namespace: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError) as caught:
        exec(BUILD, namespace)
    assert "\n" not in str(caught.value)
    assert "12 digits" in str(caught.value)


def test_duplicate_step_is_a_value_error() -> None:
    from clinops_async.orchestrate import PipelineStep, StepFunctionsPipeline

    with StepFunctionsPipeline("p", ROLE) as pipeline:
        assert pipeline.add_step(PipelineStep("A", lambda_arn("a"))) is pipeline
        with pytest.raises(ValueError):
            pipeline.add_step(PipelineStep("A", lambda_arn("b")))


def test_facade_runs_watches_and_stops(moto: Server) -> None:
    fast = PollConfig(initial_interval=0.05, max_interval=0.2)
    with StepFunctionsPipeline(f"sync-{uuid.uuid4().hex[:8]}", ROLE, endpoint_url=moto.url, poll=fast,
                               max_attempts=1) as pipeline:
        pipeline.add_step(PassStep("Tag", {"stage": "done"}))
        arn = pipeline.deploy()
        assert pipeline.state_machine_arn == arn == pipeline.expected_state_machine_arn()
        result = pipeline.run({"date": "2024-01-15"}, "sync-run-1")
        assert result.output == {"stage": "done"}
        assert pipeline.describe(result.execution_arn) == result
        assert pipeline.history(result.execution_arn)[-1]["type"] == "ExecutionSucceeded"
        assert [e.name for e in pipeline.list_executions("SUCCEEDED", max_results=5)] == ["sync-run-1"]

        pipeline.steps[0] = WaitStep("Tag", 60)
        pipeline.deploy()
        running = pipeline.execute()
        pipeline.stop(running, error="Cancelled")
        assert pipeline.wait(running, timeout=10).status == "ABORTED"

        pipeline.steps[0] = FailStep("Tag", "Broken")
        pipeline.deploy()
        with pytest.raises(ExecutionFailedError) as caught:
            pipeline.run()
        assert caught.value.error == "Broken"
        assert pipeline.run(raise_on_failure=False).status == "FAILED"
        assert "```mermaid" in pipeline._repr_markdown_()
        assert pipeline._repr_mimebundle_()["text/plain"].startswith("StepFunctionsPipeline(")
    pipeline.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        pipeline.deploy()


def test_facade_works_while_an_event_loop_runs(moto: Server) -> None:
    async def notebook_cell() -> Any:
        with StepFunctionsPipeline(f"nb-{uuid.uuid4().hex[:8]}", ROLE, endpoint_url=moto.url) as pipeline:
            pipeline.add_step(PassStep("Hello", {"hello": "notebook"}))
            pipeline.deploy()
            return pipeline.run(timeout=30).output

    assert asyncio.run(notebook_cell()) == {"hello": "notebook"}


def test_facade_close_without_use_and_constructor_errors() -> None:
    with contextlib.closing(StepFunctionsPipeline("p", ROLE)) as pipeline:
        assert pipeline.name == "p" and pipeline.region == "us-east-1" and pipeline.role_arn == ROLE
    with pytest.raises(ConfigurationError):
        StepFunctionsPipeline("p", "arn:aws:iam::123456789:role/StepFunctionsRole")
