"""The rules a state machine definition must keep, checked on its JSON before anything is sent.

The check works on the rendered definition (a dict), so it covers a loaded definition, a built one and
one changed by hand alike, and reaches the states nested in Parallel branches and Map processors.
Each failure is an :class:`~clinops_async.InvalidDefinitionError` naming the state. asl-validator
checks the same schema in the tests; this module adds the graph rules it does not (unreachable states,
states with no way to an end) and Step Functions' own limits.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .._exceptions import ConfigurationError, InvalidDefinitionError
from .validate import MAX_DEFINITION_BYTES, MAX_INPUT_BYTES, MAX_NAME_LENGTH, check_task_resource

__all__ = ["OPERATORS", "check_definition"]

_KINDS = ("String", "Numeric", "Timestamp")
_ORDERINGS = ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")
_TESTS = ("IsNull", "IsPresent", "IsNumeric", "IsString", "IsBoolean", "IsTimestamp")
#: Every comparison operator of a JSONPath Choice rule.
OPERATORS: frozenset[str] = frozenset(
    [f"{kind}{order}{path}" for kind in _KINDS for order in _ORDERINGS for path in ("", "Path")]
    + ["StringMatches", "BooleanEquals", "BooleanEqualsPath", *_TESTS]
)

_TYPES = {"Task", "Pass", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map"}
#: Fields that exist only when the state's query language is JSONPath, or only with JSONata.
_JSONPATH_ONLY = frozenset({
    "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemsPath", "Result",
    "SecondsPath", "TimestampPath", "ErrorPath", "CausePath", "TimeoutSecondsPath",
    "HeartbeatSecondsPath", "MaxConcurrencyPath", "ToleratedFailureCountPath",
    "ToleratedFailurePercentagePath",
})
_JSONATA_ONLY = frozenset({"Arguments", "Output", "Items"})
_PATHS = frozenset({"InputPath", "OutputPath", "ItemsPath", "SecondsPath", "TimestampPath",
                    "ErrorPath", "CausePath", "TimeoutSecondsPath", "HeartbeatSecondsPath",
                    "MaxConcurrencyPath", "ToleratedFailureCountPath", "ToleratedFailurePercentagePath"})
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})")
_JSONATA = re.compile(r"\{%.*%\}", re.DOTALL)
_TERMINAL = {"Succeed", "Fail"}
#: Fields whose value becomes (part of) a state's output or a task's input: over 256 KiB, the
#: execution fails with States.DataLimitExceeded every time the state runs.
_PAYLOADS = ("Result", "Parameters", "Arguments", "Output", "ItemSelector", "Assign")
#: JSONata fields, whose strings are checked for a whole ``{% ... %}`` expression.
_JSONATA_FIELDS = ("Arguments", "Output", "Assign", "Items", "Condition", "Seconds", "Timestamp",
                   "TimeoutSeconds", "HeartbeatSeconds", "Error", "Cause", "MaxConcurrency")


def _fail(state: str | None, message: str) -> InvalidDefinitionError:
    return InvalidDefinitionError(f"state {state!r}: {message}" if state else message, state=state)


def check_definition(definition: Mapping[str, Any]) -> None:
    """Raise InvalidDefinitionError on the first broken rule of ``definition``."""
    size = len(json.dumps(definition, ensure_ascii=False).encode("utf-8"))
    if size > MAX_DEFINITION_BYTES:
        raise _fail(None, f"the definition is {size} bytes as JSON; Step Functions accepts at most "
                          f"{MAX_DEFINITION_BYTES} (1 MiB): move large constants into the input or S3")
    language = definition.get("QueryLanguage", "JSONPath")
    if language not in ("JSONPath", "JSONata"):
        raise _fail(None, f"QueryLanguage must be 'JSONPath' or 'JSONata'; got {language!r}")
    timeout = definition.get("TimeoutSeconds")
    if timeout is not None and not _is_int(timeout, 0, 99_999_999):
        raise _fail(None, f"TimeoutSeconds must be an integer from 0 to 99999999; got {timeout!r}")
    seen: set[str] = set()
    _check_scope(definition, language, "the state machine", seen, nested=False)


def _is_int(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _check_scope(scope: Mapping[str, Any], language: str, where: str, seen: set[str], *,
                 nested: bool = True) -> None:
    states = scope.get("States")
    if nested and "QueryLanguage" in scope:
        raise _fail(None, f"{where} sets QueryLanguage; set it on the state machine or on each state")
    if not isinstance(states, Mapping) or not states:
        raise _fail(None, f"{where} needs States: a non-empty object of states")
    start = scope.get("StartAt")
    if not isinstance(start, str) or start not in states:
        raise _fail(None, f"{where} starts at {start!r}, which is not one of its states "
                          f"({', '.join(list(states)[:5])}...)")
    graph: dict[str, list[str]] = {}
    for name, state in states.items():
        if name in seen:
            raise _fail(name, "the name is used twice; state names must be unique in the whole machine")
        seen.add(name)
        if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_LENGTH:
            raise _fail(str(name)[:40], f"state names are 1-{MAX_NAME_LENGTH} characters")
        if not isinstance(state, Mapping):
            raise _fail(name, "a state must be a JSON object")
        state_language = _language(name, state, language)
        _check_state(name, state, state_language, seen)
        graph[name] = _targets(name, state, states, where)
    _check_graph(start, graph, states)


def _language(name: str, state: Mapping[str, Any], inherited: str) -> str:
    own = state.get("QueryLanguage", inherited)
    if own not in ("JSONPath", "JSONata"):
        raise _fail(name, f"QueryLanguage must be 'JSONPath' or 'JSONata'; got {own!r}")
    if inherited == "JSONata" and own == "JSONPath":
        raise _fail(name, "a JSONata state machine cannot hold JSONPath states")
    mixed = _JSONPATH_ONLY if own == "JSONata" else _JSONATA_ONLY
    wrong = sorted(mixed & set(state))
    if wrong:
        raise _fail(name, f"{', '.join(wrong)} belong to "
                          f"{'JSONPath' if own == 'JSONata' else 'JSONata'}, but the state uses {own}: "
                          f"use {'Arguments/Output' if own == 'JSONata' else 'Parameters/ResultPath'} "
                          "or set QueryLanguage")
    return str(own)


def _check_state(name: str, state: Mapping[str, Any], language: str, seen: set[str]) -> None:
    kind = state.get("Type")
    if kind not in _TYPES:
        raise _fail(name, f"Type must be one of {', '.join(sorted(_TYPES))}; got {kind!r}")
    for key in _PATHS & set(state):
        _check_path(name, key, state[key], reference=key != "InputPath" and key != "OutputPath")
    if "ResultPath" in state:
        _check_path(name, "ResultPath", state["ResultPath"], reference=True)
    for key in ("Parameters", "ResultSelector", "ItemSelector"):
        if key in state and language == "JSONPath":
            _check_template(name, key, state[key])
    for index, retrier in enumerate(state.get("Retry") or ()):
        _check_retrier(name, index, retrier)
    _check_payloads(name, state)
    if language == "JSONata":
        for key in _JSONATA_FIELDS:
            if key in state:
                _check_jsonata(name, key, state[key])
    if kind == "Wait":
        _check_wait(name, state, language)
    elif kind == "Fail":
        for field in ("Error", "Cause"):
            if field in state and f"{field}Path" in state:
                raise _fail(name, f"give {field} or {field}Path, not both")
    elif kind == "Task":
        _check_task(name, state)
    elif kind == "Choice":
        for rule in state.get("Choices") or ():
            _check_rule(name, rule, language, top=True)
    elif kind == "Parallel":
        branches = state.get("Branches")
        if not isinstance(branches, list) or not branches:
            raise _fail(name, "a Parallel state needs Branches: a non-empty list of state machines")
        for index, branch in enumerate(branches):
            _check_scope(branch, language, f"branch {index} of {name!r}", seen)
    elif kind == "Map":
        _check_map(name, state, language, seen)


def _check_path(name: str, key: str, value: object, *, reference: bool) -> None:
    if value is None and key in ("InputPath", "OutputPath", "ResultPath"):
        return  # null: discard the input, output or result, as the language allows
    if not isinstance(value, str) or not value.startswith("$"):
        raise _fail(name, f"{key} must be a JSONPath starting with '$' (such as '$.result'); got {value!r}")
    if value.startswith("$$") and key == "ResultPath":
        raise _fail(name, "ResultPath cannot write into the context object ('$$')")
    if reference and any(token in value for token in ("*", "..", "[?", "[(", ",", ":")):
        raise _fail(name, f"{key} must be a reference path to one value (no '*', '..', filters or "
                          f"slices); got {value!r}")
    if value.count("[") != value.count("]") or value.endswith("."):
        raise _fail(name, f"{key} is not a well-formed JSONPath: {value!r}")


def _check_template(name: str, key: str, value: object) -> None:
    if isinstance(value, Mapping):
        for field, item in value.items():
            if field.endswith(".$"):
                if not isinstance(item, str) or not item.startswith(("$", "States.")):
                    raise _fail(name, f"{key} field {field!r} ends in '.$', so its value must be a path "
                                      f"or an intrinsic function; got {item!r}")
            else:
                _check_template(name, key, item)
    elif isinstance(value, list):
        for item in value:
            _check_template(name, key, item)


def _check_payloads(name: str, state: Mapping[str, Any]) -> None:
    for key in _PAYLOADS:
        if key in state:
            size = len(json.dumps(state[key], ensure_ascii=False).encode("utf-8"))
            if size > MAX_INPUT_BYTES:
                raise _fail(name, f"its {key} is {size} bytes as JSON, over the 256 KiB Step Functions "
                                  "lets a state pass on: store the data (an artifact) and pass its URI")


def _check_jsonata(name: str, key: str, value: object) -> None:
    if isinstance(value, str):
        opens, closes = value.startswith("{%"), value.endswith("%}")
        if opens != closes or (opens and len(value) < 5):
            raise _fail(name, f"{key} holds {value[:60]!r}: a JSONata expression is written whole as "
                              "'{% expression %}'")
    elif isinstance(value, Mapping):
        for item in value.values():
            _check_jsonata(name, key, item)
    elif isinstance(value, list):
        for item in value:
            _check_jsonata(name, key, item)


def _check_retrier(name: str, index: int, retrier: object) -> None:
    what = f"Retry[{index}]"
    if not isinstance(retrier, Mapping):
        raise _fail(name, f"{what} must be an object")
    errors = retrier.get("ErrorEquals")
    if not isinstance(errors, list) or not errors or not all(isinstance(e, str) for e in errors):
        raise _fail(name, f"{what}.ErrorEquals must be a non-empty list of error names")
    if "States.ALL" in errors and len(errors) > 1:
        raise _fail(name, f"{what}: 'States.ALL' must appear alone")
    limits = {"IntervalSeconds": (1, 99_999_999), "MaxAttempts": (0, 99_999_999),
              "MaxDelaySeconds": (1, 31_622_400)}
    for key, (low, high) in limits.items():
        if key in retrier and not _is_int(retrier[key], low, high):
            raise _fail(name, f"{what}.{key} must be an integer from {low} to {high}; got {retrier[key]!r}")
    rate = retrier.get("BackoffRate", 2.0)
    if not isinstance(rate, int | float) or isinstance(rate, bool) or rate < 1.0:
        raise _fail(name, f"{what}.BackoffRate must be a number of at least 1.0; got {rate!r}")
    if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
        raise _fail(name, f"{what}.JitterStrategy must be 'FULL' or 'NONE'")


def _check_wait(name: str, state: Mapping[str, Any], language: str) -> None:
    given = [key for key in ("Seconds", "Timestamp", "SecondsPath", "TimestampPath") if key in state]
    if len(given) != 1:
        raise _fail(name, f"a Wait state needs exactly one of Seconds, Timestamp, SecondsPath and "
                          f"TimestampPath; got {given or 'none'}")
    value = state.get(given[0])
    if isinstance(value, str) and _JSONATA.fullmatch(value):
        return
    if given[0] == "Seconds" and not _is_int(value, 0, 99_999_999):
        raise _fail(name, f"Seconds must be an integer from 0 to 99999999; got {value!r}")
    if given[0] == "Timestamp":
        _check_timestamp(name, "Timestamp", value)


def _check_timestamp(name: str, key: str, value: object) -> None:
    if not isinstance(value, str) or not _TIMESTAMP.fullmatch(value):
        raise _fail(name, f"{key} must be an RFC 3339 time such as '2026-03-14T01:59:00Z' (with 'T' and "
                          f"a zone); got {value!r}")


def _check_task(name: str, state: Mapping[str, Any]) -> None:
    if not isinstance(state.get("Resource"), str) or not state["Resource"]:
        raise _fail(name, "a Task state needs a Resource (a Lambda function ARN, an integration ARN, ...)")
    try:
        check_task_resource(state["Resource"], "Resource")
    except ConfigurationError as exc:
        raise _fail(name, str(exc)) from None
    for field in ("TimeoutSeconds", "HeartbeatSeconds"):
        if field in state and f"{field}Path" in state:
            raise _fail(name, f"give {field} or {field}Path, not both")
        value = state.get(field)
        if value is not None and not (isinstance(value, str) or _is_int(value, 1, 99_999_999)):
            raise _fail(name, f"{field} must be an integer from 1 to 99999999; got {value!r}")
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
        raise _fail(name, f"HeartbeatSeconds ({heartbeat}) must be less than TimeoutSeconds ({timeout})")


def _check_rule(name: str, rule: object, language: str, *, top: bool) -> None:
    if not isinstance(rule, Mapping):
        raise _fail(name, "each Choice rule must be an object")
    if language == "JSONata":
        if not isinstance(rule.get("Condition"), str):
            raise _fail(name, "a JSONata Choice rule needs a Condition ('{% ... %}'), not Variable/And/Or/Not")
        return
    if "Condition" in rule:
        raise _fail(name, "Condition is JSONata, but the state uses JSONPath: use Variable and a "
                          "comparison, or set QueryLanguage to 'JSONata'")
    if not top and "Next" in rule:
        raise _fail(name, "a rule nested in And, Or or Not cannot have a Next")
    for key in ("And", "Or"):
        for item in rule.get(key) or ():
            _check_rule(name, item, language, top=False)
    if "Not" in rule:
        _check_rule(name, rule["Not"], language, top=False)
    operators = [key for key in rule if key in OPERATORS]
    if operators:
        _check_path(name, "Variable", rule.get("Variable"), reference=False)
        operator = operators[0]
        if operator.endswith("Path"):
            _check_path(name, operator, rule[operator], reference=False)
        elif operator.startswith("Timestamp"):
            _check_timestamp(name, operator, rule[operator])
    elif not any(key in rule for key in ("And", "Or", "Not")):
        raise _fail(name, f"a Choice rule needs a Variable and a comparison, And, Or or Not; got {sorted(rule)}")


_DISTRIBUTED_ONLY = ("ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailurePercentage",
                     "ToleratedFailureCount", "ToleratedFailurePercentagePath",
                     "ToleratedFailureCountPath", "Label")


def _check_map(name: str, state: Mapping[str, Any], language: str, seen: set[str]) -> None:
    processor = state.get("ItemProcessor", state.get("Iterator"))
    if not isinstance(processor, Mapping):
        raise _fail(name, "a Map state needs an ItemProcessor: the states run for each item")
    config = processor.get("ProcessorConfig") or {}
    mode = config.get("Mode", "INLINE")
    if mode not in ("INLINE", "DISTRIBUTED"):
        raise _fail(name, f"ProcessorConfig.Mode must be 'INLINE' or 'DISTRIBUTED'; got {mode!r}")
    if mode == "DISTRIBUTED" and config.get("ExecutionType") not in ("STANDARD", "EXPRESS"):
        raise _fail(name, "a Distributed Map needs ProcessorConfig.ExecutionType 'STANDARD' or 'EXPRESS'")
    if mode == "INLINE":
        wrong = [key for key in _DISTRIBUTED_ONLY if key in state]
        if wrong:
            raise _fail(name, f"{', '.join(wrong)} apply to a Distributed Map only (ProcessorConfig Mode "
                              "'DISTRIBUTED')")
    limits = {"MaxConcurrency": (0, 10_000 if mode == "DISTRIBUTED" else 99_999_999),
              "ToleratedFailureCount": (0, 99_999_999)}
    for key, (low, high) in limits.items():
        if key in state and not isinstance(state[key], str) and not _is_int(state[key], low, high):
            raise _fail(name, f"{key} must be an integer from {low} to {high}; got {state[key]!r}")
    percentage = state.get("ToleratedFailurePercentage")
    if percentage is not None and not isinstance(percentage, str) and not (
        isinstance(percentage, int | float) and not isinstance(percentage, bool) and 0 <= percentage <= 100
    ):
        raise _fail(name, f"ToleratedFailurePercentage must be a number from 0 to 100; got {percentage!r}")
    label = state.get("Label")
    if label is not None and (not isinstance(label, str) or not 1 <= len(label) <= 40):
        raise _fail(name, "Label must be 1-40 characters")
    _check_distributed_parts(name, state, language)
    _check_scope(processor, language, f"the item processor of {name!r}", seen)


def _check_distributed_parts(name: str, state: Mapping[str, Any], language: str) -> None:
    wrong = "Parameters" if language == "JSONata" else "Arguments"
    for part in ("ItemReader", "ResultWriter"):
        if isinstance(state.get(part), Mapping) and wrong in state[part]:
            raise _fail(name, f"{part}.{wrong} does not fit a {language} state: use "
                              f"{'Arguments' if wrong == 'Parameters' else 'Parameters'}")
    reader = state.get("ItemReader")
    if reader is not None:
        if not isinstance(reader, Mapping) or not isinstance(reader.get("Resource"), str):
            raise _fail(name, "ItemReader needs a Resource such as 'arn:aws:states:::s3:listObjectsV2'")
        config = reader.get("ReaderConfig") or {}
        if config.get("InputType", "JSON") not in ("CSV", "JSON", "JSONL", "MANIFEST"):
            raise _fail(name, f"ReaderConfig.InputType must be CSV, JSON, JSONL or MANIFEST; "
                              f"got {config.get('InputType')!r}")
        if "MaxItems" in config and not _is_int(config["MaxItems"], 1, 100_000_000):
            raise _fail(name, f"ReaderConfig.MaxItems must be an integer from 1 to 100000000; "
                              f"got {config['MaxItems']!r}")
        if config.get("InputType") == "CSV" and config.get("CSVHeaderLocation") == "GIVEN" \
                and not config.get("CSVHeaders"):
            raise _fail(name, "ReaderConfig.CSVHeaderLocation 'GIVEN' needs CSVHeaders")
    batcher = state.get("ItemBatcher")
    if batcher is not None:
        size = batcher.get("MaxInputBytesPerBatch")
        if size is not None and not _is_int(size, 1, 256 * 1024):
            raise _fail(name, f"ItemBatcher.MaxInputBytesPerBatch must be an integer from 1 to 262144 "
                              f"(256 KiB, the largest input of a child execution); got {size!r}")
        count = batcher.get("MaxItemsPerBatch")
        if count is not None and not _is_int(count, 1, 99_999_999):
            raise _fail(name, f"ItemBatcher.MaxItemsPerBatch must be a positive integer; got {count!r}")
    writer = state.get("ResultWriter")
    if writer is not None and not isinstance(writer, Mapping):
        raise _fail(name, "ResultWriter must be an object")


def _targets(name: str, state: Mapping[str, Any], states: Mapping[str, Any], where: str) -> list[str]:
    """The states ``name`` may go to, each checked to exist in the same scope."""
    kind = state["Type"]
    targets: list[tuple[str, object]] = [("Catch", c.get("Next")) for c in state.get("Catch") or ()
                                         if isinstance(c, Mapping)]
    if kind == "Choice":
        rules = state.get("Choices")
        if not isinstance(rules, list) or not rules:
            raise _fail(name, "a Choice state needs Choices: a non-empty list of rules")
        targets += [("a rule's Next", rule.get("Next")) for rule in rules]
        if "Default" in state:
            targets.append(("Default", state["Default"]))
        if "Next" in state or "End" in state:
            raise _fail(name, "a Choice state goes on through its rules and Default; it has no Next or End")
    elif kind in _TERMINAL:
        if "Next" in state or "End" in state:
            raise _fail(name, f"a {kind} state ends its branch; it has no Next or End")
    elif "Next" in state and state.get("End") is True:
        raise _fail(name, "give Next or \"End\": true, not both")
    elif "Next" in state:
        targets.append(("Next", state["Next"]))
    elif state.get("End") is not True:
        raise _fail(name, "the state has no way out: give it a Next or \"End\": true")
    for field, target in targets:
        if target not in states:
            raise _fail(name, f"its {field} goes to {target!r}, which is not a state of {where}")
    return [str(target) for _, target in targets]


def _check_graph(start: str, graph: Mapping[str, list[str]], states: Mapping[str, Any]) -> None:
    """From every state some way leads to an end, and every state is reached from StartAt."""
    ends = {name for name, state in states.items()
            if state["Type"] in _TERMINAL or state.get("End") is True}
    sources: dict[str, list[str]] = {name: [] for name in graph}
    for name, targets in graph.items():
        for target in targets:
            sources[target].append(name)
    todo = list(ends)
    while todo:  # walk back from the ends: whatever reaches one has a way out
        for source in sources[todo.pop()]:
            if source not in ends:
                ends.add(source)
                todo.append(source)
    stuck = [name for name in graph if name not in ends]
    if stuck:
        # Name a Choice of the loop when there is one: that is where a way out belongs.
        name = next((n for n in stuck if states[n]["Type"] == "Choice"), stuck[0])
        raise _fail(name, "no way leads from it to an end (a Succeed, a Fail or \"End\": true), so it "
                          "loops for ever: give a Choice in the loop a rule or Default that leaves it")
    reached = {start}
    todo = [start]
    while todo:
        for target in graph[todo.pop()]:
            if target not in reached:
                reached.add(target)
                todo.append(target)
    for name in graph:
        if name not in reached:
            raise _fail(name, "no state goes to it (and it is not StartAt), so it never runs: remove it "
                              "or give some state a Next to it")

