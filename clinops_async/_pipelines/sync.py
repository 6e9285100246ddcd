"""The blocking Step Functions pipeline: each method runs its async twin on the shared loop thread.

This is the ``clinops.orchestrate.StepFunctionsPipeline`` API (same constructor, ``add_step``,
``definition``, ``definition_json``, ``deploy``, ``execute``), plus waiting, history, stopping and
fan-out, over :class:`~clinops_async._pipelines.pipeline.AsyncStepFunctionsPipeline`.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, Any, Self

from .. import _portal
from .pipeline import (
    AsyncStepFunctionsPipeline,
    ExecutionResult,
    ExecutionStatus,
    ExecutionSummary,
    LoggingConfig,
    PollConfig,
    StateMachineType,
)
from .states import StateMachine, load_definition

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    from .._aws import CredentialProvider
    from .steps import Step

__all__ = ["StepFunctionsPipeline"]


class StepFunctionsPipeline(_portal.Facade):
    """Blocking version of :class:`AsyncStepFunctionsPipeline` (same arguments, same errors).

    Use it as a context manager, or call ``close()`` when done; it also works inside Jupyter, where an
    event loop is already running.
    """

    _async: AsyncStepFunctionsPipeline

    def __init__(
        self,
        name: str,
        role_arn: str,
        region: str = "us-east-1",
        comment: str = "",
        profile: str | None = None,
        *,
        endpoint_url: str | None = None,
        type: StateMachineType = "STANDARD",
        poll: PollConfig | None = None,
        max_attempts: int = 5,
        logging: LoggingConfig | None = None,
        tracing: bool | None = None,
        tags: dict[str, str] | None = None,
        session: Any = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        aws_session_token: str | None = None,
        credential_provider: CredentialProvider | None = None,
    ) -> None:
        self._start(
            AsyncStepFunctionsPipeline(
                name, role_arn, region, comment, profile, endpoint_url=endpoint_url, type=type, poll=poll,
                max_attempts=max_attempts, logging=logging, tracing=tracing, tags=tags, session=session,
                aws_access_key_id=aws_access_key_id, aws_secret_access_key=aws_secret_access_key,
                aws_session_token=aws_session_token,
                credential_provider=credential_provider,
            )
        )

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncStepFunctionsPipeline", "StepFunctionsPipeline", 1)

    # -- attributes of the async pipeline ------------------------------------------------------

    @property
    def name(self) -> str:
        return self._async.name

    @property
    def role_arn(self) -> str:
        return self._async.role_arn

    @property
    def region(self) -> str:
        return self._async.region

    @property
    def steps(self) -> list[Step]:
        return self._async.steps

    @property
    def state_machine_arn(self) -> str | None:
        """The ARN of the state machine once ``deploy()`` has run."""
        return self._async.state_machine_arn

    @property
    def version_arn(self) -> str | None:
        """The version ARN published by the last ``deploy(publish=True)``."""
        return self._async.version_arn

    @property
    def alias_arn(self) -> str | None:
        """The alias ARN moved by the last ``deploy(alias=...)``."""
        return self._async.alias_arn

    @property
    def machine(self) -> StateMachine | None:
        """The modelled state machine, when made with ``from_definition`` (settable)."""
        return self._async.machine

    @machine.setter
    def machine(self, machine: StateMachine | None) -> None:
        self._async.machine = machine

    # -- building (no I/O, no loop thread needed) ------------------------------------------------

    @classmethod
    def from_definition(
        cls, definition: Mapping[str, Any] | str | StateMachine, name: str, role_arn: str,
        region: str = "us-east-1", *, substitutions: Mapping[str, str] | None = None, **options: Any,
    ) -> Self:
        """Blocking version of ``from_definition`` (same arguments, same errors)."""
        machine = load_definition(definition, substitutions)
        machine.definition()  # checked before the facade takes a portal lease
        pipeline = cls(name, role_arn, region, **options)
        pipeline.machine = machine
        return pipeline

    def add_step(self, step: Step) -> Self:
        """Blocking version of ``add_step`` (returns this pipeline, for chaining)."""
        self._async.add_step(step)
        return self

    def add_handler(self, *steps: Step) -> Self:
        """Blocking version of ``add_handler`` (returns this pipeline, for chaining)."""
        self._async.add_handler(*steps)
        return self

    def definition(self) -> dict[str, Any]:
        """Blocking version of ``definition``."""
        return self._async.definition()

    def definition_json(self, indent: int | None = 2) -> str:
        """Blocking version of ``definition_json``."""
        return self._async.definition_json(indent)

    def expected_state_machine_arn(self) -> str:
        """Blocking version of ``expected_state_machine_arn``."""
        return self._async.expected_state_machine_arn()

    def to_mermaid(self) -> str:
        """Blocking version of ``to_mermaid``."""
        return self._async.to_mermaid()

    def _repr_markdown_(self) -> str:
        return self._async._repr_markdown_()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {**self._async._repr_mimebundle_(include, exclude), "text/plain": repr(self)}

    # -- talking to AWS ------------------------------------------------------------------------

    def deploy(self, *, publish: bool = False, version_description: str | None = None,
               alias: str | None = None) -> str:
        """Blocking version of ``deploy``."""
        return self._lease.call(partial(self._async.deploy, publish=publish,
                                        version_description=version_description, alias=alias))

    def set_alias(self, alias: str, routing: Mapping[int | str, int], *, description: str | None = None) -> str:
        """Blocking version of ``set_alias``."""
        return self._lease.call(partial(self._async.set_alias, description=description), alias, routing)

    def execute(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
    ) -> str:
        """Blocking version of ``execute``."""
        return self._lease.call(self._async.execute, input_data, execution_name, state_machine_arn)

    def describe(self, execution_arn: str) -> ExecutionResult:
        """Blocking version of ``describe``."""
        return self._lease.call(self._async.describe, execution_arn)

    def wait(self, execution_arn: str, timeout: float | None = None) -> ExecutionResult:
        """Blocking version of ``wait``."""
        return self._lease.call(self._async.wait, execution_arn, timeout)

    def run(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
        *,
        raise_on_failure: bool = True,
        timeout: float | None = None,
    ) -> ExecutionResult:
        """Blocking version of ``run``."""
        return self._lease.call(partial(self._async.run, raise_on_failure=raise_on_failure, timeout=timeout),
                                input_data, execution_name, state_machine_arn)

    def run_sync(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
        *,
        raise_on_failure: bool = True,
    ) -> ExecutionResult:
        """Blocking version of ``run_sync``."""
        return self._lease.call(partial(self._async.run_sync, raise_on_failure=raise_on_failure),
                                input_data, execution_name, state_machine_arn)

    def redrive(self, execution_arn: str, *, client_token: str | None = None) -> str:
        """Blocking version of ``redrive``."""
        return self._lease.call(partial(self._async.redrive, client_token=client_token), execution_arn)

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Blocking version of ``history``."""
        return self._lease.call(self._async.history, execution_arn)

    def iter_history(self, execution_arn: str, *, reverse: bool = False, limit: int | None = None,
                     include_data: bool = True) -> Iterator[dict[str, Any]]:
        """Blocking version of ``iter_history``: a plain iterator, each page read on the loop thread."""
        return self._lease.iterate(self._async.iter_history, execution_arn, reverse=reverse, limit=limit,
                                   include_data=include_data)

    def stop(self, execution_arn: str, *, error: str | None = None, cause: str | None = None) -> None:
        """Blocking version of ``stop``."""
        return self._lease.call(partial(self._async.stop, error=error, cause=cause), execution_arn)

    def list_executions(
        self,
        status: ExecutionStatus | None = None,
        *,
        state_machine_arn: str | None = None,
        max_results: int | None = None,
    ) -> list[ExecutionSummary]:
        """Blocking version of ``list_executions``."""
        return self._lease.call(partial(self._async.list_executions, state_machine_arn=state_machine_arn,
                                        max_results=max_results), status)
