"""AWS Step Functions pipelines on aiobotocore: build, inspect, deploy, execute, watch.

:class:`AsyncStepFunctionsPipeline` is the pipeline's API. It holds a chain of steps (the model,
:mod:`~clinops_async._pipelines.steps`), renders it into Amazon States Language
(:mod:`~clinops_async._pipelines.asl`), owns the one long-lived aiobotocore client, and checks every
argument before anything is sent. The calls themselves are in :mod:`~clinops_async._pipelines.deploy`
and :mod:`~clinops_async._pipelines.executions`; botocore errors are translated at that boundary
(:mod:`~clinops_async._pipelines.errors`), so nothing from botocore reaches the caller.
"""

from __future__ import annotations

import json
import os
import uuid
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Self

import anyio

from .._aws import aws_auth, open_client
from .._exceptions import ConfigurationError, ExecutionFailedError, ExecutionTimeoutError
from .._lifecycle import LoopBound
from .asl import render_definition
from .control import PipelineControls
from .deploy import StateMachineSpec, StateMachineType, deploy_state_machine, versioning_options
from .errors import (
    ExecutionNotFoundError,
    PipelineAccessDeniedError,
    PipelineNotDeployedError,
    translate,
)
from .executions import (
    check_execution_arn,
    describe_execution,
    execution_history,
    start_execution,
)
from .machine_pipeline import MachinePipeline
from .mermaid import pipeline_mermaid
from .releases import LoggingConfig, check_alias_name, check_settings, point_alias
from .results import ExecutionResult, ExecutionStatus, ExecutionSummary, PollConfig
from .running import check_not_express
from .steps import STEP_TYPES, Step, step_names
from .validate import (
    MAX_INPUT_BYTES,
    check_json,
    check_number,
    check_positive_int,
    check_region,
    check_resource_name,
    check_role_arn,
    check_state_machine_arn,
    partition_for,
    role_account,
)

if TYPE_CHECKING:
    from types_aiobotocore_stepfunctions.client import SFNClient

    from .._aws import CredentialProvider

__all__ = [
    "AsyncStepFunctionsPipeline",
    "ExecutionNotFoundError",
    "ExecutionResult",
    "ExecutionStatus",
    "ExecutionSummary",
    "LoggingConfig",
    "PipelineAccessDeniedError",
    "PipelineNotDeployedError",
    "PollConfig",
    "StateMachineType",
]

