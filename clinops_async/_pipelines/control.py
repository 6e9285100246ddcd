"""The release and run controls of a pipeline: aliases, synchronous Express runs, redrive, history pages.

A base of :class:`~clinops_async._pipelines.pipeline.AsyncStepFunctionsPipeline`, kept apart so the
pipeline module stays about building, deploying and watching; the calls are in
:mod:`~clinops_async._pipelines.releases` and :mod:`~clinops_async._pipelines.running`.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from .._exceptions import ConfigurationError, ExecutionFailedError
from .errors import call
from .executions import check_execution_arn, list_execution_summaries, stop_reason
from .releases import alias_routing, check_alias_name, point_alias
from .results import TERMINAL_STATUSES
from .running import check_not_express, iter_execution_history, redrive_execution, start_sync_execution
from .validate import MAX_INPUT_BYTES, check_json, check_positive_int, check_resource_name, check_state_machine_arn

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    from .deploy import StateMachineType
    from .results import ExecutionResult, ExecutionStatus, ExecutionSummary

__all__ = ["PipelineControls"]


class PipelineControls:
    """Aliases, ``run_sync``, ``redrive`` and ``iter_history`` of a pipeline (see the pipeline's docs)."""

    name: str
    type: StateMachineType
    state_machine_arn: str | None

    def expected_state_machine_arn(self) -> str:
        raise NotImplementedError

    async def _ready(self) -> Any:
        raise NotImplementedError

    def _machine(self, state_machine_arn: str | None) -> str:
        if state_machine_arn is not None:
            return check_state_machine_arn(state_machine_arn)
        return self.state_machine_arn or self.expected_state_machine_arn()

    async def set_alias(self, alias: str, routing: Mapping[int | str, int], *,
                        description: str | None = None) -> str:
        """Create alias ``alias``, or move it, to route executions between one or two published versions.

        Args:
            alias: The alias name (1-80 letters, digits, ``_-.``, not all digits).
            routing: Version (its number, or its version ARN) to weight: ``{3: 100}`` sends every
                run to version 3; ``{3: 90, 4: 10}`` sends a tenth to version 4 (a canary).
            description: The alias description (at most 256 characters).

        Returns:
            The alias ARN (``...:stateMachine:NAME:ALIAS``); start runs on it with
            ``execute(state_machine_arn=...)``.

        Raises:
            ConfigurationError: A bad name, more than two versions, a version of another machine,
                or weights that do not sum to 100 (before any I/O).
            PipelineNotDeployedError: A version does not exist.
        """
        name = check_alias_name(alias)
        machine = self.state_machine_arn or self.expected_state_machine_arn()
        entries = alias_routing(machine, routing)
        if description is not None and (not isinstance(description, str) or len(description) > 256):
            raise ConfigurationError("description must be a str of at most 256 characters")
        return await point_alias(await self._ready(), machine, name, entries, description)

    async def run_sync(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
        *,
        raise_on_failure: bool = True,
    ) -> ExecutionResult:
        """Run an Express pipeline and return its result in the same call (``StartSyncExecution``).

        Express workflows run at least once for up to 5 minutes; AWS keeps no history of them, so
        this call, which answers with the output, is the way to get a result. Asynchronous Express
        runs (``execute``) report only to CloudWatch Logs (see :class:`LoggingConfig`).

        Args:
            input_data: As for :meth:`execute` (at most 256 KiB as JSON).
            execution_name: As for :meth:`execute`.
            state_machine_arn: Another Express machine, version or alias. Default: this pipeline's.
            raise_on_failure: Raise ExecutionFailedError unless it SUCCEEDED (default).

        Returns:
            The :class:`ExecutionResult`, with ``.output`` parsed from JSON.

        Raises:
            ConfigurationError: The pipeline is not ``type="EXPRESS"``, or bad input (before any I/O).
            ExecutionFailedError: It ended FAILED or TIMED_OUT (with ``raise_on_failure``).
        """
        if state_machine_arn is None and self.type != "EXPRESS":
            raise ConfigurationError(
                f"run_sync runs Express workflows; pipeline {self.name!r} is {self.type}: use run(), or "
                "create it with type='EXPRESS'"
            )
        machine = self._machine(state_machine_arn)
        if not isinstance(raise_on_failure, bool):
            raise ConfigurationError("raise_on_failure must be True or False")
        name = (f"{self.name[:47]}-{uuid.uuid4().hex}" if execution_name is None
                else check_resource_name(execution_name, "execution_name"))
        payload = check_json({} if input_data is None else input_data, "input_data")
        if len(payload.encode("utf-8")) > MAX_INPUT_BYTES:
            raise ConfigurationError(
                f"input_data is over {MAX_INPUT_BYTES} bytes as JSON: store large data as an artifact and pass its URI"
            )
        result = await start_sync_execution(await self._ready(), machine, name, payload)
        if raise_on_failure and not result.succeeded:
            raise ExecutionFailedError(
                f"execution {result.name!r} ended {result.status}"
                + (f" with error {result.error!r}" if result.error else ""),
                execution_arn=result.execution_arn, status=result.status, error=result.error, cause=result.cause,
            )
        return result

    async def redrive(self, execution_arn: str, *, client_token: str | None = None) -> str:
        """Restart a FAILED, ABORTED or TIMED_OUT Standard execution from the states that did not succeed.

        Succeeded states are not run again; the execution keeps its ARN and ``wait()`` follows it
        again. AWS allows a redrive within 14 days of the end, for Standard workflows only.

        Args:
            execution_arn: The execution.
            client_token: Makes a repeated request redrive once (default: a fresh token per call).

        Returns:
            The execution ARN (the same one).

        Raises:
            ConfigurationError: A bad ARN, or an Express execution (before any I/O); AWS refused
                (the execution is not redrivable).
            ExecutionNotFoundError: No such execution.
        """
        arn = check_execution_arn(execution_arn)
        check_not_express(arn, "redrive")
        if client_token is not None and (not isinstance(client_token, str) or not 1 <= len(client_token) <= 64):
            raise ConfigurationError("client_token must be a str of 1-64 characters")
        await redrive_execution(await self._ready(), arn, client_token)
        return arn

    def iter_history(self, execution_arn: str, *, reverse: bool = False, limit: int | None = None,
                     include_data: bool = True) -> AsyncIterator[dict[str, Any]]:
        """The events of an execution as they are read, page by page (``history()`` is the list form).

        Args:
            execution_arn: The execution.
            reverse: Newest first (``reverseOrder``): the end of a long execution in one request.
            limit: Stop after this many events. Default: all.
            include_data: Include each event's input and output (default True).

        Raises:
            ConfigurationError: Bad arguments or an Express execution (at the call, before any I/O).
            ExecutionNotFoundError: No such execution (when iteration starts).
        """
        arn = check_execution_arn(execution_arn)
        check_not_express(arn, "history of")
        if not isinstance(reverse, bool) or not isinstance(include_data, bool):
            raise ConfigurationError("reverse and include_data must be True or False")
        if limit is not None:
            check_positive_int(limit, "limit")
        return self._history_pages(arn, reverse, limit, include_data)

    async def _history_pages(self, arn: str, reverse: bool, limit: int | None,
                             include_data: bool) -> AsyncIterator[dict[str, Any]]:
        client = await self._ready()
        async for event in iter_execution_history(client, arn, reverse=reverse, limit=limit,
                                                  include_data=include_data):
            yield event

    async def stop(self, execution_arn: str, *, error: str | None = None, cause: str | None = None) -> None:
        """Stop a running execution; it ends ABORTED. Stopping an ended execution does nothing.

        Args:
            execution_arn: The execution.
            error: An error name to record (at most 256 characters).
            cause: A cause to record (at most 32,768 characters).
        """
        arn = check_execution_arn(execution_arn)
        reason = stop_reason(error, cause)
        client = await self._ready()
        await call(client.stop_execution(executionArn=arn, **reason), f"stop {arn}")

    async def list_executions(
        self,
        status: ExecutionStatus | None = None,
        *,
        state_machine_arn: str | None = None,
        max_results: int | None = None,
    ) -> list[ExecutionSummary]:
        """The executions of the state machine, newest first.

        Args:
            status: Only those with this status (``"RUNNING"``, ``"FAILED"``, ...).
            state_machine_arn: Another state machine. Default: this pipeline's.
            max_results: Stop after this many. Default: all of them.

        Raises:
            PipelineNotDeployedError: The state machine does not exist.
        """
        if status is not None and status not in (*TERMINAL_STATUSES, "RUNNING", "PENDING_REDRIVE"):
            raise ConfigurationError(f"status must be one of RUNNING, SUCCEEDED, FAILED, TIMED_OUT, "
                                     f"ABORTED, PENDING_REDRIVE; got {status!r}")
        if max_results is not None:
            check_positive_int(max_results, "max_results")
        machine = (check_state_machine_arn(state_machine_arn) if state_machine_arn is not None
                   else self.state_machine_arn or self.expected_state_machine_arn())
        return await list_execution_summaries(await self._ready(), machine, status, max_results)

