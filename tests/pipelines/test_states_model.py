"""The States Language model: builders, round trips of any definition, checks and pictures (no I/O)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from clinops_async import (
    AsyncS3PipelineStore,
    Catcher,
    Choice,
    ConfigurationError,
    DistributedMap,
    Fail,
    InvalidDefinitionError,
    ItemBatcher,
    ItemReader,
    Jsonata,
    Map,
    Parallel,
    Pass,
    ResultWriter,
    Retrier,
    Scope,
    StateMachine,
    StepFunctionsPipeline,
    Succeed,
    Task,
    Var,
    Wait,
)
from clinops_async._pipelines.pipeline import AsyncStepFunctionsPipeline
from clinops_async._pipelines.states import load_definition
from clinops_async._pipelines.steps import PipelineStep
from tests.pipelines.asl_examples import EXAMPLES, POLL_EXPORT, ROUTE_SAMPLES
from tests.support.stepfunctions import ROLE, AslValidator, MermaidParser, lambda_arn

#: Every definition a pipeline renders in these tests is also checked by asl-validator.
pytestmark = pytest.mark.usefixtures("validated_definitions")


def _same_text(a: Any, b: Any) -> bool:
    """Equal as JSON text: the same values and the same key order."""
    return json.dumps(a) == json.dumps(b)


# -- round trips ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_any_definition_loads_and_renders_back_equal(
    name: str, asl_validator: AslValidator, mermaid_parser: MermaidParser
) -> None:
    original = EXAMPLES[name]
    assert asl_validator.errors(original) is None
    kept = copy.deepcopy(original)
    pipeline = AsyncStepFunctionsPipeline.from_definition(original, "round-trip", ROLE)
    assert pipeline.definition() == original
    assert _same_text(pipeline.definition(), original)
    assert original == kept, "loading must not change the input"
    from_text = AsyncStepFunctionsPipeline.from_definition(json.dumps(original), "round-trip", ROLE)
    assert _same_text(from_text.definition(), original)
    assert from_text.machine == pipeline.machine
    assert mermaid_parser.errors(pipeline.to_mermaid()) is None


def test_fields_the_model_does_not_know_are_carried() -> None:
    definition = copy.deepcopy(POLL_EXPORT)
    definition["X-Owner"] = "data-platform"
    definition["States"]["Pause"]["X-Note"] = {"why": "the export takes minutes"}
    definition["States"]["Finished?"]["Choices"][0]["X-Rule"] = 1
    machine = load_definition(definition)
    assert machine.extra == {"X-Owner": "data-platform"}
    assert machine["Pause"].extra == {"X-Note": {"why": "the export takes minutes"}}
    assert _same_text(machine.to_asl(), definition)


def test_a_loaded_machine_is_inspected_and_changed(mermaid_parser: MermaidParser) -> None:
    pipeline = AsyncStepFunctionsPipeline.from_definition(ROUTE_SAMPLES, "samples", ROLE)
    assert pipeline.machine is not None
    classify = pipeline.machine["Classify"]
    assert isinstance(classify, Choice)
    assert [rule.next for rule in classify.choices] == ["Centrifuge", "Discard", "Queue", "Discard", "Discard"]
    centrifuge = pipeline.machine["Centrifuge"]
    assert isinstance(centrifuge, Task)
    assert centrifuge.retriers is not None and centrifuge.retriers[0].jitter_strategy == "FULL"
    assert [c.next for c in centrifuge.catchers or ()] == ["Queue", "Broken"]

    slower = centrifuge.retry("States.TaskFailed", max_attempts=2, interval_seconds=5)
    pipeline.machine = pipeline.machine.with_state(slower)
    rendered = pipeline.definition()["States"]["Centrifuge"]
    assert rendered["Retry"][-1] == {"ErrorEquals": ["States.TaskFailed"], "IntervalSeconds": 5,
                                     "MaxAttempts": 2}
    assert list(rendered)[:4] == ["Type", "Resource", "InputPath", "Parameters"], "input order kept"
    assert "Centrifuge" in pipeline.to_mermaid()
    assert mermaid_parser.errors(pipeline.to_mermaid()) is None


def test_the_blocking_pipeline_loads_definitions_too() -> None:
    with StepFunctionsPipeline.from_definition(POLL_EXPORT, "poll", ROLE) as pipeline:
        assert pipeline.definition() == POLL_EXPORT
        assert pipeline.machine is not None and "Pause" in pipeline.machine
        pipeline.machine = pipeline.machine.with_state(Wait("Pause", seconds=60).then("CheckExport"))
        assert pipeline.definition()["States"]["Pause"] == {"Type": "Wait", "Seconds": 60,
                                                           "Next": "CheckExport"}
    with pytest.raises(InvalidDefinitionError):
        StepFunctionsPipeline.from_definition({"StartAt": "Nowhere", "States": {}}, "bad", ROLE)


def test_a_machine_and_add_step_steps_do_not_mix() -> None:
    pipeline = AsyncStepFunctionsPipeline.from_definition(POLL_EXPORT, "poll", ROLE)
    pipeline.add_step(PipelineStep("Extra", lambda_arn("extra")))
    with pytest.raises(ConfigurationError, match="both a state machine and add_step"):
        pipeline.definition()


def test_not_json_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="not JSON"):
        load_definition("{'StartAt': ")
    with pytest.raises(ConfigurationError, match="Type 'Loop'"):
        load_definition({"StartAt": "A", "States": {"A": {"Type": "Loop"}}})


# -- builders ---------------------------------------------------------------------------------------


def test_a_choice_reads_like_its_rule(asl_validator: AslValidator) -> None:
    route = Choice("Route").when(Var("$.age") > 65, "Elderly").otherwise("Adult")
    machine = StateMachine.of(route, Pass("Elderly"), Pass("Adult"))
    definition = machine.definition()
    assert definition == {
        "StartAt": "Route",
        "States": {
            "Route": {"Type": "Choice",
                      "Choices": [{"Variable": "$.age", "NumericGreaterThan": 65, "Next": "Elderly"}],
                      "Default": "Adult"},
            "Elderly": {"Type": "Pass", "End": True},
            "Adult": {"Type": "Pass", "End": True},
        },
    }
    assert asl_validator.errors(definition) is None


@pytest.mark.parametrize(("condition", "expected"), [
    (Var("$.n") == 3, {"Variable": "$.n", "NumericEquals": 3}),
    (Var("$.n") < 2.5, {"Variable": "$.n", "NumericLessThan": 2.5}),
    (Var("$.n") <= 2, {"Variable": "$.n", "NumericLessThanEquals": 2}),
    (Var("$.n") >= 2, {"Variable": "$.n", "NumericGreaterThanEquals": 2}),
    (Var("$.s") == "x", {"Variable": "$.s", "StringEquals": "x"}),
    (Var("$.s") > "m", {"Variable": "$.s", "StringGreaterThan": "m"}),
    (Var("$.b") == True, {"Variable": "$.b", "BooleanEquals": True}),  # noqa: E712 - builds a rule
    (Var("$.t").timestamp > "2026-01-01T00:00:00Z",
     {"Variable": "$.t", "TimestampGreaterThan": "2026-01-01T00:00:00Z"}),
    (Var("$.a").number <= Var("$.b"), {"Variable": "$.a", "NumericLessThanEqualsPath": "$.b"}),
    (Var("$.a").string == Var("$.b"), {"Variable": "$.a", "StringEqualsPath": "$.b"}),
    (Var("$.a").timestamp < Var("$.b"), {"Variable": "$.a", "TimestampLessThanPath": "$.b"}),
    (Var("$.a").boolean == Var("$.b"), {"Variable": "$.a", "BooleanEqualsPath": "$.b"}),
    (Var("$.s").matches("log-*.csv"), {"Variable": "$.s", "StringMatches": "log-*.csv"}),
    (Var("$.x").is_present(), {"Variable": "$.x", "IsPresent": True}),
    (Var("$.x").is_null(False), {"Variable": "$.x", "IsNull": False}),
    (Var("$.x").is_numeric(), {"Variable": "$.x", "IsNumeric": True}),
    (Var("$.x").is_string(), {"Variable": "$.x", "IsString": True}),
    (Var("$.x").is_boolean(), {"Variable": "$.x", "IsBoolean": True}),
    (Var("$.x").is_timestamp(), {"Variable": "$.x", "IsTimestamp": True}),
    (Var("$.s") != "x", {"Not": {"Variable": "$.s", "StringEquals": "x"}}),
    ((Var("$.a") > 1) & (Var("$.b") > 2) & (Var("$.c") > 3),
     {"And": [{"Variable": "$.a", "NumericGreaterThan": 1}, {"Variable": "$.b", "NumericGreaterThan": 2},
              {"Variable": "$.c", "NumericGreaterThan": 3}]}),
    ((Var("$.a") > 1) | ~Var("$.b").is_present(),
     {"Or": [{"Variable": "$.a", "NumericGreaterThan": 1}, {"Not": {"Variable": "$.b", "IsPresent": True}}]}),
])
def test_every_comparison_is_written_in_python(
    condition: Any, expected: dict[str, Any], asl_validator: AslValidator
) -> None:
    choice = Choice("Test").when(condition, "Yes").otherwise("No")
    definition = StateMachine.of(choice, Succeed("Yes"), Succeed("No")).definition()
    assert definition["States"]["Test"]["Choices"][0] == {**expected, "Next": "Yes"}
    assert asl_validator.errors(definition) is None
    assert load_definition(definition).definition() == definition


def test_comparing_two_variables_needs_a_kind() -> None:
    with pytest.raises(ConfigurationError, match=r"say which kind.*\.number"):
        _ = Var("$.a") > Var("$.b")
    with pytest.raises(ConfigurationError, match="only be compared with =="):
        _ = Var("$.a").boolean > True
    with pytest.raises(ConfigurationError, match="compare with a number"):
        _ = Var("$.a") == [1]
    with pytest.raises(ConfigurationError, match="takes a condition"):
        Choice("C").when(3, "X")  # type: ignore[arg-type]


def test_builders_make_a_whole_machine(asl_validator: AslValidator, mermaid_parser: MermaidParser) -> None:
    ingest = (Task("Ingest", resource=lambda_arn("ingest"), timeout_seconds=600, result_path="$.ingest")
              .retry(["Lambda.TooManyRequestsException"], max_attempts=4, backoff_rate=2.0,
                     max_delay_seconds=60, jitter_strategy="FULL")
              .retry("States.Timeout", max_attempts=1)
              .catch("IngestRejected", "Rejected", result_path="$.error")
              .catch("States.ALL", "Broken", result_path="$.error"))
    fan = Parallel("Checks", branches=(
        Scope.chain(Task("Audit", resource=lambda_arn("audit"))),
        Scope.chain(Wait("Settle", seconds=5), Pass("Noted", result={"noted": True})),
    ), result_path="$.checks")
    each = Map.inline("EachSite", Task("Site", resource=lambda_arn("site")), items_path="$.sites",
                      max_concurrency=4)
    machine = StateMachine.chain(
        ingest, fan, each,
        Choice("Enough?").when(Var("$.ingest.rows") >= 100, "Done").otherwise("Backoff"),
        Wait("Backoff", seconds=30).then("Ingest"),
        Succeed("Done"), Pass("Rejected", result_path="$.outcome").ends(),
        Fail("Broken", error_path="$.error.Error", cause_path="$.error.Cause"),
        comment="built in Python", timeout_seconds=7200,
    )
    definition = machine.definition()
    assert list(definition) == ["Comment", "StartAt", "States", "TimeoutSeconds"]
    assert definition["States"]["Ingest"]["Next"] == "Checks"
    assert definition["States"]["Checks"]["Next"] == "EachSite"
    assert definition["States"]["EachSite"]["Next"] == "Enough?"
    assert len(definition["States"]["Ingest"]["Retry"]) == 2
    assert len(definition["States"]["Ingest"]["Catch"]) == 2
    assert asl_validator.errors(definition) is None
    assert load_definition(definition) == machine
    pipeline = AsyncStepFunctionsPipeline.from_definition(machine, "built", ROLE)
    chart = pipeline.to_mermaid()
    assert mermaid_parser.errors(chart) is None
    assert '-- "$.ingest.rows #gt;= 100" -->' in chart and '-- "otherwise" -->' in chart
    assert '-. "catch IngestRejected" .->' in chart
    assert 'subgraph' in chart and '"each item"' in chart
    ids = {line.split("(")[0].split("[")[0].split("{")[0].strip(): line for line in chart.splitlines()
           if "<b>" in line}
    by_name = {line.split("<b>")[1].split("</b>")[0]: node for node, line in ids.items()}
    assert f'{by_name["Backoff"]} --> {by_name["Ingest"]}' in chart, "the loop back is drawn"


def test_jsonata_builders(asl_validator: AslValidator) -> None:
    machine = StateMachine.chain(
        Task("Load", resource="arn:aws:states:::lambda:invoke",
             arguments={"FunctionName": lambda_arn("load"), "Payload": "{% $states.input %}"},
             output="{% $states.result.Payload %}", assign={"rows": "{% $states.result.Payload.rows %}"}),
        Choice("Big?").when("{% $count($rows) > 10 %}", "Big").when(Jsonata("{% $count($rows) = 0 %}"),
                                                                     "Empty").otherwise("Small"),
        Succeed("Big"), Succeed("Empty"), Succeed("Small"),
        query_language="JSONata",
    )
    definition = machine.definition()
    assert definition["QueryLanguage"] == "JSONata"
    assert definition["States"]["Big?"]["Choices"][0] == {"Condition": "{% $count($rows) > 10 %}",
                                                          "Next": "Big"}
    assert asl_validator.errors(definition) is None


def test_retrier_and_catcher_models() -> None:
    assert Retrier(error_equals=("States.ALL",), max_attempts=0).to_asl() == {
        "ErrorEquals": ["States.ALL"], "MaxAttempts": 0}
    assert Catcher(error_equals=("A", "B"), next="H", result_path="$.e").to_asl() == {
        "ErrorEquals": ["A", "B"], "Next": "H", "ResultPath": "$.e"}


# -- Distributed Map ------------------------------------------------------------------------------


def test_distributed_map_over_a_store_in_one_line(asl_validator: AslValidator) -> None:
    store = AsyncS3PipelineStore("clinops-synthetic", prefix="clinops/prod")
    each = DistributedMap.over_store("EachArtifact", store, "features/", Task("Featurise",
                                     resource=lambda_arn("featurise")), max_concurrency=50)
    definition = StateMachine.of(each).definition()
    state = definition["States"]["EachArtifact"]
    assert state["ItemReader"] == {"Resource": "arn:aws:states:::s3:listObjectsV2",
                                   "Parameters": {"Bucket": "clinops-synthetic",
                                                  "Prefix": "clinops/prod/features/"}}
    assert state["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert state["ItemSelector"]["key.$"] == "$$.Map.Item.Value.Key"
    assert asl_validator.errors(definition) is None


def test_over_store_needs_an_s3_store(tmp_path: Any) -> None:
    from clinops_async import AsyncLocalPipelineStore

    with pytest.raises(ConfigurationError, match="needs an S3 store"):
        DistributedMap.over_store("Each", AsyncLocalPipelineStore(tmp_path), "x/", Pass("P"))  # type: ignore[arg-type]


@pytest.mark.parametrize(("reader", "expected_config"), [
    (ItemReader.s3_prefix("b-synthetic", "in/", max_items=10), {"MaxItems": 10}),
    (ItemReader.s3_object("b-synthetic", "a.json"), {"InputType": "JSON"}),
    (ItemReader.s3_object("b-synthetic", "a.jsonl", "JSONL", max_items=5), {"InputType": "JSONL", "MaxItems": 5}),
    (ItemReader.s3_object("b-synthetic", "a.csv", "CSV"), {"InputType": "CSV", "CSVHeaderLocation": "FIRST_ROW"}),
    (ItemReader.s3_object("b-synthetic", "a.csv", "CSV", csv_headers=("id", "v"), csv_delimiter="SEMICOLON"),
     {"InputType": "CSV", "CSVHeaderLocation": "GIVEN", "CSVHeaders": ["id", "v"], "CSVDelimiter": "SEMICOLON"}),
    (ItemReader.inventory_manifest("b-synthetic", "inv/manifest.json"), {"InputType": "MANIFEST"}),
    (ItemReader.s3_prefix("$.bucket", "$.prefix"), None),
])
def test_distributed_map_readers_batches_and_results(
    reader: ItemReader, expected_config: dict[str, Any] | None, asl_validator: AslValidator
) -> None:
    each = DistributedMap.over(
        "Each", reader, Task("Work", resource=lambda_arn("work")), execution_type="EXPRESS",
        item_batcher=ItemBatcher(max_items_per_batch=20, max_input_bytes_per_batch=4096,
                                 batch_input={"run.$": "$.run"}),
        result_writer=ResultWriter.to_s3("b-synthetic", "out/", output_type="JSONL", transformation="FLATTEN"),
        tolerated_failure_percentage=2, tolerated_failure_count=3, label="each",
    )
    definition = StateMachine.of(each).definition()
    state = definition["States"]["Each"]
    assert state["ItemReader"].get("ReaderConfig") == expected_config
    assert state["ItemBatcher"] == {"MaxItemsPerBatch": 20, "MaxInputBytesPerBatch": 4096,
                                    "BatchInput": {"run.$": "$.run"}}
    assert state["ResultWriter"]["WriterConfig"] == {"OutputType": "JSONL", "Transformation": "FLATTEN"}
    assert asl_validator.errors(definition) is None
    assert load_definition(definition) == StateMachine.of(each)


def test_reader_options_are_checked() -> None:
    with pytest.raises(ConfigurationError, match="input_type"):
        ItemReader.s3_object("b", "k", "XML")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="need input_type='CSV'"):
        ItemReader.s3_object("b", "k", "JSON", csv_headers=("a",))


# -- checks before any call -------------------------------------------------------------------------

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(definition: dict[str, Any]) -> None:
        *parents, last = path.split("/")
        node: Any = definition
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        if value is _DELETE:
            del node[last]
        else:
            node[last] = value
    return mutate


_DELETE = object()


@pytest.mark.parametrize(("mutation", "state", "message"), [
    (_set("States/Pause/Next", "Nowhere"), "Pause", "goes to 'Nowhere', which is not a state"),
    (_set("States/Orphan", {"Type": "Pass", "End": True}), "Orphan", "never runs"),
    (_set("States/Finished?/Choices", [{"Variable": "$.x", "IsPresent": True, "Next": "Pause"}]),
     "Finished?", "loops for ever"),
    (_set("States/Finished?/Choices", []), "Finished?", "non-empty list of rules"),
    (_set("States/Pause/Next", _DELETE), "Pause", "no way out"),
    (_set("States/Pause/End", True), "Pause", "not both"),
    (_set("States/Exported/Next", "Pause"), "Exported", "has no Next or End"),
    (_set("States/StartExport/Arguments", {"a": 1}), "StartExport", "Arguments belong to JSONata"),
    (_set("States/StartExport/QueryLanguage", "JSONata"), "StartExport", "ResultPath belong to JSONPath"),
    (_set("States/Finished?/Choices/0/Condition", "{% true %}"), "Finished?", "needs a Variable|JSONata"),
    (_set("States/StartExport/ResultPath", "job"), "StartExport", "JSONPath starting with"),
    (_set("States/StartExport/ResultPath", "$.jobs[*]"), "StartExport", "reference path"),
    (_set("States/CheckExport/InputPath", "$.job["), "CheckExport", "not a well-formed"),
    (_set("States/CheckExport/Parameters/Payload.$", "job"), "CheckExport", "must be a path"),
    (_set("States/Pause/Seconds", -1), "Pause", "Seconds must be an integer"),
    (_set("States/Pause/Timestamp", "2026-01-01"), "Pause", "exactly one of"),
    (_set("States/ExportFailed/ErrorPath", "$.e"), "ExportFailed", "Error or ErrorPath"),
    (_set("States/StartExport/Retry", [{"ErrorEquals": ["States.ALL", "X"]}]), "StartExport", "alone"),
    (_set("States/StartExport/Retry", [{"ErrorEquals": ["X"], "BackoffRate": 0.5}]), "StartExport",
     "BackoffRate"),
    (_set("States/StartExport/Retry", [{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}]), "StartExport",
     "JitterStrategy"),
    (_set("States/StartExport/Catch", [{"ErrorEquals": ["States.ALL"], "Next": "Gone"}]), "StartExport",
     "Catch goes to 'Gone'"),
    (_set("States/StartExport/HeartbeatSeconds", 900), "StartExport", "HeartbeatSeconds"),
])
def test_a_broken_definition_names_the_state(mutation: Mutation, state: str, message: str) -> None:
    definition = copy.deepcopy(POLL_EXPORT)
    if "HeartbeatSeconds" in message:
        definition["States"]["StartExport"]["TimeoutSeconds"] = 600
    mutation(definition)
    with pytest.raises(InvalidDefinitionError, match=message) as caught:
        AsyncStepFunctionsPipeline.from_definition(definition, "broken", ROLE)
    assert caught.value.state == state
    assert isinstance(caught.value, ConfigurationError)


@pytest.mark.parametrize(("state", "message"), [
    (Wait("W", timestamp="2026-13-01 10:00").ends(), "RFC 3339"),
    (Choice("C").when(Var("$.t").timestamp > "yesterday", "E").otherwise("E"), "RFC 3339"),
    (Map("M", item_processor=None).ends(), "needs an ItemProcessor"),
    (Map.inline("M", Pass("P"), tolerated_failure_count=1).ends(), "Distributed Map only"),
    (DistributedMap.over("M", ItemReader.s3_prefix("bkt"), Pass("P"),
                         item_batcher=ItemBatcher(max_input_bytes_per_batch=300_000)).ends(), "256 KiB"),
    (DistributedMap.over("M", ItemReader.s3_prefix("bkt", max_items=0), Pass("P")).ends(), "MaxItems"),
    (DistributedMap.over("M", ItemReader.s3_prefix("bkt"), Pass("P"), max_concurrency=20_000).ends(),
     "MaxConcurrency"),
    (DistributedMap.over("M", ItemReader.s3_prefix("bkt"), Pass("P"),
                         tolerated_failure_percentage=101).ends(), "ToleratedFailurePercentage"),
    (Parallel("P", branches=()).ends(), "non-empty list of state machines"),
    (Task("T", resource="").ends(), "needs a Resource"),
    (Task("T", resource="arn:aws:lambda:us-east-1:12345:function:f").ends(), "12 digits"),
    (Task("T", resource="lambda:invoke").ends(), "is not a Task resource"),
    (Pass("P", result={"blob": "x" * (300 * 1024)}).ends(), "over the 256 KiB"),
    (Pass("P", query_language="JSONata", output="{% $states.input").ends(), "written whole"),
    (Pass("P", query_language="JSONata", assign={"n": {"deep": "$count %}"}}).ends(), "written whole"),
])
def test_built_states_are_checked(state: Any, message: str) -> None:
    machine = StateMachine.of(state, Succeed("E"))
    with pytest.raises(InvalidDefinitionError, match=message):
        machine.definition()


def test_names_are_unique_across_nested_scopes() -> None:
    machine = StateMachine.of(Parallel("P", branches=(Scope.of(Pass("P")),)))
    with pytest.raises(InvalidDefinitionError, match="used twice") as caught:
        machine.definition()
    assert caught.value.state == "P"


def test_query_language_is_set_on_the_machine_or_a_state() -> None:
    definition = copy.deepcopy(POLL_EXPORT)
    definition["States"]["StartExport"] = {"Type": "Parallel", "Branches": [
        {"StartAt": "B", "QueryLanguage": "JSONata", "States": {"B": {"Type": "Pass", "End": True}}}],
        "Next": "Pause"}
    with pytest.raises(InvalidDefinitionError, match="sets QueryLanguage"):
        load_definition(definition).definition()


def test_a_malformed_field_names_its_state() -> None:
    definition = copy.deepcopy(POLL_EXPORT)
    definition["States"]["StartExport"]["Retry"] = {"ErrorEquals": ["States.ALL"]}
    with pytest.raises(InvalidDefinitionError, match="'StartExport'.*JSON array") as caught:
        load_definition(definition)
    assert caught.value.state == "StartExport"


def test_item_reader_fields_follow_the_query_language() -> None:
    each = DistributedMap.over("Each", ItemReader.s3_prefix("bkt"), Pass("P"), query_language="JSONata")
    with pytest.raises(InvalidDefinitionError, match=r"ItemReader.Parameters does not fit a JSONata"):
        StateMachine.of(each).definition()


def test_a_jsonata_machine_holds_no_jsonpath_state() -> None:
    machine = StateMachine.of(Pass("P", query_language="JSONPath"), query_language="JSONata")
    with pytest.raises(InvalidDefinitionError, match="cannot hold JSONPath"):
        machine.definition()


def test_the_definition_size_limit() -> None:
    big = StateMachine.of(Pass("Big", result={"blob": "x" * (1024 * 1024)}))
    with pytest.raises(InvalidDefinitionError, match="1 MiB") as caught:
        big.definition()
    assert caught.value.state is None


def test_a_state_needs_a_name() -> None:
    with pytest.raises(ConfigurationError, match="needs a name"):
        Pass("")


def test_scope_lookup_and_removal() -> None:
    machine = load_definition(POLL_EXPORT)
    assert machine.names[:2] == ["StartExport", "Pause"]
    with pytest.raises(KeyError):
        machine["Nope"]
    smaller = machine.without_state("ExportFailed")
    assert "ExportFailed" not in smaller and "ExportFailed" in machine
    with pytest.raises(InvalidDefinitionError, match="ExportFailed"):
        smaller.definition()


def test_lists_given_by_hand_compare_equal_to_loaded_ones() -> None:
    by_hand = Parallel("P", branches=[Scope.of(Pass("A"))],  # type: ignore[arg-type]
                       retriers=[Retrier(error_equals="States.ALL", max_attempts=1)]).ends()  # type: ignore[arg-type]
    assert by_hand.retriers == (Retrier(error_equals=("States.ALL",), max_attempts=1),)
    machine = StateMachine.of(by_hand)
    assert load_definition(machine.definition()) == machine
    assert machine.definition()["States"]["P"]["Retry"] == [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 1}]


async def test_a_broken_machine_is_refused_before_any_call() -> None:
    pipeline = AsyncStepFunctionsPipeline.from_definition(
        POLL_EXPORT, "poll", ROLE, endpoint_url="http://127.0.0.1:9")  # nothing listens there
    assert pipeline.machine is not None
    pipeline.machine = pipeline.machine.with_state(Wait("Pause", seconds=5).then("Elsewhere"))
    with pytest.raises(InvalidDefinitionError, match="Elsewhere") as caught:
        await pipeline.deploy()
    assert caught.value.state == "Pause"
    assert pipeline._client is None, "no client was opened"
    await pipeline.aclose()


def test_walk_reaches_nested_states() -> None:
    machine = load_definition(EXAMPLES["callback review"])
    assert [state.name for state in machine.walk()] == [
        "AskReviewer", "ReviewUntil", "Parallel checks", "Audit", "Notify", "Noted", "Escalate"]


def test_a_sam_definition_with_substitutions() -> None:
    template_definition = json.dumps({
        "StartAt": "Ingest",
        "States": {"Ingest": {"Type": "Task", "Resource": "${IngestFunctionArn}",
                              "Parameters": {"table": "${TableName}", "note": "keep ${literal} text? no"},
                              "End": True}},
    }).replace("${literal}", "{literal}")
    arn = lambda_arn("clinops-ingest")
    pipeline = AsyncStepFunctionsPipeline.from_definition(
        template_definition, "from-sam", ROLE,
        substitutions={"IngestFunctionArn": arn, "TableName": "visits"})
    state = pipeline.definition()["States"]["Ingest"]
    assert state["Resource"] == arn and state["Parameters"]["table"] == "visits"
    with pytest.raises(InvalidDefinitionError, match=r"\$\{TableName\}, which substitutions does not give"):
        AsyncStepFunctionsPipeline.from_definition(template_definition, "from-sam", ROLE,
                                                   substitutions={"IngestFunctionArn": arn})
    with pytest.raises(InvalidDefinitionError, match="is not a Task resource") as caught:
        AsyncStepFunctionsPipeline.from_definition(template_definition, "from-sam", ROLE)
    assert caught.value.state == "Ingest"
