"""Pipeline model: ASL rendering, validation of every input, Mermaid drawing. No I/O."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clinops_async import ConfigurationError, PipelineError
from clinops_async._pipelines.asl import render_item_reader
from clinops_async._pipelines.errors import (
    ExecutionNotFoundError,
    PipelineAccessDeniedError,
    PipelineNotDeployedError,
    translate,
)
from clinops_async._pipelines.pipeline import AsyncStepFunctionsPipeline, PollConfig
from clinops_async._pipelines.steps import (
    LAMBDA_SERVICE_ERRORS,
    FailStep,
    MapStep,
    ParallelStep,
    PassStep,
    PipelineStep,
    S3Prefix,
    Step,
    WaitStep,
)
from clinops_async._pipelines.validate import check_resource_name
from tests.support.stepfunctions import ROLE, MermaidParser, lambda_arn

pytestmark = pytest.mark.usefixtures("validated_definitions")

RETRY_DEFAULT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
]


def documented_pipeline() -> AsyncStepFunctionsPipeline:
    pipeline = AsyncStepFunctionsPipeline(name="clinops-daily-ingest", role_arn=ROLE, region="us-east-1")
    pipeline.add_step(
        PipelineStep(
            name="Ingest",
            resource=lambda_arn("clinops-ingest"),
            parameters={"source": "mimic-iv", "date": "2024-01-01"},
            timeout_seconds=1800,
        )
    )
    pipeline.add_step(
        PipelineStep(name="Preprocess", resource=lambda_arn("clinops-preprocess"), retry_attempts=2)
    )
    pipeline.add_step(PipelineStep(name="FeatureExtraction", resource=lambda_arn("clinops-features")))
    return pipeline


def _retry(attempts: int) -> list[dict[str, Any]]:
    return [
        {
            "ErrorEquals": RETRY_DEFAULT_ERRORS,
            "IntervalSeconds": 2,
            "MaxAttempts": attempts,
            "BackoffRate": 2.0,
        }
    ]


def test_documented_pipeline_renders_exactly() -> None:
    definition = documented_pipeline().definition()
    assert definition == {
        "Comment": "clinops-daily-ingest — built by clinops.orchestrate",
        "StartAt": "Ingest",
        "States": {
            "Ingest": {
                "Type": "Task",
                "Resource": lambda_arn("clinops-ingest"),
                "TimeoutSeconds": 1800,
                "Retry": _retry(3),
                "Parameters": {"source": "mimic-iv", "date": "2024-01-01"},
                "Next": "Preprocess",
            },
            "Preprocess": {
                "Type": "Task",
                "Resource": lambda_arn("clinops-preprocess"),
                "TimeoutSeconds": 3600,
                "Retry": _retry(2),
                "Next": "FeatureExtraction",
            },
            "FeatureExtraction": {
                "Type": "Task",
                "Resource": lambda_arn("clinops-features"),
                "TimeoutSeconds": 3600,
                "Retry": _retry(3),
                "End": True,
            },
        },
    }
    assert list(definition) == ["Comment", "StartAt", "States"]
    assert list(definition["States"]) == ["Ingest", "Preprocess", "FeatureExtraction"]
    assert list(definition["States"]["Ingest"]) == [
        "Type",
        "Resource",
        "TimeoutSeconds",
        "Retry",
        "Parameters",
        "Next",
    ]
    assert list(definition["States"]["Ingest"]["Retry"][0]) == [
        "ErrorEquals",
        "IntervalSeconds",
        "MaxAttempts",
        "BackoffRate",
    ]
    assert tuple(RETRY_DEFAULT_ERRORS) == LAMBDA_SERVICE_ERRORS


def test_definition_json_is_the_definition_with_an_em_dash() -> None:
    pipeline = documented_pipeline()
    text = pipeline.definition_json()
    assert json.loads(text) == pipeline.definition()
    assert '"Comment": "clinops-daily-ingest — built by clinops.orchestrate"' in text
    assert text.startswith('{\n  "Comment"')
    assert "\n" not in pipeline.definition_json(indent=None)


def test_comment_retry_zero_and_custom_retry_render_in_order() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE, comment="Nightly features")
    pipeline.add_step(PipelineStep("Once", lambda_arn("f"), {"a.$": "$.a"}, 0, 60, "runs once"))
    pipeline.add_step(
        PipelineStep(
            "Tuned",
            "arn:aws:states:::lambda:invoke",
            {"FunctionName": lambda_arn("g"), "Payload.$": "$"},
            retry_on=["States.TaskFailed", "States.Timeout"],
            retry_interval_seconds=5,
            retry_backoff_rate=1.5,
            retry_max_delay_seconds=60,
            retry_jitter="FULL",
            result_path="$.tuned",
        )
    )
    definition = pipeline.definition()
    assert definition["Comment"] == "Nightly features"
    once = definition["States"]["Once"]
    assert list(once) == ["Type", "Resource", "TimeoutSeconds", "Retry", "Comment", "Parameters", "Next"]
    assert once["Retry"][0]["MaxAttempts"] == 0 and once["Comment"] == "runs once"
    tuned = definition["States"]["Tuned"]
    assert tuned["Retry"] == [
        {
            "ErrorEquals": ["States.TaskFailed", "States.Timeout"],
            "IntervalSeconds": 5,
            "MaxAttempts": 3,
            "BackoffRate": 1.5,
            "MaxDelaySeconds": 60,
            "JitterStrategy": "FULL",
        }
    ]
    assert list(tuned)[-2:] == ["ResultPath", "End"]


def test_positional_fields_keep_the_original_order() -> None:
    names = [f.name for f in dataclasses.fields(PipelineStep)]
    assert names[:6] == ["name", "resource", "parameters", "retry_attempts", "timeout_seconds", "comment"]
    step = PipelineStep("A", lambda_arn("f"), {"x": 1}, 1, 60, "c")
    assert (step.parameters, step.retry_attempts, step.timeout_seconds, step.comment) == (
        {"x": 1},
        1,
        60,
        "c",
    )
    assert PipelineStep("B", lambda_arn("f")).parameters == {}
    with pytest.raises(TypeError):
        PipelineStep("A", lambda_arn("f"), {}, 1, 60, "c", ["States.ALL"])  # type: ignore[call-arg]


_RETRY_AND_CATCH = [
    "retry_attempts", "retry_on", "retry_interval_seconds", "retry_backoff_rate", "retry_max_delay_seconds",
    "retry_jitter", "result_path", "catch", "catch_on", "catch_result_path",
]
_MAP_OWN = [
    "name", "steps", "comment", "items_path", "item_selector", "items_from", "mode", "execution_type",
    "max_concurrency", "tolerated_failure_percentage", "tolerated_failure_count", "label",
]


@pytest.mark.parametrize(
    ("cls", "names", "positional", "retry_defaults"),
    [
        (PipelineStep,
         ["name", "resource", "parameters", "retry_attempts", "timeout_seconds", "comment",
          *_RETRY_AND_CATCH[1:]], 6, (3, LAMBDA_SERVICE_ERRORS)),
        (ParallelStep, ["name", "branches", "comment", *_RETRY_AND_CATCH], 3, (0, ("States.ALL",))),
        (MapStep, [*_MAP_OWN, *_RETRY_AND_CATCH], 3, (0, ("States.ALL",))),
    ],
)
def test_retry_and_catch_fields_end_each_step_keyword_only(
    cls: type[Any], names: list[str], positional: int, retry_defaults: tuple[int, tuple[str, ...]]
) -> None:
    fields = dataclasses.fields(cls)
    assert [f.name for f in fields] == names
    assert [f.name for f in fields if not f.kw_only] == names[:positional]
    by_name = {f.name: f for f in fields}
    assert (by_name["retry_attempts"].default, by_name["retry_on"].default) == retry_defaults
    shared = {"retry_interval_seconds": 2, "retry_backoff_rate": 2.0, "retry_max_delay_seconds": None,
              "retry_jitter": None, "result_path": None, "catch": None, "catch_on": ("States.ALL",),
              "catch_result_path": "$.error"}
    assert {name: by_name[name].default for name in shared} == shared
    assert cls.__match_args__ == tuple(names[:positional])


def test_step_reprs_list_the_fields_in_order() -> None:
    text = repr(MapStep("Each", [PassStep("One")], "c", items_path="$.items", catch="Notify"))
    assert text.startswith("MapStep(name='Each', steps=[PassStep(name='One', result=None, comment='', "
                           "result_path=None)], comment='c', items_path='$.items', item_selector=None")
    assert text.endswith("label=None, retry_attempts=0, retry_on=('States.ALL',), retry_interval_seconds=2, "
                         "retry_backoff_rate=2.0, retry_max_delay_seconds=None, retry_jitter=None, "
                         "result_path=None, catch='Notify', catch_on=('States.ALL',), "
                         "catch_result_path='$.error')")
    with pytest.raises(TypeError):
        ParallelStep("Both", [[PassStep("A")]], "c", 1)  # type: ignore[call-arg]


def test_catch_and_handlers() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE)
    pipeline.add_step(PipelineStep("Ingest", lambda_arn("ingest"), catch="Notify"))
    pipeline.add_step(
        PipelineStep(
            "Features",
            lambda_arn("features"),
            catch="Notify",
            catch_on=["States.Timeout"],
            catch_result_path=None,
        )
    )
    pipeline.add_handler(
        PipelineStep("Notify", lambda_arn("notify")), FailStep("Failed", "PipelineFailed", "see error")
    )
    states = pipeline.definition()["States"]
    assert states["Ingest"]["Catch"] == [
        {"ErrorEquals": ["States.ALL"], "Next": "Notify", "ResultPath": "$.error"}
    ]
    assert states["Features"]["Catch"] == [{"ErrorEquals": ["States.Timeout"], "Next": "Notify"}]
    assert list(states) == ["Ingest", "Features", "Notify", "Failed"]
    assert states["Notify"]["Next"] == "Failed"
    assert states["Failed"] == {"Type": "Fail", "Error": "PipelineFailed", "Cause": "see error"}


def test_fan_out_renders_into_the_chain() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE)
    pipeline.add_step(
        ParallelStep(
            "Split",
            [
                [PassStep("Labels", {"part": "labels"})],
                [WaitStep("Settle", 5), PipelineStep("Features", lambda_arn("features"))],
            ],
            retry_attempts=1,
            catch="Recover",
        )
    )
    pipeline.add_step(
        MapStep(
            "PerArtifact",
            [PipelineStep("Featurise", lambda_arn("featurise"))],
            items_from=S3Prefix("clinops-bucket", "clinops/prod/features/"),
            max_concurrency=100,
            tolerated_failure_percentage=5,
            tolerated_failure_count=3,
            label="features",
            execution_type="EXPRESS",
            item_selector={"key.$": "$$.Map.Item.Value.Key"},
        )
    )
    pipeline.add_step(MapStep("Each", [PassStep("Echo")], items_path="$.artifacts", max_concurrency=4))
    pipeline.add_handler(PassStep("Recover"))
    states = pipeline.definition()["States"]
    split = states["Split"]
    assert list(split) == ["Type", "Branches", "Retry", "Catch", "Next"]
    assert split["Branches"][1] == {
        "StartAt": "Settle",
        "States": {
            "Settle": {"Type": "Wait", "Seconds": 5, "Next": "Features"},
            "Features": {
                "Type": "Task",
                "Resource": lambda_arn("features"),
                "TimeoutSeconds": 3600,
                "Retry": _retry(3),
                "End": True,
            },
        },
    }
    assert split["Retry"][0]["ErrorEquals"] == ["States.ALL"] and split["Next"] == "PerArtifact"
    per = states["PerArtifact"]
    assert list(per) == [
        "Type",
        "ItemReader",
        "ItemSelector",
        "ItemProcessor",
        "MaxConcurrency",
        "ToleratedFailurePercentage",
        "ToleratedFailureCount",
        "Label",
        "Next",
    ]
    assert per["ItemReader"] == {
        "Resource": "arn:aws:states:::s3:listObjectsV2",
        "Parameters": {"Bucket": "clinops-bucket", "Prefix": "clinops/prod/features/"},
    }
    assert per["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"}
    assert per["ToleratedFailurePercentage"] == 5.0 and isinstance(per["ToleratedFailurePercentage"], float)
    each = states["Each"]
    assert each["ItemsPath"] == "$.artifacts" and each["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "INLINE"
    }
    assert each["End"] is True and "Retry" not in each
    assert render_item_reader(S3Prefix("$.bucket", "$.prefix"))["Parameters"] == {
        "Bucket.$": "$.bucket",
        "Prefix.$": "$.prefix",
    }
    assert render_item_reader(S3Prefix("b-1"))["Parameters"] == {"Bucket": "b-1"}


# -- validation ----------------------------------------------------------------------------------


def test_the_documented_nine_digit_account_gives_one_clear_line() -> None:
    with pytest.raises(ConfigurationError) as caught:
        AsyncStepFunctionsPipeline("clinops-daily-ingest", "arn:aws:iam::123456789:role/StepFunctionsRole")
    message = str(caught.value)
    assert (
        "\n" not in message and "12 digits" in message and "'123456789'" in message and "role_arn" in message
    )
    with pytest.raises(ConfigurationError) as caught:
        PipelineStep("Ingest", "arn:aws:lambda:us-east-1:123456789:function:clinops-ingest")
    message = str(caught.value)
    assert "\n" not in message and "12 digits" in message and "'Ingest'" in message


@pytest.mark.parametrize(
    "role_arn",
    [
        "arn:aws:iam::123456789012:user/someone",
        "StepFunctionsRole",
        "arn:aws:iam::12345678901x:role/R",
        "arn:aws:iam:us-east-1:123456789012:role/R",
        None,
    ],
)
def test_bad_role_arn(role_arn: Any) -> None:
    with pytest.raises(ConfigurationError, match="role_arn"):
        AsyncStepFunctionsPipeline("p", role_arn)


@pytest.mark.parametrize(
    "resource",
    [
        "clinops-ingest",
        "arn:aws:lambda:us-east-1:123456789012:clinops-ingest",
        "arn:aws:lambda:us-east-1:123456789012:function:bad name",
        "arn:aws:s3:::bucket",
        "arn:aws:states:::",
        "arn:aws:lambda:nowhere:123456789012:function:f",
    ],
)
def test_bad_resource(resource: str) -> None:
    with pytest.raises(ConfigurationError, match="resource"):
        PipelineStep("Ingest", resource)


@pytest.mark.parametrize(
    "resource",
    [
        lambda_arn("clinops-ingest"),
        lambda_arn("clinops-ingest") + ":prod",
        lambda_arn("clinops-ingest") + ":$LATEST",
        "arn:aws:states:::lambda:invoke",
        "arn:aws:states:::lambda:invoke.waitForTaskToken",
        "arn:aws:states:::aws-sdk:s3:getObject",
        "arn:aws:states:::glue:startJobRun.sync",
        "arn:aws:states:::states:startExecution.sync:2",
        "arn:aws:states:us-east-1:123456789012:activity:review",
        "arn:aws-cn:lambda:cn-north-1:123456789012:function:f",
    ],
)
def test_good_resource(resource: str) -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE).add_step(PipelineStep("Step", resource))
    assert pipeline.definition()["States"]["Step"]["Resource"] == resource


@pytest.mark.parametrize(
    "name", ["", "a" * 81, "daily ingest", "daily/ingest", "a:b", "a*", "tab\t", "x#1", 7]
)
def test_bad_pipeline_name(name: Any) -> None:
    with pytest.raises(ConfigurationError, match="pipeline name"):
        AsyncStepFunctionsPipeline(name, ROLE)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"name": ""}, "step name"),
        ({"name": "x" * 81}, "at most 80"),
        ({"name": "bad\x00name"}, "control character"),
        ({"timeout_seconds": 0}, "timeout_seconds"),
        ({"timeout_seconds": -5}, "timeout_seconds"),
        ({"timeout_seconds": True}, "timeout_seconds"),
        ({"timeout_seconds": "3600"}, "timeout_seconds"),
        ({"retry_attempts": -1}, "retry_attempts"),
        ({"retry_attempts": 1.5}, "retry_attempts"),
        ({"parameters": {"when": object()}}, "JSON-serialisable"),
        ({"parameters": {"x": float("inf")}}, "JSON-serialisable"),
        ({"parameters": {"ids": {1, 2}}}, "JSON-serialisable"),
        ({"parameters": ["not", "a", "dict"]}, "must be a dict"),
        ({"parameters": {"date.$": 5}}, "'date.\\$'"),
        ({"retry_on": "States.ALL"}, "retry_on"),
        ({"retry_on": []}, "retry_on"),
        ({"retry_on": ["States.ALL", "States.Timeout"]}, "alone"),
        ({"retry_interval_seconds": 0}, "retry_interval_seconds"),
        ({"retry_backoff_rate": 0.5}, "retry_backoff_rate"),
        ({"retry_jitter": "SOME"}, "retry_jitter"),
        ({"retry_max_delay_seconds": 0}, "retry_max_delay_seconds"),
        ({"catch": "Ingest"}, "itself"),
        ({"result_path": "result"}, "result_path"),
        ({"comment": None}, "comment"),
    ],
)
def test_bad_step_fields(kwargs: dict[str, Any], match: str) -> None:
    fields = {"name": "Ingest", "resource": lambda_arn("clinops-ingest"), **kwargs}
    with pytest.raises(ConfigurationError, match=match):
        PipelineStep(**fields)


def test_mutated_step_is_checked_again_when_rendered() -> None:
    step = PipelineStep("Ingest", lambda_arn("clinops-ingest"))
    pipeline = AsyncStepFunctionsPipeline("p", ROLE).add_step(step)
    step.timeout_seconds = 0
    with pytest.raises(ConfigurationError, match="timeout_seconds"):
        pipeline.definition()


def test_pipeline_level_errors() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE)
    with pytest.raises(ValueError, match="no steps"):
        pipeline.definition()
    pipeline.add_step(PipelineStep("Ingest", lambda_arn("ingest")))
    with pytest.raises(ValueError, match="already used"):
        pipeline.add_step(PipelineStep("Ingest", lambda_arn("other")))
    with pytest.raises(ValueError, match="already used"):
        pipeline.add_step(ParallelStep("Split", [[PassStep("Ingest")]]))
    with pytest.raises(ValueError, match="already used"):
        pipeline.add_step(MapStep("Each", [PassStep("Twice"), PassStep("Twice")]))
    with pytest.raises(ConfigurationError, match="PipelineStep, ParallelStep"):
        pipeline.add_step({"name": "x"})  # type: ignore[arg-type]
    assert [s.name for s in pipeline.steps] == ["Ingest"]

    pipeline.add_step(PipelineStep("Features", lambda_arn("features"), catch="Missing"))
    with pytest.raises(ConfigurationError, match="'Missing'.*add_handler"):
        pipeline.definition()
    pipeline.steps.pop()
    pipeline.add_handler(PassStep("Orphan"))
    with pytest.raises(ConfigurationError, match="never reached"):
        pipeline.definition()
    pipeline.handlers.clear()

    pipeline.add_step(FailStep("Stop")).add_step(PassStep("After"))
    with pytest.raises(ConfigurationError, match="last step"):
        pipeline.definition()


def test_nested_catch_must_stay_in_its_branch() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE)
    pipeline.add_step(ParallelStep("Split", [[PipelineStep("A", lambda_arn("a"), catch="Top")]]))
    pipeline.add_step(PassStep("Top"))
    with pytest.raises(ConfigurationError, match="same branch"):
        pipeline.definition()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"tolerated_failure_percentage": 5}, "Distributed Map only"),
        ({"label": "x"}, "Distributed Map only"),
        ({"items_from": S3Prefix("b-1"), "mode": "INLINE"}, "DISTRIBUTED"),
        ({"mode": "DISTRIBUTED", "tolerated_failure_percentage": 101}, "tolerated_failure_percentage"),
        ({"mode": "DISTRIBUTED", "max_concurrency": 10_001}, "max_concurrency"),
        ({"max_concurrency": -1}, "max_concurrency"),
        ({"items_path": "artifacts"}, "items_path"),
        ({"mode": "SOMETIMES"}, "mode"),
        ({"mode": "DISTRIBUTED", "label": "has space"}, "label"),
        ({"item_selector": {"key.$": 1}}, "item_selector"),
    ],
)
def test_bad_map_options(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ConfigurationError, match=match):
        MapStep("Each", [PassStep("Echo")], **kwargs)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: MapStep("Each", []),
        lambda: ParallelStep("Split", []),
        lambda: ParallelStep("Split", [[]]),
        lambda: S3Prefix("s3://bucket/prefix"),
        lambda: WaitStep("Hold", -1),
        lambda: PassStep("P", {1, 2}),
        lambda: PollConfig(initial_interval=0),
        lambda: PollConfig(jitter=2),
        lambda: PollConfig(initial_interval=2, max_interval=1),
        lambda: AsyncStepFunctionsPipeline("p", ROLE, region="Europe"),
        lambda: AsyncStepFunctionsPipeline("p", ROLE, type="FAST"),  # type: ignore[arg-type]
        lambda: AsyncStepFunctionsPipeline("p", ROLE, endpoint_url="localhost:4566"),
        lambda: AsyncStepFunctionsPipeline("p", ROLE, max_attempts=0),
    ],
)
def test_other_bad_arguments(bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        bad()


_ALLOWED = st.sampled_from("abcXYZ0189-_.")


@given(st.text(_ALLOWED, min_size=1, max_size=80))
def test_names_of_safe_characters_are_accepted(name: str) -> None:
    assert check_resource_name(name, "execution_name") == name


@given(
    st.text(_ALLOWED, max_size=40),
    st.sampled_from(' <>{}[]?*"#%\\^|~`$&,;:/\n\x7f'),
    st.text(_ALLOWED, max_size=39),
)
def test_names_with_a_forbidden_character_are_refused(head: str, bad: str, tail: str) -> None:
    with pytest.raises(ConfigurationError, match="execution_name"):
        check_resource_name(head + bad + tail, "execution_name")


# -- drawing ----------------------------------------------------------------------------------------


def test_mermaid_draws_steps_retries_catches_and_fan_out() -> None:
    pipeline = documented_pipeline()
    ingest = pipeline.steps[0]
    assert isinstance(ingest, PipelineStep)
    ingest.catch = "Notify"
    pipeline.add_step(
        MapStep(
            "PerArtifact",
            [PipelineStep("Featurise", lambda_arn("featurise"))],
            items_from=S3Prefix("clinops-bucket", "features/"),
            max_concurrency=50,
            tolerated_failure_percentage=5,
        )
    )
    pipeline.add_step(ParallelStep("Publish", [[PassStep("A")], [PassStep("B")]]))
    pipeline.add_handler(
        PipelineStep("Notify", lambda_arn("notify"), retry_attempts=0), FailStep("Failed", "Boom")
    )
    pipeline.definition()
    chart = pipeline.to_mermaid()
    assert chart.startswith("flowchart TD\n")
    for expected in (
        "<b>Ingest</b>",
        "λ clinops-ingest",
        "retry ×2 on Lambda service errors",
        "no retry",
        "timeout 1800 s",
        "map · distributed",
        "s3://clinops-bucket/features/",
        "max 50 at once",
        "tolerates 5% failed",
        "parallel · 2 branches",
        '-. "catch States.ALL" .->',
        'subgraph handlers ["on failure"]',
        "class ",
        "fail Boom",
    ):
        assert expected in chart, expected
    assert pipeline._repr_markdown_() == f"```mermaid\n{chart}```\n"
    bundle = pipeline._repr_mimebundle_()
    assert bundle["text/vnd.mermaid"] == chart and bundle["text/plain"] == repr(pipeline)
    assert repr(pipeline).startswith("AsyncStepFunctionsPipeline(name='clinops-daily-ingest'")


def test_mermaid_escapes_labels() -> None:
    pipeline = AsyncStepFunctionsPipeline("p", ROLE).add_step(PassStep('Say "hi" <now> #1'))
    chart = pipeline.to_mermaid()
    assert "Say #quot;hi#quot; #lt;now#gt; #35;1" in chart
    assert AsyncStepFunctionsPipeline("empty", ROLE).to_mermaid().count("-->") == 1


# -- error translation at the boundary ------------------------------------------------------------


def _client_error(code: str, status: int, message: str = "") -> Exception:
    from botocore.exceptions import ClientError

    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {
                "RequestId": "synthetic", "HostId": "", "HTTPStatusCode": status, "HTTPHeaders": {}, "RetryAttempts": 0,
            },
        },
        "StartExecution",
    )


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDeniedException", 400, PipelineAccessDeniedError),
        ("UnrecognizedClientException", 400, PipelineAccessDeniedError),
        ("InvalidSignatureException", 403, PipelineAccessDeniedError),
        ("StateMachineDoesNotExist", 400, PipelineNotDeployedError),
        ("ExecutionDoesNotExist", 400, ExecutionNotFoundError),
        ("InvalidDefinition", 400, ConfigurationError),
        ("ThrottlingException", 400, PipelineError),
        ("ExecutionLimitExceeded", 400, PipelineError),
        ("InternalFailure", 500, PipelineError),
    ],
)
def test_botocore_errors_are_translated(code: str, status: int, expected: type[Exception]) -> None:
    secret = "Credential=AKIDSYNTHETIC0000/20240101/us-east-1/states/aws4_request"
    translated = translate(_client_error(code, status, secret), "start execution 'x'")
    assert type(translated) is expected
    assert "start execution 'x'" in str(translated)
    if expected is PipelineAccessDeniedError:
        assert isinstance(translated, PermissionError) and "AKIDSYNTHETIC" not in str(translated)
    assert not type(translated).__module__.startswith("botocore")


def test_credential_errors_are_configuration_errors() -> None:
    from botocore.exceptions import EndpointConnectionError, NoCredentialsError, ProfileNotFound

    assert isinstance(translate(NoCredentialsError(), "deploy"), ConfigurationError)
    assert "'nightly'" in str(translate(ProfileNotFound(profile="nightly"), "deploy"))
    unreachable = translate(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), "deploy")
    assert type(unreachable) is PipelineError and "could not reach" in str(unreachable)


def _charts() -> dict[str, str]:
    nested = AsyncStepFunctionsPipeline("nested", ROLE)
    nested.add_step(
        MapStep(
            "PerSite",
            [
                ParallelStep(
                    "Split",
                    [
                        [PassStep("A"), WaitStep("Pause", 1)],
                        [MapStep("Inner", [PassStep("Echo")], items_path="$.x")],
                    ],
                    retry_attempts=1,
                ),
                FailStep("Stop", "Broken"),
            ],
            items_path="$.sites",
        )
    )
    awkward = AsyncStepFunctionsPipeline("awkward", ROLE).add_step(
        PassStep('Say "hi" <now> #1 & {x} [y] (z) | end;')
    )
    return {
        "nested": nested.to_mermaid(),
        "awkward": awkward.to_mermaid(),
        "empty": AsyncStepFunctionsPipeline("empty", ROLE).to_mermaid(),
    }


def test_mermaid_parses_with_mermaid_itself(mermaid_parser: MermaidParser) -> None:
    pipeline = documented_pipeline()
    ingest = pipeline.steps[0]
    assert isinstance(ingest, PipelineStep)
    ingest.catch = "Notify"
    pipeline.add_step(
        MapStep(
            "PerArtifact",
            [PipelineStep("Featurise", lambda_arn("featurise"))],
            items_from=S3Prefix("clinops-bucket", "features/"),
            max_concurrency=50,
        )
    )
    pipeline.add_handler(PipelineStep("Notify", lambda_arn("notify")), FailStep("Failed", "Boom"))
    for name, chart in {"documented": pipeline.to_mermaid(), **_charts()}.items():
        assert mermaid_parser.errors(chart) is None, f"{name}: {chart}"
    assert mermaid_parser.errors("flowchart TD\n  a --> \n") is not None


def test_every_step_still_renders_its_own_state() -> None:
    # render() was public on every step in 0.1.0; it gives the state the definition holds for it.
    lam = "arn:aws:lambda:us-east-1:123456789012:function:f"
    steps: list[Step] = [
        PipelineStep("Task", lam), WaitStep(name="Pause", seconds=5), PassStep(name="Mark", result={"ok": True}),
        ParallelStep(name="Both", branches=[[PipelineStep("A", lam)], [PipelineStep("B", lam)]]),
        MapStep(name="Each", steps=[PipelineStep("Item", lam)], items_path="$.items"),
    ]
    pipeline = AsyncStepFunctionsPipeline(name="render-check", role_arn=ROLE)
    for step in steps:
        pipeline.add_step(step)
    pipeline.add_step(FailStep(name="Stop", error="Done"))
    states = pipeline.definition()["States"]
    chain = [*steps, FailStep(name="Stop", error="Done")]
    for step, following in zip(chain, [*[s.name for s in chain[1:]], None], strict=True):
        assert step.render(following) == states[step.name]
    prefix = S3Prefix(bucket="my-clinical-bucket", prefix="windows/")
    assert prefix.render()["Parameters"] == {"Bucket": "my-clinical-bucket", "Prefix": "windows/"}
