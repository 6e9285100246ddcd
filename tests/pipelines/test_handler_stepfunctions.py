"""Artifact handlers in a state machine run by moto's interpreter.

moto runs a Lambda function's code only in Docker; its stand-in Lambda returns queued results. So
each step's handler runs here, on the event the state machine will send it (computed beforehand,
since the names are deterministic), its reference is queued as that Lambda's result, and the run
must then send every Lambda exactly the event the handler was given and end with the last reference.
"""

from __future__ import annotations

import io
import json
import uuid
from typing import TYPE_CHECKING, Any

import anyio
import pytest

from clinops_async._pipelines.pipeline import AsyncStepFunctionsPipeline, PollConfig
from clinops_async._pipelines.steps import MapStep, PipelineStep
from clinops_async.handler import (
    RETRYABLE_STEP_ERRORS,
    STEP_INPUT_ERRORS,
    artifact_handler,
    map_item_selector,
    step_parameters,
)
from tests.support.stepfunctions import ROLE, lambda_arn, queue_lambda_results
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

    import pandas as pd

    from tests.support.servers import Server

pytestmark = pytest.mark.usefixtures("validated_definitions")


@pytest.fixture
async def pipeline(moto: Server) -> AsyncIterator[AsyncStepFunctionsPipeline]:
    built = AsyncStepFunctionsPipeline(f"artifacts-{uuid.uuid4().hex[:8]}", ROLE, endpoint_url=moto.url,
                                       poll=PollConfig(initial_interval=0.05, max_interval=0.2), max_attempts=1)
    async with built:
        yield built


def lambda_inputs(history: list[dict[str, Any]]) -> list[Any]:
    return [json.loads(e["lambdaFunctionScheduledEventDetails"]["input"])
            for e in history if e["type"] == "LambdaFunctionScheduled"]


def artifact_step(name: str, **options: Any) -> PipelineStep:
    return PipelineStep(name, lambda_arn(f"clinops-{name.lower()}"), step_parameters(),
                        retry_on=[*RETRYABLE_STEP_ERRORS, "Lambda.ServiceException"], **options)


async def test_three_steps_pass_references_through_the_state_machine(
    pipeline: AsyncStepFunctionsPipeline, moto: Server
) -> None:
    env = S3Env(moto.url)
    store = f"s3://{env.bucket}/runs"
    options = {"endpoint_url": moto.url}

    @artifact_handler(store, store_options=options)
    def clean(vitals: pd.DataFrame) -> pd.DataFrame:
        return vitals.dropna()

    @artifact_handler(store, store_options=options)
    def features(clean: pd.DataFrame) -> pd.DataFrame:
        return clean.groupby("patient_id", as_index=False).agg(mean_hr=("heart_rate", "mean"))

    @artifact_handler(store, store_options=options)
    def cohort(features: pd.DataFrame) -> pd.DataFrame:
        return features[features["mean_hr"] > 61]

    env.client.put_object(Bucket=env.bucket, Key="raw/vitals.csv", Body=b"patient_id,heart_rate\nP1,60\nP1,\nP2,70\n")
    raw = f"s3://{env.bucket}/raw/vitals.csv"
    pipeline.add_step(artifact_step("Clean", catch=None)).add_step(artifact_step("Features")).add_step(
        artifact_step("Cohort"))
    await pipeline.deploy()

    execution = f"run-{uuid.uuid4().hex[:8]}"
    sent: list[tuple[dict[str, Any], Any]] = []
    previous: Any = raw
    for state, step in (("Clean", clean), ("Features", features), ("Cohort", cohort)):
        event = {"input": previous, "step_context": {"execution": execution, "state": state}}
        previous = await step.run_async(event)
        sent.append((event, previous))
    queue_lambda_results(moto.url, *(reference for _, reference in sent))

    result = await pipeline.run(raw, execution)

    assert lambda_inputs(await pipeline.history(result.execution_arn)) == [event for event, _ in sent]
    assert result.output == sent[-1][1]
    assert result.output["uri"] == f"{store}/{execution}/Cohort/cohort.parquet" and result.output["rows"] == 1


