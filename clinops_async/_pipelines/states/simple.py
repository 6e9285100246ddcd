"""The states that do one thing: Task, Pass, Wait, Succeed and Fail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .base import asl
from .common import DataFlow, State, Transition

__all__ = ["Fail", "Pass", "Succeed", "Task", "Wait"]


@dataclass(frozen=True)
class Task(DataFlow):
    """A Task state: run ``resource`` (a Lambda function, a service integration or an activity).

    Args:
        name: The state name.
        resource: ``arn:aws:lambda:...:function:NAME``, ``arn:aws:states:::lambda:invoke``,
            ``arn:aws:states:::aws-sdk:s3:getObject``, an activity ARN, ...
        timeout_seconds: ``TimeoutSeconds`` (AWS default 99,999,999), or ``timeout_seconds_path``.
        heartbeat_seconds: ``HeartbeatSeconds`` (less than the timeout), or ``heartbeat_seconds_path``.
        credentials: ``Credentials``, e.g. ``{"RoleArn": "arn:aws:iam::123456789012:role/Cross"}``.

    The data fields (``input_path``, ``parameters``, ``arguments``, ``result_selector``,
    ``result_path``, ``output_path``, ``output``, ``assign``), ``retriers`` and ``catchers`` and the
    way out (``next`` or ``end``) are those of every state that does work; see :class:`DataFlow`.
    """

    type_name: ClassVar[str] = "Task"
    _head: ClassVar[tuple[str, ...]] = ("Type", "QueryLanguage", "Comment", "Resource")

    resource: str = asl("Resource", default="")
    timeout_seconds: int | str | None = asl("TimeoutSeconds")
    timeout_seconds_path: str | None = asl("TimeoutSecondsPath")
    heartbeat_seconds: int | str | None = asl("HeartbeatSeconds")
    heartbeat_seconds_path: str | None = asl("HeartbeatSecondsPath")
    credentials: Mapping[str, Any] | None = asl("Credentials")


@dataclass(frozen=True)
class Pass(Transition):
    """A Pass state: pass its input on, or a fixed ``result``, reshaped on the way.

    Args:
        name: The state name.
        result: A fixed value (``Result``).
        input_path: JSONPath data field (``InputPath``).
        parameters: JSONPath data field (``Parameters``).
        result_path: JSONPath data field (``ResultPath``).
        output_path: JSONPath data field (``OutputPath``).
        output: The state's output (JSONata).
    """

    type_name: ClassVar[str] = "Pass"

    input_path: str | None = asl("InputPath")
    parameters: Mapping[str, Any] | None = asl("Parameters")
    result: Any = asl("Result")
    result_path: str | None = asl("ResultPath")
    output_path: str | None = asl("OutputPath")
    output: Any = asl("Output")


@dataclass(frozen=True)
class Wait(Transition):
    """A Wait state: pause for ``seconds``, or until ``timestamp`` (exactly one of the four).

    Args:
        name: The state name.
        seconds: Seconds to wait (an int, or a JSONata expression).
        timestamp: An RFC 3339 time such as ``"2026-03-14T01:59:00Z"`` (or a JSONata expression).
        seconds_path: A path to the seconds in the input (JSONPath).
        timestamp_path: A path to the time in the input (JSONPath).
    """

    type_name: ClassVar[str] = "Wait"

    seconds: int | str | None = asl("Seconds")
    timestamp: str | None = asl("Timestamp")
    seconds_path: str | None = asl("SecondsPath")
    timestamp_path: str | None = asl("TimestampPath")
    input_path: str | None = asl("InputPath")
    output_path: str | None = asl("OutputPath")
    output: Any = asl("Output")


@dataclass(frozen=True)
class Succeed(State):
    """A Succeed state: end the execution (or branch) successfully with the state's output."""

    type_name: ClassVar[str] = "Succeed"

    input_path: str | None = asl("InputPath")
    output_path: str | None = asl("OutputPath")
    output: Any = asl("Output")


@dataclass(frozen=True)
class Fail(State):
    """A Fail state: end the execution as FAILED with an error name and a cause.

    Args:
        name: The state name.
        error: The error name (``Error``), or ``error_path`` to read it from the input.
        cause: A human-readable cause (``Cause``), or ``cause_path``.
    """

    type_name: ClassVar[str] = "Fail"

    error: str | None = asl("Error")
    error_path: str | None = asl("ErrorPath")
    cause: str | None = asl("Cause")
    cause_path: str | None = asl("CausePath")
