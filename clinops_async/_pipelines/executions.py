"""Executions of a deployed state machine: start one, read its status and history, list, stop.

Each function takes the open Step Functions client and arguments already checked by the pipeline;
botocore errors are translated here (:mod:`clinops_async._pipelines.errors`).
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, PipelineError
from .errors import PipelineNotDeployedError, arn_in_message, call, error_code, translate
from .results import ExecutionResult, ExecutionSummary, execution_result, utc

if TYPE_CHECKING:
    from types_aiobotocore_stepfunctions.client import SFNClient

__all__ = [
    "check_execution_arn",
    "describe_execution",
    "execution_history",
    "list_execution_summaries",
    "start_execution",
    "stop_reason",
]

_EXECUTION_ARN = re.compile(
    r"arn:[A-Za-z0-9-]+:states:[a-z0-9-]+:\d{12}:(?:execution|express):[^:]+:[^:]+(?::[^:]+)?"
)


def check_execution_arn(value: object) -> str:
    if not isinstance(value, str) or not _EXECUTION_ARN.fullmatch(value):
        raise ConfigurationError(
            "execution_arn must be an execution ARN such as "
            f"'arn:aws:states:us-east-1:123456789012:execution:MACHINE:NAME'; got {value!r}"
        )
    return value


def stop_reason(error: str | None, cause: str | None) -> dict[str, str]:
    """The ``error``/``cause`` arguments of StopExecution, checked against AWS's lengths."""
    reason: dict[str, str] = {}
    for key, value, limit in (("error", error, 256), ("cause", cause, 32768)):
        if value is not None:
            if not isinstance(value, str) or len(value) > limit:
                raise ConfigurationError(f"{key} must be a str of at most {limit} characters")
            reason[key] = value
    return reason


async def start_execution(client: SFNClient, machine: str, name: str, payload: str) -> str:
    """Start execution ``name`` of ``machine`` with ``payload`` (JSON text); its ARN.

    Starting again with the same name and input returns the same execution, so a start can be
    retried safely after a lost response.
    """
    what = f"start execution {name!r} of {machine}"
    try:
        started = await client.start_execution(stateMachineArn=machine, name=name, input=payload)
    except Exception as exc:
        code = error_code(exc)
        if code == "StateMachineDoesNotExist":
            raise PipelineNotDeployedError(
                f"state machine {machine} does not exist; call deploy() first"
            ) from exc
        if code != "ExecutionAlreadyExists":
            raise translate(exc, what) from exc
        return await _same_execution(client, exc, machine, name, payload)
    return str(started["executionArn"])


async def _same_execution(client: SFNClient, exc: BaseException, machine: str, name: str, payload: str) -> str:
    """The ARN of the execution ``name`` that already exists, if it was started with ``payload``."""
    arn = arn_in_message(exc)
    if arn is None:
        base = machine.split(":stateMachine:", 1)
        arn = f"{base[0]}:execution:{base[1].split(':')[0]}:{name}"
    existing = await call(client.describe_execution(executionArn=arn), f"describe execution {name!r}")
    if json.loads(existing.get("input") or "{}") != json.loads(payload):
        raise PipelineError(
            f"an execution named {name!r} already exists for {machine} with a different input; "
            "choose another execution_name"
        ) from exc
    return arn


async def describe_execution(client: SFNClient, arn: str) -> ExecutionResult:
    data = await call(client.describe_execution(executionArn=arn), f"describe {arn}")
    return execution_result(data, arn, arn.rsplit(":", 1)[-1], None)


async def execution_history(client: SFNClient, arn: str) -> list[dict[str, Any]]:
    """Every event of execution ``arn``, oldest first, across all pages."""
    events: list[dict[str, Any]] = []
    try:
        paginator = client.get_paginator("get_execution_history")
        async for page in paginator.paginate(executionArn=arn, includeExecutionData=True):
            events.extend(dict(event) for event in page.get("events", ()))
    except Exception as exc:
        raise translate(exc, f"read the history of {arn}") from exc
    return events


async def list_execution_summaries(
    client: SFNClient, machine: str, status: str | None, max_results: int | None
) -> list[ExecutionSummary]:
    """The executions of ``machine`` (only those with ``status``, if given), newest first."""
    query: dict[str, Any] = {"stateMachineArn": machine}
    if status is not None:
        query["statusFilter"] = status
    found: list[ExecutionSummary] = []
    try:
        async for page in client.get_paginator("list_executions").paginate(**query):
            for item in page.get("executions", ()):
                found.append(ExecutionSummary(
                    execution_arn=item["executionArn"], name=item["name"], status=item["status"],
                    start_date=utc(item.get("startDate")), stop_date=utc(item.get("stopDate")),
                ))
                if max_results is not None and len(found) >= max_results:
                    return found
    except Exception as exc:
        raise translate(exc, f"list the executions of {machine}") from exc
    return found
