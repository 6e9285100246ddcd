"""AsyncStepFunctionsPipeline against moto's Step Functions interpreter (server mode, parser on)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiobotocore.session
import pytest

from clinops_async import ConfigurationError, ExecutionFailedError, ExecutionTimeoutError, PipelineError
from clinops_async._pipelines.pipeline import (
    AsyncStepFunctionsPipeline,
    ExecutionNotFoundError,
    PipelineNotDeployedError,
    PollConfig,
)
from clinops_async._pipelines.steps import (
    FailStep,
    MapStep,
    ParallelStep,
    PassStep,
    PipelineStep,
    S3Prefix,
    WaitStep,
)
from tests.support.servers import Server, free_port
from tests.support.stepfunctions import ROLE, lambda_arn, queue_lambda_results

pytestmark = pytest.mark.usefixtures("validated_definitions")

FAST = PollConfig(initial_interval=0.05, max_interval=0.2)
MISSING_BUCKET_GET = "arn:aws:states:::aws-sdk:s3:getObject"

Factory = Callable[..., AsyncStepFunctionsPipeline]


@pytest.fixture
async def make_pipeline(moto: Server) -> AsyncIterator[Factory]:
    made: list[AsyncStepFunctionsPipeline] = []

    def make(name: str | None = None, **kwargs: Any) -> AsyncStepFunctionsPipeline:
        kwargs.setdefault("endpoint_url", moto.url)
        kwargs.setdefault("poll", FAST)
        kwargs.setdefault("max_attempts", 1)  # moto's 500s are bugs, not throttling: fail fast
        pipeline = AsyncStepFunctionsPipeline(name or f"test-{uuid.uuid4().hex[:8]}", ROLE, **kwargs)
        made.append(pipeline)
        return pipeline

    yield make
    for pipeline in made:
        await pipeline.aclose()


def _events(history: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [event for event in history if event["type"] == kind]


def _entered(history: list[dict[str, Any]], state: str) -> list[dict[str, Any]]:
    return [
        e["stateEnteredEventDetails"]
        for e in _events(history, "TaskStateEntered")
        if e["stateEnteredEventDetails"]["name"] == state
    ]


# -- run, outputs, parameters -------------------------------------------------------------------


async def test_run_passes_each_output_to_the_next_step(make_pipeline: Factory, moto: Server) -> None:
    pipeline = make_pipeline()
    pipeline.add_step(PipelineStep("Ingest", lambda_arn("clinops-ingest"), timeout_seconds=60)).add_step(
        PipelineStep("Preprocess", lambda_arn("clinops-preprocess"), retry_attempts=2)
    )
    arn = await pipeline.deploy()
    assert arn == pipeline.expected_state_machine_arn() == pipeline.state_machine_arn
    queue_lambda_results(moto.url, {"stage": "ingest", "rows": 3}, {"stage": "preprocess", "windows": 2})

    result = await pipeline.run({"date": "2024-01-15"})

    assert result.status == "SUCCEEDED" and result.succeeded and result.done
    assert result.output == {"stage": "preprocess", "windows": 2}
    assert result.error is None and result.cause is None
    assert result.start_date is not None and result.stop_date is not None
    assert result.start_date <= result.stop_date and result.stop_date.utcoffset() is not None
    history = await pipeline.history(result.execution_arn)
    assert json.loads(_entered(history, "Ingest")[0]["input"]) == {"date": "2024-01-15"}
    assert json.loads(_entered(history, "Preprocess")[0]["input"]) == {"stage": "ingest", "rows": 3}
    assert history[-1]["type"] == "ExecutionSucceeded"


async def test_parameters_replace_the_input_and_read_paths(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(
        PipelineStep(
            "Ingest",
            lambda_arn("clinops-ingest"),
            {"source": "mimic-iv", "date.$": "$.date"},
        )
    )
    await pipeline.deploy()
    result = await pipeline.run({"date": "2024-01-15", "ignored": True})
    assert result.output == {"source": "mimic-iv", "date": "2024-01-15"}


async def test_result_path_keeps_the_input(make_pipeline: Factory, moto: Server) -> None:
    pipeline = make_pipeline().add_step(
        PipelineStep("Ingest", lambda_arn("clinops-ingest"), result_path="$.ingest")
    )
    await pipeline.deploy()
    queue_lambda_results(moto.url, {"rows": 3})
    result = await pipeline.run({"date": "2024-01-15"})
    assert result.output == {"date": "2024-01-15", "ingest": {"rows": 3}}


# -- deploy --------------------------------------------------------------------------------------


async def test_deploy_creates_then_updates_without_listing(make_pipeline: Factory) -> None:
    first = make_pipeline("clinops-daily").add_step(PassStep("Version", {"version": 1}))
    arn = await first.deploy()
    assert (await first.run()).output == {"version": 1}

    second = make_pipeline("clinops-daily").add_step(PassStep("Version", {"version": 2}))
    client = await second._ready()

    def no_listing(**_: Any) -> None:
        raise AssertionError("deploy() must not list the account's state machines")

    client.meta.events.register("before-call.sfn.ListStateMachines", no_listing)
    assert await second.deploy() == arn
    assert (await second.run()).output == {"version": 2}
    assert (await first.run()).output == {"version": 2}  # same machine, new definition


async def test_deploy_can_publish_versions(make_pipeline: Factory, moto: Server) -> None:
    pipeline = make_pipeline().add_step(PassStep("Version", {"version": 1}))
    arn = await pipeline.deploy(publish=True, version_description="first")
    assert pipeline.version_arn == f"{arn}:1"
    pipeline.steps[0] = PassStep("Version", {"version": 2})
    await pipeline.deploy(publish=True)
    assert pipeline.version_arn == f"{arn}:2"
    assert (await pipeline.run()).output == {"version": 2}
    # moto cannot start an execution of a version (HTTP 500), so read version 1 back instead
    session = aiobotocore.session.get_session()
    async with session.create_client("stepfunctions", endpoint_url=moto.url, region_name="us-east-1") as sfn:
        first = await sfn.describe_state_machine(stateMachineArn=f"{arn}:1")
    assert json.loads(first["definition"])["States"]["Version"]["Result"] == {"version": 1}


async def test_deploy_refuses_to_change_the_type(make_pipeline: Factory) -> None:
    await make_pipeline("clinops-typed").add_step(PassStep("P")).deploy()
    express = make_pipeline("clinops-typed", type="EXPRESS").add_step(PassStep("P"))
    with pytest.raises(ConfigurationError, match="exists as STANDARD"):
        await express.deploy()


async def test_execute_before_deploy_says_to_deploy(make_pipeline: Factory) -> None:
    pipeline = make_pipeline("never-deployed").add_step(PassStep("P"))
    with pytest.raises(PipelineNotDeployedError, match=r"call deploy\(\) first"):
        await pipeline.execute()
    with pytest.raises(PipelineNotDeployedError):
        await pipeline.list_executions()


# -- execution names and idempotent starts --------------------------------------------------------


async def test_default_execution_names_are_unique_and_valid(make_pipeline: Factory) -> None:
    pipeline = make_pipeline("p" * 80).add_step(PassStep("P"))
    await pipeline.deploy()
    arns = {await pipeline.execute() for _ in range(5)}
    assert len(arns) == 5
    for arn in arns:
        name = arn.rsplit(":", 1)[1]
        assert len(name) <= 80 and name.startswith("p" * 47 + "-")
        assert (await pipeline.wait(arn)).status == "SUCCEEDED"


async def test_a_repeated_start_returns_the_same_execution(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(WaitStep("Hold", 60))
    await pipeline.deploy()
    running = await pipeline.execute({"date": "2024-01-15"}, "daily-2024-01-15")
    assert await pipeline.execute({"date": "2024-01-15"}, "daily-2024-01-15") == running
    await pipeline.stop(running)
    assert (await pipeline.wait(running)).status == "ABORTED"
    # ended: Step Functions refuses the name; the same input still means "that execution"
    assert await pipeline.execute({"date": "2024-01-15"}, "daily-2024-01-15") == running
    with pytest.raises(PipelineError, match="different input"):
        await pipeline.execute({"date": "2024-01-16"}, "daily-2024-01-15")


# -- failures, retries, catches -------------------------------------------------------------------


async def test_a_failing_step_is_retried_then_caught(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    pipeline.add_step(
        PipelineStep(
            "Fetch",
            MISSING_BUCKET_GET,
            {"Bucket": "no-such-bucket-clinops", "Key": "features/a.parquet"},
            retry_attempts=2,
            retry_on=["States.ALL"],
            retry_interval_seconds=1,
            retry_backoff_rate=1.0,
            catch="Recover",
        )
    )
    pipeline.add_step(PassStep("NotReached"))
    pipeline.add_handler(PassStep("Recover", {"recovered": True}, result_path="$.handled"))
    await pipeline.deploy()

    result = await pipeline.run({"date": "2024-01-15"})

    assert result.status == "SUCCEEDED"
    assert result.output["date"] == "2024-01-15" and result.output["handled"] == {"recovered": True}
    assert "NoSuchBucket" in result.output["error"]["Error"]
    history = await pipeline.history(result.execution_arn)
    assert len(_events(history, "TaskScheduled")) == 3  # the first attempt and 2 retries
    assert len(_events(history, "TaskFailed")) == 3
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    assert "Recover" in entered and "NotReached" not in entered


async def test_a_failed_execution_raises_with_error_and_cause(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    pipeline.add_step(PassStep("Start")).add_step(
        FailStep("Stop", error="IngestFailed", cause="synthetic failure for the test")
    )
    await pipeline.deploy()
    with pytest.raises(ExecutionFailedError) as caught:
        await pipeline.run()
    assert caught.value.status == "FAILED"
    assert caught.value.error == "IngestFailed"
    assert caught.value.cause == "synthetic failure for the test"
    assert "IngestFailed" in str(caught.value) and caught.value.execution_arn.startswith("arn:aws:states:")

    result = await pipeline.run(raise_on_failure=False)
    assert (result.status, result.error, result.output) == ("FAILED", "IngestFailed", None)


async def test_unretried_failure_fails_the_execution(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(
        PipelineStep(
            "Fetch",
            MISSING_BUCKET_GET,
            {"Bucket": "no-such-bucket-clinops", "Key": "k"},
            retry_attempts=0,
            retry_on=["States.ALL"],
        )
    )
    await pipeline.deploy()
    result = await pipeline.run(raise_on_failure=False)
    assert result.status == "FAILED" and result.error is not None and "NoSuchBucket" in result.error
    history = await pipeline.history(result.execution_arn)
    assert len(_events(history, "TaskScheduled")) == 1


# -- watching: timeouts and stop --------------------------------------------------------------------


async def test_wait_times_out_then_stop_aborts(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(WaitStep("Hold", 60)).add_step(PassStep("After"))
    await pipeline.deploy()
    arn = await pipeline.execute()

    with pytest.raises(ExecutionTimeoutError) as caught:
        await pipeline.wait(arn, timeout=0.3)
    assert caught.value.execution_arn == arn
    assert isinstance(caught.value, TimeoutError)
    assert (await pipeline.describe(arn)).status == "RUNNING"

    await pipeline.stop(arn, error="Cancelled", cause="stopped by the test")
    result = await pipeline.wait(arn, timeout=10)
    assert result.status == "ABORTED" and result.stop_date is not None

    with pytest.raises(ExecutionTimeoutError):
        await pipeline.run(timeout=0)
    running = await pipeline.list_executions("RUNNING")
    assert len(running) == 1
    await pipeline.stop(running[0].execution_arn)


async def test_list_executions_newest_first_and_filtered(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(PassStep("P"))
    await pipeline.deploy()
    for day in ("01", "02", "03"):
        await pipeline.run({"day": day}, f"daily-2024-01-{day}")
    listed = await pipeline.list_executions("SUCCEEDED")
    assert {e.name for e in listed} == {"daily-2024-01-01", "daily-2024-01-02", "daily-2024-01-03"}
    assert all(e.status == "SUCCEEDED" and e.stop_date is not None for e in listed)
    assert len(await pipeline.list_executions(max_results=2)) == 2
    assert await pipeline.list_executions("FAILED") == []


async def test_describe_unknown_execution(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(PassStep("P"))
    await pipeline.deploy()
    missing = pipeline.expected_state_machine_arn().replace(":stateMachine:", ":execution:") + ":nope"
    with pytest.raises(ExecutionNotFoundError):
        await pipeline.describe(missing)


# -- fan-out ---------------------------------------------------------------------------------------


async def _put_artifacts(url: str, bucket: str, keys: list[str]) -> None:
    session = aiobotocore.session.get_session()
    async with session.create_client("s3", endpoint_url=url, region_name="us-east-1") as s3:
        await s3.create_bucket(Bucket=bucket)
        for key in keys:
            await s3.put_object(Bucket=bucket, Key=key, Body=b"synthetic")


async def test_distributed_map_over_an_s3_prefix(make_pipeline: Factory, moto: Server) -> None:
    bucket = f"clinops-{uuid.uuid4().hex[:8]}"
    wanted = [f"clinops/prod/features/window_{i}.parquet" for i in range(5)]
    await _put_artifacts(moto.url, bucket, [*wanted, "clinops/prod/labels/y.parquet"])
    pipeline = make_pipeline().add_step(
        MapStep(
            "PerArtifact",
            [PipelineStep("Featurise", lambda_arn("clinops-features"))],
            items_from=S3Prefix("$.bucket", "$.prefix"),
            item_selector={"bucket.$": "$.bucket", "key.$": "$$.Map.Item.Value.Key"},
            max_concurrency=4,
            tolerated_failure_percentage=10,
        )
    )
    definition = pipeline.definition()["States"]["PerArtifact"]
    assert definition["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "STANDARD",
    }
    await pipeline.deploy()

    result = await pipeline.run({"bucket": bucket, "prefix": "clinops/prod/features/"})

    assert sorted(result.output, key=lambda item: item["key"]) == [
        {"bucket": bucket, "key": key} for key in wanted
    ]


async def test_inline_map_over_a_list(make_pipeline: Factory) -> None:
    pipeline = make_pipeline().add_step(
        MapStep(
            "EachArtifact",
            [PipelineStep("Check", lambda_arn("clinops-check"))],
            items_path="$.artifacts",
            max_concurrency=2,
        )
    )
    await pipeline.deploy()
    artifacts = [{"name": f"features/w{i}"} for i in range(4)]
    result = await pipeline.run({"artifacts": artifacts})
    assert result.output == artifacts


async def test_parallel_branches_run_on_the_same_input(make_pipeline: Factory, moto: Server) -> None:
    pipeline = (
        make_pipeline()
        .add_step(
            ParallelStep(
                "Both",
                [
                    [PassStep("Labels", {"part": "labels"})],
                    [
                        PipelineStep("Features", lambda_arn("clinops-features")),
                        PassStep("Tag", {"part": "features"}),
                    ],
                ],
            )
        )
        .add_step(PassStep("Joined"))
    )
    await pipeline.deploy()
    result = await pipeline.run({"date": "2024-01-15"})
    assert result.output == [{"part": "labels"}, {"part": "features"}]


# -- configuration, endpoints, errors ------------------------------------------------------------


async def test_endpoint_comes_from_the_environment(
    moto: Server, monkeypatch: pytest.MonkeyPatch, make_pipeline: Factory
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ENDPOINT_URL_SFN", moto.url)  # the service-specific variable wins
    pipeline = make_pipeline(endpoint_url=None).add_step(PassStep("P", {"ok": True}))
    await pipeline.deploy()
    assert (await pipeline.run()).output == {"ok": True}

    monkeypatch.delenv("AWS_ENDPOINT_URL_SFN")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    other = make_pipeline(pipeline.name, endpoint_url=None).add_step(PassStep("P", {"ok": True}))
    assert await other.deploy() == pipeline.state_machine_arn


async def test_unreachable_endpoint_is_a_pipeline_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "synthetic-secret-value-1234")
    pipeline = AsyncStepFunctionsPipeline(
        "clinops-daily", ROLE, endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1
    ).add_step(PassStep("P"))
    async with pipeline:
        with pytest.raises(PipelineError, match="could not reach Step Functions") as caught:
            await pipeline.deploy()
    assert "synthetic-secret-value-1234" not in str(caught.value) + repr(pipeline)
    with pytest.raises(RuntimeError, match="closed"):
        await pipeline.deploy()


async def test_validation_happens_before_any_io(monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on this endpoint: any request would fail with PipelineError, not ConfigurationError.
    pipeline = AsyncStepFunctionsPipeline(
        "clinops-daily", ROLE, endpoint_url=f"http://127.0.0.1:{free_port()}", max_attempts=1
    )
    with pytest.raises(ConfigurationError, match="no steps"):
        await pipeline.deploy()
    pipeline.add_step(PassStep("Big", {"blob": "x" * (1024 * 1024)}))
    with pytest.raises(ConfigurationError, match="at most 1048576"):
        await pipeline.deploy()
    pipeline.steps[0] = PassStep("Small")
    arn = pipeline.expected_state_machine_arn()
    with pytest.raises(ConfigurationError, match="256 KiB"):
        await pipeline.execute({"blob": "x" * (256 * 1024)})
    with pytest.raises(ConfigurationError, match="JSON-serialisable"):
        await pipeline.execute({"when": object()})
    with pytest.raises(ConfigurationError, match="JSON-serialisable"):
        await pipeline.execute({"value": float("nan")})
    for bad in ("daily 2024", "a" * 81, "", "daily/2024", "x:y"):
        with pytest.raises(ConfigurationError, match="execution_name"):
            await pipeline.execute(execution_name=bad)
    with pytest.raises(ConfigurationError, match="state_machine_arn"):
        await pipeline.execute(state_machine_arn=arn.replace("123456789012", "123456789"))
    with pytest.raises(ConfigurationError, match="execution_arn"):
        await pipeline.describe("not-an-arn")
    with pytest.raises(ConfigurationError, match="timeout"):
        await pipeline.wait(arn.replace(":stateMachine:", ":execution:") + ":x", timeout=-1)
    with pytest.raises(ConfigurationError, match="status"):
        await pipeline.list_executions("DONE")  # type: ignore[arg-type]
    assert pipeline._client is None
    await pipeline.aclose()