async def test_a_map_gives_each_item_its_own_output(pipeline: AsyncStepFunctionsPipeline, moto: Server) -> None:
    env = S3Env(moto.url)
    store = f"s3://{env.bucket}/runs"

    @artifact_handler(store, name="daily", store_options={"endpoint_url": moto.url})
    def daily(day: pd.DataFrame) -> pd.DataFrame:
        return day.tail(1)

    days = []
    for day in range(3):
        key = f"raw/2024-01-{day + 1:02d}.csv"
        env.client.put_object(Bucket=env.bucket, Key=key, Body=f"hour,hr\n0,{60 + day}\n1,{61 + day}\n".encode())
        days.append(f"s3://{env.bucket}/{key}")
    # The ItemSelector carries the context, so the Task inside takes the item as it is (no Parameters).
    inner = PipelineStep("Daily", lambda_arn("clinops-daily"))
    pipeline.add_step(MapStep("PerDay", [inner], items_path="$.days",
                              item_selector=map_item_selector(), max_concurrency=1))
    await pipeline.deploy()
    execution = f"run-{uuid.uuid4().hex[:8]}"
    events = [{"input": uri, "step_context": {"execution": execution, "state": "PerDay", "item": index}}
              for index, uri in enumerate(days)]
    outputs = [await daily.run_async(event) for event in events]
    queue_lambda_results(moto.url, *outputs)

    result = await pipeline.run({"days": days}, execution)

    sent = lambda_inputs(await pipeline.history(result.execution_arn))
    assert sorted(sent, key=lambda e: int(e["step_context"]["item"])) == events
    assert [o["uri"].rsplit("/", 2)[1] for o in result.output] == ["item-0", "item-1", "item-2"]


def test_the_named_errors_are_the_class_names_lambda_reports() -> None:
    import clinops_async

    for name in (*RETRYABLE_STEP_ERRORS, *STEP_INPUT_ERRORS):
        error = getattr(clinops_async, name)
        assert error.__name__ == name and issubclass(error, clinops_async.ClinopsError)


async def test_a_container_task_answers_with_its_task_token(
    pipeline: AsyncStepFunctionsPipeline, moto: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = S3Env(moto.url)
    env.client.put_object(Bucket=env.bucket, Key="raw/vitals.csv", Body=b"patient_id,heart_rate\nP1,60\nP2,70\n")

    @artifact_handler(f"s3://{env.bucket}/runs", store_options={"endpoint_url": moto.url})
    def clean(vitals: pd.DataFrame) -> pd.DataFrame:
        return vitals

    # The state hands the container its input and a token, and waits for the token to come back.
    step = PipelineStep("Container", "arn:aws:states:::lambda:invoke.waitForTaskToken", {
        "FunctionName": lambda_arn("starts-the-container"),
        "Payload": {**step_parameters(), "token.$": "$$.Task.Token"},
    }, retry_attempts=0)
    pipeline.add_step(step)
    await pipeline.deploy()
    arn = await pipeline.execute(f"s3://{env.bucket}/raw/vitals.csv", "run-token")
    scheduled: list[dict[str, Any]] = []
    for _ in range(100):
        scheduled = [e for e in await pipeline.history(arn) if e["type"] == "TaskScheduled"]
        if scheduled:
            break
        await anyio.sleep(0.05)
    payload = json.loads(scheduled[0]["taskScheduledEventDetails"]["parameters"])["Payload"]
    monkeypatch.setenv("CLINOPS_TASK_TOKEN", payload.pop("token"))
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    out, err = io.StringIO(), io.StringIO()

    code = await anyio.to_thread.run_sync(lambda: clean.run_container([json.dumps(payload)], stdout=out, stderr=err))

    assert code == 0, err.getvalue()
    result = await pipeline.wait(arn, timeout=30)
    assert result.succeeded and result.output == json.loads(out.getvalue())
    assert result.output["uri"] == f"s3://{env.bucket}/runs/run-token/Container/clean.parquet"


def test_a_task_token_step_functions_refuses_fails_the_container(
    moto: Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    @artifact_handler(tmp_path.as_uri())
    def clean(vitals: pd.DataFrame) -> pd.DataFrame:
        return vitals

    source = tmp_path / "vitals.csv"
    source.write_text("patient_id,heart_rate\nP1,60\n")
    monkeypatch.setenv("CLINOPS_TASK_TOKEN", "a-token-step-functions-never-issued")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    out, err = io.StringIO(), io.StringIO()

    assert clean.run_container([json.dumps(source.as_uri())], stdout=out, stderr=err) == 1

    assert json.loads(out.getvalue())["rows"] == 1  # the work is done and printed; the report failed
    assert json.loads(err.getvalue())["errorType"] in ("PipelineError", "ConfigurationError")
