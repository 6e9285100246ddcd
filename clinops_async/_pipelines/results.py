"""What watching an execution returns (ExecutionResult, ExecutionSummary) and how often it polls."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from .validate import check_number

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["TERMINAL_STATUSES", "ExecutionResult", "ExecutionStatus", "ExecutionSummary", "PollConfig",
           "parse_output", "utc"]

ExecutionStatus = Literal["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED", "PENDING_REDRIVE"]

#: Statuses after which an execution never changes again.
TERMINAL_STATUSES = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})


@dataclass(frozen=True, kw_only=True)
class PollConfig:
    """How ``wait()`` polls an execution: fast at first, then less and less often, with jitter.

    The n-th wait is a random time in ``[d × (1 - jitter), d]`` with
    ``d = min(max_interval, initial_interval × multiplier^(n-1))``, and never runs past ``wait``'s
    timeout.

    Attributes:
        initial_interval: Seconds before the first re-check. 0.2: short pipelines finish within a
            second or two, and their result should not wait on the poller.
        max_interval: Cap on the seconds between checks. 5.0: a long execution costs 12 describe calls
            a minute, far below the DescribeExecution request quota even for many watchers.
        multiplier: Growth of the interval per check. 1.5 reaches the cap after about 8 checks (~10 s).
        jitter: Fraction of each interval randomised (0 to 1), so many watchers started together do
            not poll in lockstep. 0.5.
    """

    initial_interval: float = 0.2
    max_interval: float = 5.0
    multiplier: float = 1.5
    jitter: float = 0.5

    def __post_init__(self) -> None:
        check_number(self.initial_interval, "PollConfig.initial_interval", minimum=0.001, maximum=3600)
        check_number(self.max_interval, "PollConfig.max_interval", minimum=self.initial_interval,
                     maximum=3600)
        check_number(self.multiplier, "PollConfig.multiplier", minimum=1.0, maximum=10.0)
        check_number(self.jitter, "PollConfig.jitter", minimum=0.0, maximum=1.0)

    def delays(self) -> Iterator[float]:
        """An endless iterator of jittered delays, in seconds."""
        delay = self.initial_interval
        while True:
            yield random.uniform(delay * (1.0 - self.jitter), delay)
            delay = min(self.max_interval, delay * self.multiplier)


@dataclass(frozen=True, kw_only=True)
class ExecutionResult:
    """What an execution is doing, or how it ended.

    Attributes:
        execution_arn: The execution.
        name: The execution name.
        status: ``RUNNING``, ``SUCCEEDED``, ``FAILED``, ``TIMED_OUT``, ``ABORTED`` or ``PENDING_REDRIVE``.
        output: The final output, parsed from JSON (None until it succeeds, or when not returned).
        error: The error name when it failed, else None.
        cause: The cause when it failed, else None.
        start_date: When it started (UTC).
        stop_date: When it ended (UTC), None while running.
        state_machine_arn: The state machine (or version) it runs.
    """

    execution_arn: str
    name: str
    status: str
    output: Any = None
    error: str | None = None
    cause: str | None = None
    start_date: datetime | None = None
    stop_date: datetime | None = None
    state_machine_arn: str | None = None

    @property
    def done(self) -> bool:
        """True once the execution has ended (whatever the outcome)."""
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"


@dataclass(frozen=True, kw_only=True)
class ExecutionSummary:
    """One line of ``list_executions()``.

    Attributes:
        execution_arn: The execution.
        name: The execution name.
        status: Its status (see :class:`ExecutionResult`).
        start_date: When it started (UTC).
        stop_date: When it ended (UTC), None while running.
    """

    execution_arn: str
    name: str
    status: str
    start_date: datetime | None
    stop_date: datetime | None


def utc(value: Any) -> datetime | None:
    return value.astimezone(UTC) if isinstance(value, datetime) else None


def parse_output(text: Any) -> Any:
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def execution_result(data: Mapping[str, Any], arn: str, name: str, machine: str | None) -> ExecutionResult:
    """How an execution ended, from a DescribeExecution or StartSyncExecution answer (their fields
    are the same); ``arn``, ``name`` and ``machine`` stand in for what the answer leaves out."""
    return ExecutionResult(
        execution_arn=arn,
        name=str(data.get("name", name)),
        status=str(data["status"]),
        output=parse_output(data.get("output")),
        error=data.get("error"),
        cause=data.get("cause"),
        start_date=utc(data.get("startDate")),
        stop_date=utc(data.get("stopDate")),
        state_machine_arn=data.get("stateMachineArn", machine),
    )