class AsyncStepFunctionsPipeline(PipelineControls, MachinePipeline, LoopBound):
    """A sequential AWS Step Functions pipeline: build it, deploy it, run it, watch it.

    Building (``add_step``, ``definition``, ``to_mermaid``) does no I/O. The first call that talks
    to AWS opens one aiobotocore client, kept until ``aclose()`` (or the end of ``async with``); the
    pipeline is then bound to that event loop.

    Args:
        name: The state machine name (1-80 characters; letters, digits, ``-`` and ``_`` are safe).
        role_arn: The IAM role Step Functions runs as (``arn:aws:iam::ACCOUNT:role/NAME``); its
            account is the state machine's account.
        region: The AWS region. Default ``us-east-1``.
        comment: The definition's ``Comment``. Default: ``"{name} — built by clinops.orchestrate"``.
        profile: A named AWS profile; None for the default credential chain.
        endpoint_url: A custom Step Functions endpoint. Default: ``AWS_ENDPOINT_URL_SFN`` or
            ``AWS_ENDPOINT_URL`` from the environment (read by botocore), else AWS.
        type: ``"STANDARD"`` (default: exactly-once, up to a year, describable) or ``"EXPRESS"``
            (at-least-once, up to 5 minutes; AWS does not let ``describe``/``wait``/``history`` see
            Express executions).
        poll: How ``wait()`` polls (:class:`PollConfig`).
        max_attempts: Attempts per API call, the first included, with botocore's standard retry
            mode (throttling, 5xx). Default 5. Retrying ``start_execution`` is safe: the execution
            name is fixed before the first attempt, so a repeat returns the same execution.
        logging: CloudWatch Logs for the state machine (:class:`LoggingConfig`), set by ``deploy``.
            Default None: a new machine logs nothing, an existing one keeps its setting.
        tracing: X-Ray tracing on (True) or off (False), set by ``deploy``. Default None: off for a
            new machine, unchanged for an existing one.
        tags: The machine's tags, set by ``deploy`` (on update, keys not listed are removed).
            Default None: none on a new machine, unchanged on an existing one.
        session: An ``aiobotocore.session.AioSession`` of your own; or explicit ``aws_access_key_id``,
            ``aws_secret_access_key`` (and ``aws_session_token``); or a ``credential_provider``: as
            for :class:`AsyncS3PipelineStore`. At most one of these and ``profile``; never shown.
        aws_access_key_id: See ``session``.
        aws_secret_access_key: See ``session``.
        aws_session_token: See ``session``.
        credential_provider: See ``session``.

    Raises:
        ConfigurationError: An invalid argument (no I/O is done by the constructor).
    """

    _noun = "pipeline"

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
        self.name = check_resource_name(name, "pipeline name")
        self.role_arn = check_role_arn(role_arn)
        self.region = check_region(region)
        if not isinstance(comment, str):
            raise ConfigurationError(f"comment must be a str; got {comment.__class__.__name__}")
        self.comment = comment
        if profile is not None and (not isinstance(profile, str) or not profile):
            raise ConfigurationError("profile must be a profile name or None")
        self.profile = profile
        self._auth = aws_auth(profile=profile, session=session, provider=credential_provider,
                              access_key_id=aws_access_key_id, secret_access_key=aws_secret_access_key,
                              session_token=aws_session_token)
        if endpoint_url is not None and (
            not isinstance(endpoint_url, str) or not endpoint_url.startswith(("http://", "https://"))
        ):
            raise ConfigurationError("endpoint_url must start with http:// or https://")
        self.endpoint_url = endpoint_url
        if type not in ("STANDARD", "EXPRESS"):
            raise ConfigurationError(f"type must be 'STANDARD' or 'EXPRESS'; got {type!r}")
        self.type: StateMachineType = type
        if poll is not None and not isinstance(poll, PollConfig):
            raise ConfigurationError("poll must be a PollConfig")
        self.poll = poll or PollConfig()
        self.max_attempts = check_positive_int(max_attempts, "max_attempts", maximum=20)
        self.logging, self.tracing, self.tags = check_settings(logging, tracing, tags)
        self.steps: list[Step] = []
        self.handlers: list[list[Step]] = []
        #: The ARN of the state machine once ``deploy()`` has run.
        self.state_machine_arn: str | None = None
        #: The version ARN published by the last ``deploy(publish=True)``.
        self.version_arn: str | None = None
        #: The alias ARN moved by the last ``deploy(alias=...)``.
        self.alias_arn: str | None = None
        self._init_lifecycle()
        self._client: SFNClient | None = None
        self._exit_stack: AsyncExitStack | None = None

    def __repr__(self) -> str:
        return (f"AsyncStepFunctionsPipeline(name={self.name!r}, region={self.region!r}, "
                f"type={self.type!r}, steps={[s.name for s in self.steps]!r})")

    # -- building (no I/O) ---------------------------------------------------------------------

    def _check_new(self, steps: tuple[Step, ...], what: str) -> None:
        if not steps:
            raise ConfigurationError(f"{what} needs at least one step")
        for step in steps:
            if not isinstance(step, STEP_TYPES):
                raise ConfigurationError(
                    f"{what} takes PipelineStep, ParallelStep, MapStep, WaitStep, PassStep or FailStep; "
                    f"got {type(step).__name__}"
                )
            step.validate()
        existing = set(step_names([*self.steps, *(s for h in self.handlers for s in h)]))
        for name in step_names(steps):
            if name in existing:
                raise ConfigurationError(f"step name {name!r} is already used in pipeline {self.name!r}")
            existing.add(name)

    def add_step(self, step: Step) -> Self:
        """Append ``step`` to the chain; its input is the previous step's output.

        Returns:
            The pipeline, so calls can be chained.

        Raises:
            ConfigurationError: (a ``ValueError``) the step is invalid or its name is already used.
        """
        self._check_new((step,), "add_step")
        self.steps.append(step)
        return self

    def add_handler(self, *steps: Step) -> Self:
        """Add a handler chain, run when a step with ``catch=<first handler step's name>`` fails.

        The handler receives the failed step's input with the error under ``catch_result_path``
        (``$.error``: ``{"Error": ..., "Cause": ...}``). End it with a :class:`FailStep` to keep the
        execution FAILED; otherwise the execution SUCCEEDS with the handler's output.

        Returns:
            The pipeline, so calls can be chained.

        Raises:
            ConfigurationError: A step is invalid or a name is already used.
        """
        self._check_new(steps, "add_handler")
        self.handlers.append(list(steps))
        return self

    def definition(self) -> dict[str, Any]:
        """The state machine definition (Amazon States Language) as a dict.

        Keys in order: ``Comment``, ``StartAt``, ``States``. Each step's state lists ``Type``,
        ``Resource``, ``TimeoutSeconds``, ``Retry``, ``Comment`` (if any), ``Parameters`` (if any),
        then ``Next`` or ``"End": true``.

        Raises:
            ConfigurationError: (a ``ValueError``) no steps, a duplicate name, a ``catch`` naming no
                step, an unreachable handler, or an invalid step.
        """
        if self.machine is not None:
            return self._machine_definition()
        return render_definition(self.name, self.comment, self.steps, self.handlers)

    def definition_json(self, indent: int | None = 2) -> str:
        """The definition as JSON text (non-ASCII characters kept as they are)."""
        return json.dumps(self.definition(), indent=indent, ensure_ascii=False)

    def to_mermaid(self) -> str:
        """Mermaid flowchart source drawing the steps, retries, catches and fan-out."""
        if self.machine is not None:
            return self._machine_mermaid()
        return pipeline_mermaid(self.name, self.steps, self.handlers)

    def _repr_markdown_(self) -> str:
        return f"```mermaid\n{self.to_mermaid()}```\n"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return {"text/vnd.mermaid": self.to_mermaid(), "text/markdown": self._repr_markdown_(),
                "text/plain": repr(self)}

    # -- lifecycle -----------------------------------------------------------------------------

    async def _close_resource(self) -> None:
        if self._exit_stack is not None:
            stack, self._exit_stack = self._exit_stack, None
            self._client = None
            await stack.aclose()

    async def _open_resource(self) -> None:
        await self._open()

    async def _ready(self) -> Any:
        await self._ensure_open()
        return self._client

    async def _open(self) -> None:
        try:
            from botocore.config import Config
        except ImportError:  # pragma: no cover - depends on the installed extras
            raise ImportError(
                "AsyncStepFunctionsPipeline needs aiobotocore: pip install 'clinops-async[aws]'"
            ) from None
        # StartSyncExecution goes to the "sync-" host of the endpoint; a custom endpoint (an
        # emulator, a proxy) has no such host, so the prefix is added only for AWS's own endpoints.
        custom = self.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_SFN") or os.environ.get("AWS_ENDPOINT_URL")
        config = Config(region_name=self.region, inject_host_prefix=not custom,
                        retries={"mode": "standard", "total_max_attempts": self.max_attempts})
        stack = AsyncExitStack()
        try:
            self._client = await open_client(
                stack, "stepfunctions", profile=self.profile, region=self.region,
                endpoint_url=self.endpoint_url, config=config, auth=self._auth,
            )
        except BaseException as exc:
            await stack.aclose()
            raise translate(exc, f"open a Step Functions client for {self.name!r}") from None
        self._exit_stack = stack

    # -- deploy ----------------------------------------------------------------------------------

    def expected_state_machine_arn(self) -> str:
        """The ARN this pipeline's state machine has (or will have) in its account and region."""
        return (f"arn:{partition_for(self.region)}:states:{self.region}:{role_account(self.role_arn)}:"
                f"stateMachine:{self.name}")

    async def deploy(self, *, publish: bool = False, version_description: str | None = None,
                     alias: str | None = None) -> str:
        """Create the state machine, or update its definition, role, logging, tracing and tags if it exists.

        The existing machine is found by its ARN (account from ``role_arn``, plus region and name),
        never by listing the account's state machines. Two concurrent deploys are safe: the loser
        of a create race updates instead.

        Args:
            publish: Also publish a new version (its ARN is then in :attr:`version_arn`).
            version_description: The description of that version.
            alias: Point this alias (created if new) at the published version, all runs to it
                (:attr:`alias_arn`); needs ``publish=True``. For a canary split use ``set_alias``.

        Returns:
            The state machine ARN (unversioned).

        Raises:
            ConfigurationError: The definition is invalid or over 1 MB, or ``alias`` without
                ``publish`` (before any I/O); the machine exists with another type; AWS rejected
                the definition, role, logging or tracing configuration.
            PipelineAccessDeniedError: The credentials may not create/update it or pass the role.
            PipelineError: Any other failure.
        """
        versioning = versioning_options(publish, version_description)
        if alias is not None:
            check_alias_name(alias)
            if not publish:
                raise ConfigurationError("deploy(alias=...) points the alias at the version it publishes: "
                                         "pass publish=True too")
        spec = StateMachineSpec(self.name, self.expected_state_machine_arn(), self.definition_json(),
                                self.role_arn, self.type, logging=self.logging.render() if self.logging else None,
                                tracing=self.tracing, tags=self.tags)
        client = await self._ready()
        deployed = await deploy_state_machine(client, spec, versioning)
        self.state_machine_arn = deployed.state_machine_arn
        self.version_arn = deployed.version_arn
        if alias is not None and deployed.version_arn is not None:
            routing = [{"stateMachineVersionArn": deployed.version_arn, "weight": 100}]
            self.alias_arn = await point_alias(client, deployed.state_machine_arn, alias, routing, None)
        return deployed.state_machine_arn

    # -- execute ---------------------------------------------------------------------------------

    def _new_execution_name(self) -> str:
        # uuid4: unique without coordination; 47 + 1 + 32 characters stay within AWS's 80.
        return f"{self.name[:47]}-{uuid.uuid4().hex}"

    async def execute(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
    ) -> str:
        """Start an execution and return its ARN (without waiting for it).

        Starting again with the same name and input returns the same execution, so a start can be
        retried safely after a lost response.

        Args:
            input_data: The execution input, any JSON-serialisable value (None: ``{}``); at most
                256 KiB as JSON.
            execution_name: A name unique for this state machine (1-80 characters). Default:
                ``"{pipeline name}-{uuid4 hex}"``.
            state_machine_arn: The machine (or version/alias) to run. Default: this pipeline's.

        Returns:
            The execution ARN.

        Raises:
            ConfigurationError: Bad name, ARN or input (before any I/O).
            PipelineNotDeployedError: The state machine does not exist: call ``deploy()`` first.
            PipelineError: The name is taken by an execution with another input, or another failure.
        """
        if state_machine_arn is not None:
            machine = check_state_machine_arn(state_machine_arn)
        else:
            machine = self.state_machine_arn or self.expected_state_machine_arn()
        name = (self._new_execution_name() if execution_name is None
                else check_resource_name(execution_name, "execution_name"))
        payload = check_json({} if input_data is None else input_data, "input_data")
        size = len(payload.encode("utf-8"))
        if size > MAX_INPUT_BYTES:
            raise ConfigurationError(
                f"input_data is {size} bytes as JSON; Step Functions accepts at most {MAX_INPUT_BYTES} "
                "(256 KiB): store large data as an artifact and pass its URI"
            )
        return await start_execution(await self._ready(), machine, name, payload)

    # -- watch -----------------------------------------------------------------------------------

    async def describe(self, execution_arn: str) -> ExecutionResult:
        """The current status of an execution, with its output or error once it has ended.

        Raises:
            ExecutionNotFoundError: No such execution.
            PipelineError: Any other failure.
        """
        arn = check_execution_arn(execution_arn)  # before the client opens: no I/O for a bad ARN
        check_not_express(arn, "describe")
        return await describe_execution(await self._ready(), arn)

    # ``timeout`` bounds the watching, not a cancellation: it raises a typed error with the ARN and
    # the execution goes on, which anyio.fail_after around the call could not express.
    async def wait(self, execution_arn: str, timeout: float | None = None) -> ExecutionResult:  # noqa: ASYNC109
        """Poll an execution until it ends (see :class:`PollConfig`) and return how it ended.

        Args:
            execution_arn: The execution.
            timeout: Seconds to wait at most; None waits as long as it runs.

        Returns:
            The final :class:`ExecutionResult` (any terminal status: check ``.status``).

        Raises:
            ExecutionTimeoutError: Still running after ``timeout`` seconds (it goes on running).
            ExecutionNotFoundError: No such execution.
        """
        if timeout is not None:
            check_number(timeout, "timeout", minimum=0, maximum=366 * 86400)
        loop_time = anyio.current_time
        deadline = None if timeout is None else loop_time() + timeout
        delays = self.poll.delays()
        while True:
            result = await self.describe(execution_arn)
            if result.done:
                return result
            now = loop_time()
            if deadline is not None and now >= deadline:
                raise ExecutionTimeoutError(
                    f"execution {result.name!r} is still {result.status} after {timeout:g} s; it goes on "
                    "running: wait() again, or stop() it",
                    execution_arn=result.execution_arn,
                )
            delay = next(delays)
            await anyio.sleep(delay if deadline is None else min(delay, deadline - now))

    async def run(
        self,
        input_data: Any = None,
        execution_name: str | None = None,
        state_machine_arn: str | None = None,
        *,
        raise_on_failure: bool = True,
        timeout: float | None = None,  # noqa: ASYNC109 - see wait()
    ) -> ExecutionResult:
        """Start an execution and wait for it: ``execute()`` then ``wait()``.

        Args:
            input_data: As for :meth:`execute`.
            execution_name: As for :meth:`execute`.
            state_machine_arn: As for :meth:`execute`.
            raise_on_failure: Raise ExecutionFailedError when it does not succeed (default); when
                False, return the failed result instead.
            timeout: As for :meth:`wait`.

        Returns:
            The :class:`ExecutionResult`; ``.output`` holds the last step's output.

        Raises:
            ExecutionFailedError: It ended FAILED, TIMED_OUT or ABORTED (with ``raise_on_failure``).
            ExecutionTimeoutError: Still running after ``timeout`` seconds.
            ConfigurationError, PipelineNotDeployedError, PipelineError: As for :meth:`execute`.
        """
        if not isinstance(raise_on_failure, bool):
            raise ConfigurationError("raise_on_failure must be True or False")
        arn = await self.execute(input_data, execution_name, state_machine_arn)
        result = await self.wait(arn, timeout)
        if raise_on_failure and not result.succeeded:
            raise ExecutionFailedError(
                f"execution {result.name!r} ended {result.status}"
                + (f" with error {result.error!r}" if result.error else "")
                + "; the cause is in .cause and every step in history(execution_arn)",
                execution_arn=arn, status=result.status, error=result.error, cause=result.cause,
            )
        return result

    async def history(self, execution_arn: str) -> list[dict[str, Any]]:
        """Every event of an execution, oldest first, across all pages.

        Each event is Step Functions' own record (``type``, ``id``, ``previousEventId``,
        ``timestamp`` and one ``...EventDetails`` entry), e.g. ``TaskStateEntered``,
        ``LambdaFunctionFailed``, ``ExecutionSucceeded``.

        Raises:
            ExecutionNotFoundError: No such execution.
        """
        arn = check_execution_arn(execution_arn)
        check_not_express(arn, "history of")
        return await execution_history(await self._ready(), arn)
