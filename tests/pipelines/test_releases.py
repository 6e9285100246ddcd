"""Deploying and running as teams do: logging, tracing, tags, versions, aliases, Express, redrive, history.

Against moto's Step Functions server. What moto 5.2.5 lacks (starting on a version or alias,
StartSyncExecution, RedriveExecution, reverseOrder in GetExecutionHistory) is checked against
botocore's service model instead (tests/support/sfn_model.py) and marked on moto as a strict xfail,
as docs/testing.md lists.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import pytest

from clinops_async import (
    ConfigurationError,
    ExecutionFailedError,
    LoggingConfig,
    PassStep,
    PipelineError,
    StepFunctionsPipeline,
)
from clinops_async._pipelines.pipeline import AsyncStepFunctionsPipeline, PollConfig
from tests.support.sfn_model import answer_from_model
from tests.support.stepfunctions import ACCOUNT, ROLE

if TYPE_CHECKING:
    from tests.support.servers import Server

pytestmark = pytest.mark.usefixtures("validated_definitions")

LOG_GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/vendedlogs/states/clinops:*"
FAST = PollConfig(initial_interval=0.05, max_interval=0.2)
Factory = Callable[..., AsyncStepFunctionsPipeline]
MOTO_GAP = "moto 5.2.5 does not implement it (docs/testing.md)"


@pytest.fixture
async def make_pipeline(moto: Server) -> AsyncIterator[Factory]:
    made: list[AsyncStepFunctionsPipeline] = []

    def make(**kwargs: Any) -> AsyncStepFunctionsPipeline:
        kwargs.setdefault("endpoint_url", moto.url)
        built = AsyncStepFunctionsPipeline(f"rel-{uuid.uuid4().hex[:8]}", ROLE, poll=FAST, max_attempts=1, **kwargs)
        built.add_step(PassStep("Hello", result={"hello": "world"}))
        made.append(built)
        return built

    yield make
    for built in made:
        await built.aclose()


def boto(moto: Server) -> Any:
    return boto3.client("stepfunctions", endpoint_url=moto.url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def tags_of(moto: Server, arn: str) -> dict[str, str]:
    return {t["key"]: t["value"] for t in boto(moto).list_tags_for_resource(resourceArn=arn)["tags"]}


# -- deploy options ---------------------------------------------------------------------------


async def test_logging_tracing_and_tags_are_set_on_create_and_update(make_pipeline: Factory, moto: Server) -> None:
    logging = LoggingConfig(level="ALL", include_execution_data=True, log_group_arn=LOG_GROUP)
    pipeline = make_pipeline(logging=logging, tracing=True, tags={"team": "clinops", "cost-centre": "42"})
    arn = await pipeline.deploy()
    described = boto(moto).describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"] == {
        "level": "ALL", "includeExecutionData": True,
        "destinations": [{"cloudWatchLogsLogGroup": {"logGroupArn": LOG_GROUP}}],
    }
    assert described["tracingConfiguration"] == {"enabled": True}
    assert tags_of(moto, arn) == {"team": "clinops", "cost-centre": "42"}

    again = AsyncStepFunctionsPipeline(pipeline.name, ROLE, endpoint_url=moto.url, max_attempts=1,
                                       logging=LoggingConfig(level="ERROR", log_group_arn=LOG_GROUP),
                                       tracing=False, tags={"team": "platform", "stage": "prod"})
    async with again.add_step(PassStep("Hello")):
        await again.deploy()
    described = boto(moto).describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"]["level"] == "ERROR"
    assert described["tracingConfiguration"] == {"enabled": False}
    assert tags_of(moto, arn) == {"team": "platform", "stage": "prod"}


async def test_a_deploy_without_options_leaves_them_as_they_are(make_pipeline: Factory, moto: Server) -> None:
    pipeline = make_pipeline(tracing=True, tags={"team": "clinops"})
    arn = await pipeline.deploy()
    plain = AsyncStepFunctionsPipeline(pipeline.name, ROLE, endpoint_url=moto.url, max_attempts=1)
    async with plain.add_step(PassStep("Changed")):
        await plain.deploy()
    assert boto(moto).describe_state_machine(stateMachineArn=arn)["tracingConfiguration"] == {"enabled": True}
    assert tags_of(moto, arn) == {"team": "clinops"}


async def test_publish_with_an_alias_then_a_canary_split(make_pipeline: Factory, moto: Server) -> None:
    pipeline = make_pipeline()
    arn = await pipeline.deploy(publish=True, version_description="first", alias="live")
    assert pipeline.version_arn == f"{arn}:1" and pipeline.alias_arn == f"{arn}:live"
    alias = boto(moto).describe_state_machine_alias(stateMachineAliasArn=pipeline.alias_arn)
    assert alias["routingConfiguration"] == [{"stateMachineVersionArn": f"{arn}:1", "weight": 100}]

    await pipeline.deploy(publish=True, alias="live")
    alias = boto(moto).describe_state_machine_alias(stateMachineAliasArn=f"{arn}:live")
    assert alias["routingConfiguration"] == [{"stateMachineVersionArn": f"{arn}:2", "weight": 100}]

    assert await pipeline.set_alias("live", {1: 90, f"{arn}:2": 10}, description="canary") == f"{arn}:live"
    alias = boto(moto).describe_state_machine_alias(stateMachineAliasArn=f"{arn}:live")
    assert alias["routingConfiguration"] == [{"stateMachineVersionArn": f"{arn}:1", "weight": 90},
                                             {"stateMachineVersionArn": f"{arn}:2", "weight": 10}]
    assert alias["description"] == "canary"


@pytest.mark.xfail(strict=True, raises=PipelineError, reason=f"starting on a version or alias: {MOTO_GAP}")
async def test_runs_start_on_an_alias(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    await pipeline.deploy(publish=True, alias="live")
    assert pipeline.alias_arn is not None
    result = await pipeline.run(state_machine_arn=pipeline.alias_arn)
    assert result.output == {"hello": "world"}


# -- typed errors before any call -------------------------------------------------------------


@pytest.mark.parametrize("options", [
    {"level": "DEBUG", "log_group_arn": LOG_GROUP},
    {"level": "ALL"},
    {"level": "ERROR", "log_group_arn": LOG_GROUP.removesuffix(":*")},
    {"level": "ERROR", "log_group_arn": LOG_GROUP, "include_execution_data": "yes"},
])
def test_bad_logging_configs_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigurationError):
        LoggingConfig(**options)


async def test_bad_release_and_run_arguments_fail_before_any_call() -> None:
    offline = AsyncStepFunctionsPipeline("offline", ROLE, endpoint_url="http://127.0.0.1:9", max_attempts=1)
    offline.add_step(PassStep("P"))
    arn = offline.expected_state_machine_arn()
    execution = arn.replace(":stateMachine:", ":execution:") + ":run-1"
    express = arn.replace(":stateMachine:", ":express:") + ":run-1:0a1b2c3d"
    calls: list[Callable[[], Any]] = [
        lambda: offline.deploy(alias="live"),
        lambda: offline.deploy(publish=True, alias="123"),
        lambda: offline.set_alias("live", {1: 50, 2: 40}),
        lambda: offline.set_alias("live", {1: 50, 2: 25, 3: 25}),
        lambda: offline.set_alias("live", {"arn:aws:states:us-east-1:123456789012:stateMachine:other:1": 100}),
        lambda: offline.set_alias("live", {1: 101}),
        lambda: offline.run_sync({}),
        lambda: offline.redrive(express),
        lambda: offline.redrive(execution, client_token=""),
        lambda: offline.describe(express),
        lambda: offline.history(express),
    ]
    for make_call in calls:
        with pytest.raises(ConfigurationError):
            await make_call()
    for bad in ({"limit": 0}, {"reverse": "yes"}):
        with pytest.raises(ConfigurationError):
            offline.iter_history(execution, **bad)
    with pytest.raises(ConfigurationError):
        AsyncStepFunctionsPipeline("t", ROLE, tags={"aws:owner": "x"})
    with pytest.raises(ConfigurationError):
        AsyncStepFunctionsPipeline("t", ROLE, tracing="on")  # type: ignore[arg-type]
    assert offline._client is None  # nothing was opened, nothing sent


# -- Express: run_sync --------------------------------------------------------------------------


async def test_run_sync_sends_a_valid_request_and_reads_the_result(make_pipeline: Factory) -> None:
    pipeline = make_pipeline(type="EXPRESS")
    arn = pipeline.expected_state_machine_arn()
    now = datetime.now(UTC)
    sent = answer_from_model(await pipeline._ready(), "StartSyncExecution", {
        "executionArn": arn.replace(":stateMachine:", ":express:") + ":run-1:0a1b2c3d", "stateMachineArn": arn,
        "name": "run-1", "startDate": now, "stopDate": now, "status": "SUCCEEDED", "output": '{"hello": "world"}',
    })
    result = await pipeline.run_sync({"date": "2024-01-15"}, "run-1")
    assert result.succeeded and result.output == {"hello": "world"} and result.name == "run-1"
    assert sent == [{"stateMachineArn": arn, "name": "run-1", "input": '{"date": "2024-01-15"}'}]


async def test_run_sync_raises_when_the_run_fails(make_pipeline: Factory) -> None:
    pipeline = make_pipeline(type="EXPRESS")
    arn = pipeline.expected_state_machine_arn()
    now = datetime.now(UTC)
    answer_from_model(await pipeline._ready(), "StartSyncExecution", {
        "executionArn": f"{arn}:x", "startDate": now, "stopDate": now, "status": "FAILED",
        "error": "States.TaskFailed", "cause": "synthetic",
    })
    with pytest.raises(ExecutionFailedError) as caught:
        await pipeline.run_sync()
    assert caught.value.error == "States.TaskFailed"
    assert (await pipeline.run_sync(raise_on_failure=False)).status == "FAILED"


@pytest.mark.xfail(strict=True, raises=PipelineError, reason=f"StartSyncExecution: {MOTO_GAP}")
async def test_run_sync_on_moto(make_pipeline: Factory) -> None:
    pipeline = make_pipeline(type="EXPRESS")
    await pipeline.deploy()
    assert (await pipeline.run_sync()).output == {"hello": "world"}


# -- redrive ------------------------------------------------------------------------------------


async def test_redrive_sends_the_execution_and_a_token(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    execution = pipeline.expected_state_machine_arn().replace(":stateMachine:", ":execution:") + ":run-1"
    sent = answer_from_model(await pipeline._ready(), "RedriveExecution", {"redriveDate": datetime.now(UTC)})
    assert await pipeline.redrive(execution, client_token="retry-safe-1") == execution
    await pipeline.redrive(execution)
    assert sent[0] == {"executionArn": execution, "clientToken": "retry-safe-1"}
    assert sent[1]["clientToken"] and sent[1]["clientToken"] != "retry-safe-1"


@pytest.mark.xfail(strict=True, raises=PipelineError, reason=f"RedriveExecution: {MOTO_GAP}")
async def test_redrive_on_moto(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    await pipeline.deploy()
    arn = await pipeline.execute()
    await pipeline.wait(arn)
    await pipeline.redrive(arn)


# -- history as an iterator ---------------------------------------------------------------------


async def test_iter_history_reads_every_event_or_stops_at_the_limit(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    await pipeline.deploy()
    result = await pipeline.run()
    listed = await pipeline.history(result.execution_arn)
    assert [e async for e in pipeline.iter_history(result.execution_arn)] == listed
    first_two = [e async for e in pipeline.iter_history(result.execution_arn, limit=2)]
    assert first_two == listed[:2]


async def test_iter_history_asks_for_newest_first_and_small_pages(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    execution = pipeline.expected_state_machine_arn().replace(":stateMachine:", ":execution:") + ":run-1"
    event = {"timestamp": datetime.now(UTC), "type": "ExecutionSucceeded", "id": 5}
    sent = answer_from_model(await pipeline._ready(), "GetExecutionHistory", {"events": [event]})
    assert [e["id"] async for e in pipeline.iter_history(execution, reverse=True, limit=3)] == [5]
    assert sent == [{"executionArn": execution, "reverseOrder": True, "maxResults": 3,
                     "includeExecutionData": True}]


@pytest.mark.xfail(strict=True, reason="moto 5.2.5 ignores reverseOrder: its history is always oldest first")
async def test_iter_history_newest_first_on_moto(make_pipeline: Factory) -> None:
    pipeline = make_pipeline()
    await pipeline.deploy()
    result = await pipeline.run()
    newest = [e async for e in pipeline.iter_history(result.execution_arn, reverse=True, limit=1)]
    assert newest[0]["type"] == "ExecutionSucceeded"


def test_the_blocking_pipeline_mirrors_the_new_calls(moto: Server) -> None:
    with StepFunctionsPipeline(f"sync-{uuid.uuid4().hex[:8]}", ROLE, endpoint_url=moto.url, max_attempts=1,
                               tags={"team": "clinops"}, tracing=True) as pipeline:
        pipeline.add_step(PassStep("Hello", result={"hello": "world"}))
        arn = pipeline.deploy(publish=True, alias="live")
        assert pipeline.alias_arn == f"{arn}:live"
        assert pipeline.set_alias("live", {1: 100}) == f"{arn}:live"
        result = pipeline.run()
        events = pipeline.iter_history(result.execution_arn, limit=3)
        assert [e["id"] for e in events] == [e["id"] for e in pipeline.history(result.execution_arn)[:3]]
        with pytest.raises(ConfigurationError):
            pipeline.run_sync()
