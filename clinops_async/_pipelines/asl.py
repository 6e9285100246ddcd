"""The rendering of a pipeline's steps into Amazon States Language (ASL), the JSON Step Functions runs.

Each step becomes one state whose keys come in a fixed order (the order the original
``clinops.orchestrate`` wrote for a Task: ``Type``, ``Resource``, ``TimeoutSeconds``, ``Retry``,
``Comment``, ``Parameters``, then ``Next`` or ``"End": true``). A fan-out step renders its chains as
scopes of their own. Every step is validated again here, since dataclasses can be changed after they
were created.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_never

from .._exceptions import ConfigurationError
from .steps import (
    FailStep,
    MapStep,
    ParallelStep,
    PassStep,
    PipelineStep,
    RetryAndCatch,
    S3Prefix,
    Step,
    WaitStep,
    step_names,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["render_definition", "render_item_reader", "render_state"]

_S3_LIST_OBJECTS = "arn:aws:states:::s3:listObjectsV2"


def render_definition(
    name: str, comment: str, steps: Sequence[Step], handlers: Sequence[Sequence[Step]]
) -> dict[str, Any]:
    """The ASL definition of a pipeline: Comment, StartAt, States (in that order)."""
    if not steps:
        raise ConfigurationError(f"pipeline {name!r} has no steps; add one with add_step() first")
    seen: set[str] = set()
    for state in step_names([*steps, *(s for h in handlers for s in h)]):
        if state in seen:
            raise ConfigurationError(f"step name {state!r} is used twice; state names must be unique")
        seen.add(state)
    scope = _render_scope(steps, handlers, "pipeline")
    return {"Comment": comment or f"{name} — built by clinops.orchestrate", **scope}


def _render_scope(chain: Sequence[Step], handlers: Sequence[Sequence[Step]], where: str) -> dict[str, Any]:
    """``{"StartAt": ..., "States": {...}}`` of a chain and its handler chains (one ASL scope)."""
    chains = [chain, *handlers]
    local = {step.name for c in chains for step in c}
    targets: set[str] = set()
    states: dict[str, Any] = {}
    for c in chains:
        for index, step in enumerate(c):
            step.validate()
            catch = step.catch if isinstance(step, RetryAndCatch) else None
            if catch is not None:
                if catch not in local:
                    raise ConfigurationError(
                        f"step {step.name!r} catches into {catch!r}, which is not a step of the same "
                        f"{where}; add it with add_handler() (or to that chain) first"
                    )
                targets.add(catch)
            following = c[index + 1].name if index + 1 < len(c) else None
            states[step.name] = render_state(step, following)
    for handler in handlers:
        if handler[0].name not in targets:
            raise ConfigurationError(
                f"handler {handler[0].name!r} is never reached: set catch={handler[0].name!r} on a step"
            )
    return {"StartAt": chain[0].name, "States": states}


def render_state(step: Step, next_state: str | None) -> dict[str, Any]:
    """The ASL state of ``step``, followed by ``next_state`` (None: its chain ends there)."""
    match step:
        case PipelineStep():
            return _task_state(step, next_state)
        case WaitStep():
            state: dict[str, Any] = {"Type": "Wait", **_comment(step.comment), "Seconds": step.seconds}
            return _add_next(state, next_state)
        case PassStep():
            return _add_next(_pass_state(step), next_state)
        case FailStep():
            return _fail_state(step, next_state)
        case ParallelStep():
            state = {"Type": "Parallel", **_comment(step.comment)}
            state["Branches"] = [_render_scope(list(branch), [], f"branch of {step.name!r}")
                                 for branch in step.branches]
            return _add_retry_catch_next(state, step, next_state, retry=True)
        case MapStep():
            return _add_retry_catch_next(_map_state(step), step, next_state, retry=True)
        case _:
            assert_never(step)


def _comment(comment: str) -> dict[str, str]:
    return {"Comment": comment} if comment else {}


def _task_state(step: PipelineStep, next_state: str | None) -> dict[str, Any]:
    state: dict[str, Any] = {
        "Type": "Task",
        "Resource": step.resource,
        "TimeoutSeconds": step.timeout_seconds,
        # Always present, even with retry_attempts=0 (MaxAttempts 0), as the original wrote it.
        "Retry": _retry_block(step),
        **_comment(step.comment),
    }
    if step.parameters:
        state["Parameters"] = step.parameters
    return _add_retry_catch_next(state, step, next_state, retry=False)


def _pass_state(step: PassStep) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Pass", **_comment(step.comment)}
    if step.result is not None:
        state["Result"] = step.result
    if step.result_path is not None:
        state["ResultPath"] = step.result_path
    return state


def _fail_state(step: FailStep, next_state: str | None) -> dict[str, Any]:
    if next_state is not None:
        raise ConfigurationError(
            f"FailStep {step.name!r} ends the execution, so it must be the last step of its chain "
            f"(it is followed by {next_state!r})"
        )
    state: dict[str, Any] = {"Type": "Fail", **_comment(step.comment)}
    if step.error:
        state["Error"] = step.error
    if step.cause:
        state["Cause"] = step.cause
    return state


def _map_state(step: MapStep) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Map", **_comment(step.comment)}
    if step.items_from is not None:
        state["ItemReader"] = render_item_reader(step.items_from)
    if step.items_path is not None:
        state["ItemsPath"] = step.items_path
    if step.item_selector is not None:
        state["ItemSelector"] = step.item_selector
    config: dict[str, Any] = {"Mode": step.mode}
    if step.distributed:
        config["ExecutionType"] = step.execution_type
    state["ItemProcessor"] = {"ProcessorConfig": config,
                              **_render_scope(list(step.steps), [], f"steps of {step.name!r}")}
    if step.max_concurrency:
        state["MaxConcurrency"] = step.max_concurrency
    if step.tolerated_failure_percentage is not None:
        # A float: Step Functions accepts both, some ASL interpreters only a decimal number.
        state["ToleratedFailurePercentage"] = float(step.tolerated_failure_percentage)
    if step.tolerated_failure_count is not None:
        state["ToleratedFailureCount"] = step.tolerated_failure_count
    if step.label is not None:
        state["Label"] = step.label
    return state


def render_item_reader(items: S3Prefix) -> dict[str, Any]:
    """The ``ItemReader`` of a Distributed Map over the objects under an S3 prefix."""
    parameters: dict[str, Any] = {}
    for key, value in (("Bucket", items.bucket), ("Prefix", items.prefix)):
        if value.startswith("$"):
            parameters[f"{key}.$"] = value
        elif value or key == "Bucket":
            parameters[key] = value
    return {"Resource": _S3_LIST_OBJECTS, "Parameters": parameters}


def _retry_block(step: RetryAndCatch) -> list[dict[str, Any]]:
    entry: dict[str, Any] = {
        "ErrorEquals": list(step.retry_on),
        "IntervalSeconds": step.retry_interval_seconds,
        "MaxAttempts": step.retry_attempts,
        "BackoffRate": float(step.retry_backoff_rate),
    }
    if step.retry_max_delay_seconds is not None:
        entry["MaxDelaySeconds"] = step.retry_max_delay_seconds
    if step.retry_jitter is not None:
        entry["JitterStrategy"] = step.retry_jitter
    return [entry]


def _add_retry_catch_next(
    state: dict[str, Any], step: RetryAndCatch, next_state: str | None, *, retry: bool
) -> dict[str, Any]:
    """ResultPath, Retry (fan-out steps), Catch, then Next or End: the keys such a step ends with."""
    if step.result_path is not None:
        state["ResultPath"] = step.result_path
    if retry and step.retry_attempts > 0:
        state["Retry"] = _retry_block(step)
    if step.catch is not None:
        catcher: dict[str, Any] = {"ErrorEquals": list(step.catch_on), "Next": step.catch}
        if step.catch_result_path is not None:
            catcher["ResultPath"] = step.catch_result_path
        state["Catch"] = [catcher]
    return _add_next(state, next_state)


def _add_next(state: dict[str, Any], next_state: str | None) -> dict[str, Any]:
    if next_state is None:
        state["End"] = True
    else:
        state["Next"] = next_state
    return state
