"""The pipeline model: the steps of a pipeline, their fields and their validation.

A pipeline is a chain of steps; each step's output is the next step's input. Fan-out steps
(:class:`ParallelStep`, :class:`MapStep`) hold chains of their own; handler chains (``add_handler``)
run only when a step's ``catch`` sends the execution there. Rendering to ASL is in :mod:`.asl`.

:class:`PipelineStep` keeps the original ``clinops.orchestrate`` fields in their original order, so
positional construction works as before; everything added is keyword-only. Each step is checked when
it is created and again when the definition is rendered (dataclasses are mutable).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, dataclass, field
from typing import Any, Literal, TypeAlias

from .._exceptions import ConfigurationError
from .validate import (
    check_comment,
    check_error_names,
    check_json,
    check_number,
    check_parameters,
    check_path,
    check_positive_int,
    check_state_name,
    check_task_resource,
)

__all__ = [
    "ALL_ERRORS",
    "LAMBDA_SERVICE_ERRORS",
    "STEP_TYPES",
    "FailStep",
    "MapStep",
    "ParallelStep",
    "PassStep",
    "PipelineStep",
    "RetryAndCatch",
    "S3Prefix",
    "Step",
    "WaitStep",
    "step_names",
]

#: The errors a :class:`PipelineStep` retries by default: the transient Lambda service errors (a
#: deterministic failure of the function itself, ``States.TaskFailed``, is not retried).
LAMBDA_SERVICE_ERRORS: tuple[str, ...] = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
    "Lambda.ClientExecutionTimeoutException",
)
#: What a Parallel or Map step retries (when given ``retry_attempts``) and what ``catch`` catches.
ALL_ERRORS: tuple[str, ...] = ("States.ALL",)

JitterStrategy = Literal["FULL", "NONE"]
MapMode = Literal["INLINE", "DISTRIBUTED"]
ChildExecutionType = Literal["STANDARD", "EXPRESS"]


def _check_chain(value: object, what: str) -> list[Step]:
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigurationError(f"{what} must be a non-empty list of steps")
    chain = list(value)
    for item in chain:
        if not isinstance(item, STEP_TYPES):
            raise ConfigurationError(f"{what} must contain steps (PipelineStep, MapStep, ...); got {item!r}")
    return chain


# -- what a step that can fail does about it -------------------------------------------------------


class _RendersState:
    """``render()`` on every step; :mod:`.asl` imports the model, so it is reached only when asked."""

    def render(self, next_state: str | None) -> dict[str, Any]:
        """This step's ASL state, followed by ``next_state`` (None: the chain ends here)."""
        from .asl import render_state
        return render_state(self, next_state)  # type: ignore[arg-type]


@dataclass(kw_only=True)
class RetryAndCatch:
    """The retry and catch fields of the steps that can fail (Task, Parallel, Map), declared once.

    They are keyword-only and come last in each of those steps: a dataclass lists its bases' fields
    first, from the last base to the first, so each step class names this base before the base that
    holds its own fields (``class MapStep(RetryAndCatch, _MapFields)``). The defaults here are the
    fan-out steps'; :class:`PipelineStep` keeps its own ``retry_attempts`` and ``retry_on``. The
    fields are documented on each step class.
    """

    retry_attempts: int = 0
    retry_on: Sequence[str] = ALL_ERRORS
    retry_interval_seconds: int = 2
    retry_backoff_rate: float = 2.0
    retry_max_delay_seconds: int | None = None
    retry_jitter: JitterStrategy | None = None
    result_path: str | None = None
    catch: str | None = None
    catch_on: Sequence[str] = ALL_ERRORS
    catch_result_path: str | None = "$.error"

    def _check_retry(self, what: str) -> None:
        check_positive_int(self.retry_attempts, f"{what}: retry_attempts", minimum=0)
        self.retry_on = check_error_names(self.retry_on, f"{what}: retry_on")
        check_positive_int(self.retry_interval_seconds, f"{what}: retry_interval_seconds")
        check_number(self.retry_backoff_rate, f"{what}: retry_backoff_rate", minimum=1.0, maximum=1e8)
        if self.retry_max_delay_seconds is not None:
            check_positive_int(self.retry_max_delay_seconds, f"{what}: retry_max_delay_seconds",
                               maximum=31_622_400)
        if self.retry_jitter not in (None, "FULL", "NONE"):
            raise ConfigurationError(
                f"{what}: retry_jitter must be 'FULL', 'NONE' or None; got {self.retry_jitter!r}"
            )

    def _check_catch(self, what: str, step_name: str) -> None:
        # step_name is passed in: ``name`` is a field of the step's own base, not of this one.
        if self.catch is not None:
            check_state_name(self.catch, f"{what}: catch")
            if self.catch == step_name:
                raise ConfigurationError(f"{what}: catch names the step itself; name a handler step")
        self.catch_on = check_error_names(self.catch_on, f"{what}: catch_on")
        if self.catch_result_path is not None:
            check_path(self.catch_result_path, f"{what}: catch_result_path")
        if self.result_path is not None:
            check_path(self.result_path, f"{what}: result_path")


# -- the step types ---------------------------------------------------------------------------


@dataclass
class _TaskFields:
    """The fields of the original ``clinops.orchestrate.PipelineStep``, in its positional order."""

    name: str
    resource: str
    parameters: dict[str, Any] = field(default_factory=dict)
    retry_attempts: int = 3
    timeout_seconds: int = 3600
    comment: str = ""


@dataclass
class PipelineStep(RetryAndCatch, _TaskFields, _RendersState):
    """One Task state: a Lambda function (or any Step Functions service integration) to run.

    Args:
        name: The state name, unique in the pipeline (1-80 characters).
        resource: A Lambda function ARN (``arn:aws:lambda:REGION:ACCOUNT:function:NAME``), a service
            integration (``arn:aws:states:::lambda:invoke``, ``arn:aws:states:::aws-sdk:s3:getObject``,
            ...) or an activity ARN.
        parameters: The task's input (ASL ``Parameters``). When given it replaces the step's input;
            a key ending in ``".$"`` takes a path (``{"date.$": "$.date"}``). Default: the input as is.
        retry_attempts: Retries after the first attempt (``MaxAttempts``); 0 never retries. Default 3.
        timeout_seconds: The task's ``TimeoutSeconds``. Default 3600.
        comment: The state's ``Comment``, rendered when not empty.
        retry_on: The errors retried. Default :data:`LAMBDA_SERVICE_ERRORS`, the transient Lambda
            service errors, so a bug in the function fails fast instead of running 4 times.
        retry_interval_seconds: Wait before the first retry (``IntervalSeconds``). Default 2.
        retry_backoff_rate: Multiplier of the wait per retry (``BackoffRate``). Default 2.0.
        retry_max_delay_seconds: Cap on the wait between retries (``MaxDelaySeconds``). Default none.
        retry_jitter: ``"FULL"`` randomises each wait (``JitterStrategy``). Default none (AWS: no jitter).
        result_path: Where the task's result goes in the state's output (``ResultPath``, e.g.
            ``"$.ingest"`` keeps the input alongside). Default: the result replaces the input.
        catch: Name of the step to go to when the task fails after its retries (a handler added with
            ``add_handler``, or another step of the same chain).
        catch_on: The errors caught. Default ``["States.ALL"]``.
        catch_result_path: Where the error (``Error`` and ``Cause``) goes in the handler's input.
            Default ``"$.error"``, which keeps the failed step's input; None replaces the input.

    Raises:
        ConfigurationError: A field is invalid.
    """

    # A task retries its own function: positionally, as the original did, and on the Lambda service
    # errors only. These two replace RetryAndCatch's fan-out defaults but keep their places.
    retry_attempts: int = 3
    _: KW_ONLY
    retry_on: Sequence[str] = LAMBDA_SERVICE_ERRORS

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field; raise ConfigurationError naming the first bad one."""
        check_state_name(self.name)
        what = f"PipelineStep {self.name!r}"
        check_task_resource(self.resource, f"{what}: resource")
        self.parameters = check_parameters(self.parameters, f"{what}: parameters")
        self._check_retry(what)
        check_positive_int(self.timeout_seconds, f"{what}: timeout_seconds")
        check_comment(self.comment, what)
        self._check_catch(what, self.name)

    def chains(self) -> list[list[Step]]:
        return []


@dataclass
class WaitStep(_RendersState):
    """A Wait state: pause for ``seconds`` (e.g. to let an upstream export land).

    Args:
        name: The state name.
        seconds: How long to wait (0 to 99,999,999).
        comment: The state's ``Comment``.
    """

    name: str
    seconds: int
    comment: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_state_name(self.name)
        check_positive_int(self.seconds, f"WaitStep {self.name!r}: seconds", minimum=0)
        check_comment(self.comment, f"WaitStep {self.name!r}")

    def chains(self) -> list[list[Step]]:
        return []


@dataclass
class PassStep(_RendersState):
    """A Pass state: output a fixed ``result`` (or the input unchanged when ``result`` is None).

    Args:
        name: The state name.
        result: A JSON-serialisable value (ASL ``Result``), or None to pass the input through.
        comment: The state's ``Comment``.
        result_path: Where ``result`` goes in the output (``ResultPath``). Default: replaces the input.
    """

    name: str
    result: Any = None
    comment: str = ""
    _: KW_ONLY
    result_path: str | None = None

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_state_name(self.name)
        check_json(self.result, f"PassStep {self.name!r}: result")
        check_comment(self.comment, f"PassStep {self.name!r}")
        if self.result_path is not None:
            check_path(self.result_path, f"PassStep {self.name!r}: result_path")

    def chains(self) -> list[list[Step]]:
        return []


@dataclass
class FailStep(_RendersState):
    """A Fail state: end the execution as FAILED with ``error`` and ``cause``. Last in its chain.

    Args:
        name: The state name.
        error: The error name the execution reports (e.g. ``"IngestFailed"``).
        cause: A human-readable cause.
        comment: The state's ``Comment``.
    """

    name: str
    error: str = ""
    cause: str = ""
    comment: str = ""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_state_name(self.name)
        for attr in ("error", "cause", "comment"):
            if not isinstance(getattr(self, attr), str):
                raise ConfigurationError(f"FailStep {self.name!r}: {attr} must be a str")

    def chains(self) -> list[list[Step]]:
        return []


@dataclass
class _ParallelFields:
    """The fields of a :class:`ParallelStep` before its retry and catch fields."""

    name: str
    branches: Sequence[Sequence[Step]]
    comment: str = ""


@dataclass
class ParallelStep(RetryAndCatch, _ParallelFields, _RendersState):
    """A Parallel state: run every branch (a chain of steps) at once on the same input.

    The output is the list of the branches' outputs, in branch order. If a branch fails, the others
    are stopped and the step fails (then ``retry_attempts`` and ``catch`` apply).

    Args:
        name: The state name.
        branches: One list of steps per branch; a branch's ``catch`` must name a step of that branch.
        comment: The state's ``Comment``.
        retry_attempts: Retries of the whole step. Default 0: branches retry their own tasks.
        retry_on: Errors retried when ``retry_attempts`` > 0. Default ``["States.ALL"]``.
        retry_interval_seconds: As for :class:`PipelineStep`.
        retry_backoff_rate: As for :class:`PipelineStep`.
        retry_max_delay_seconds: As for :class:`PipelineStep`.
        retry_jitter: As for :class:`PipelineStep`.
        result_path: As for :class:`PipelineStep`.
        catch: As for :class:`PipelineStep`.
        catch_on: As for :class:`PipelineStep`.
        catch_result_path: As for :class:`PipelineStep`.
    """

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        check_state_name(self.name)
        what = f"ParallelStep {self.name!r}"
        if isinstance(self.branches, str) or not isinstance(self.branches, Sequence) or not self.branches:
            raise ConfigurationError(f"{what}: branches must be a non-empty list of step lists")
        self.branches = [_check_chain(b, f"{what}: branch {i}") for i, b in enumerate(self.branches)]
        check_comment(self.comment, what)
        self._check_retry(what)
        self._check_catch(what, self.name)

    def chains(self) -> list[list[Step]]:
        return [list(branch) for branch in self.branches]


@dataclass(frozen=True)
class S3Prefix:
    """The objects under an S3 prefix, as the items of a Distributed Map (``s3:listObjectsV2``).

    Each item is one object's listing entry (``Key``, ``Size``, ``ETag``, ``LastModified``, ...).
    ``bucket`` and ``prefix`` may be paths into the execution input (``"$.bucket"``), so one deployed
    pipeline can run over any prefix.

    Args:
        bucket: The bucket name, or a path such as ``"$.bucket"``.
        prefix: The key prefix (e.g. ``"clinops/prod/features/"``), or a path. Default: the whole bucket.
    """

    bucket: str
    prefix: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.bucket, str) or not (
            self.bucket.startswith("$") or 3 <= len(self.bucket) <= 63 and "/" not in self.bucket
        ):
            raise ConfigurationError(
                f"S3Prefix.bucket must be a bucket name (3-63 characters, no '/') or a path such as "
                f"'$.bucket'; got {self.bucket!r}"
            )
        if not isinstance(self.prefix, str):
            raise ConfigurationError(f"S3Prefix.prefix must be a str; got {type(self.prefix).__name__}")

    def render(self) -> dict[str, Any]:
        """The ``ItemReader`` of a Distributed Map over the objects under this prefix."""
        from .asl import render_item_reader

        return render_item_reader(self)


@dataclass
class _MapFields:
    """The fields of a :class:`MapStep` before its retry and catch fields."""

    name: str
    steps: Sequence[Step]
    comment: str = ""
    _: KW_ONLY
    items_path: str | None = None
    item_selector: dict[str, Any] | None = None
    items_from: S3Prefix | None = None
    mode: MapMode | None = None
    execution_type: ChildExecutionType = "STANDARD"
    max_concurrency: int = 0
    tolerated_failure_percentage: float | None = None
    tolerated_failure_count: int | None = None
    label: str | None = None


@dataclass
class MapStep(RetryAndCatch, _MapFields, _RendersState):
    """A Map state: run ``steps`` once per item, many items at once.

    Items come from the input (``items_path``, an inline Map) or, with ``items_from=S3Prefix(...)``,
    from an S3 listing read by Step Functions itself (a Distributed Map: each item runs as a child
    execution, up to 10,000 at once, so per-artifact work scales past a single execution's limits).
    The output is the list of the items' outputs.

    Args:
        name: The state name.
        steps: The chain run for each item; its ``catch`` must name a step of the same chain.
        comment: The state's ``Comment``.
        items_path: Path to the list in the input (``ItemsPath``), e.g. ``"$.artifacts"``. Default:
            the input itself (inline) or unused (S3 items).
        item_selector: The input of each item's run (``ItemSelector``), e.g.
            ``{"key.$": "$$.Map.Item.Value.Key", "run.$": "$.run_id"}``. Default: the item.
        items_from: An :class:`S3Prefix` whose objects are the items; implies ``mode="DISTRIBUTED"``.
        mode: ``"INLINE"`` (default without ``items_from``) or ``"DISTRIBUTED"``.
        execution_type: Child executions of a Distributed Map: ``"STANDARD"`` (default; exactly once,
            up to a year) or ``"EXPRESS"`` (at least once, up to 5 minutes, cheaper).
        max_concurrency: Items in flight at once; 0 (default) means as many as Step Functions allows
            (40 inline, 10,000 distributed).
        tolerated_failure_percentage: Distributed only: the step still succeeds while at most this
            percentage of items fail (0-100). Default none: any failed item fails the step.
        tolerated_failure_count: Distributed only: the same as a number of items.
        label: Distributed only: a label for the child executions (at most 40 characters).
        retry_attempts: As for :class:`ParallelStep`.
        retry_on: As for :class:`ParallelStep`.
        retry_interval_seconds: As for :class:`ParallelStep`.
        retry_backoff_rate: As for :class:`ParallelStep`.
        retry_max_delay_seconds: As for :class:`ParallelStep`.
        retry_jitter: As for :class:`ParallelStep`.
        result_path: As for :class:`ParallelStep`.
        catch: As for :class:`ParallelStep`.
        catch_on: As for :class:`ParallelStep`.
        catch_result_path: As for :class:`ParallelStep`.
    """

    def __post_init__(self) -> None:
        if self.mode is None:
            self.mode = "DISTRIBUTED" if self.items_from is not None else "INLINE"
        self.validate()

    @property
    def distributed(self) -> bool:
        return self.mode == "DISTRIBUTED"

    def validate(self) -> None:
        check_state_name(self.name)
        what = f"MapStep {self.name!r}"
        self.steps = _check_chain(self.steps, f"{what}: steps")
        check_comment(self.comment, what)
        if self.mode not in ("INLINE", "DISTRIBUTED"):
            raise ConfigurationError(f"{what}: mode must be 'INLINE' or 'DISTRIBUTED'; got {self.mode!r}")
        if self.execution_type not in ("STANDARD", "EXPRESS"):
            raise ConfigurationError(f"{what}: execution_type must be 'STANDARD' or 'EXPRESS'")
        if self.items_path is not None:
            check_path(self.items_path, f"{what}: items_path")
        if self.item_selector is not None:
            self.item_selector = check_parameters(self.item_selector, f"{what}: item_selector")
        if self.items_from is not None:
            if not isinstance(self.items_from, S3Prefix):
                raise ConfigurationError(f"{what}: items_from must be an S3Prefix")
            if not self.distributed:
                raise ConfigurationError(f"{what}: items_from (an S3 listing) needs mode='DISTRIBUTED'")
        check_positive_int(self.max_concurrency, f"{what}: max_concurrency", minimum=0,
                           maximum=10_000 if self.distributed else 99_999_999)
        distributed_only = {
            "tolerated_failure_percentage": self.tolerated_failure_percentage,
            "tolerated_failure_count": self.tolerated_failure_count,
            "label": self.label,
        }
        for option, value in distributed_only.items():
            if value is not None and not self.distributed:
                raise ConfigurationError(
                    f"{what}: {option} applies to a Distributed Map only (mode='DISTRIBUTED')"
                )
        if self.tolerated_failure_percentage is not None:
            check_number(self.tolerated_failure_percentage, f"{what}: tolerated_failure_percentage",
                         minimum=0, maximum=100)
        if self.tolerated_failure_count is not None:
            check_positive_int(self.tolerated_failure_count, f"{what}: tolerated_failure_count", minimum=0)
        if self.label is not None and (
            not isinstance(self.label, str) or not 1 <= len(self.label) <= 40
            or any(c in self.label for c in ' <>{}[]?*"#%\\^|~`$&,;:/')
        ):
            raise ConfigurationError(f"{what}: label must be 1-40 characters without spaces or punctuation")
        self._check_retry(what)
        self._check_catch(what, self.name)

    def chains(self) -> list[list[Step]]:
        return [list(self.steps)]


Step: TypeAlias = PipelineStep | ParallelStep | MapStep | WaitStep | PassStep | FailStep
STEP_TYPES = (PipelineStep, ParallelStep, MapStep, WaitStep, PassStep, FailStep)


def step_names(chain: Sequence[Step]) -> list[str]:
    """Every state name in ``chain``, nested ones included."""
    names: list[str] = []
    for step in chain:
        names.append(step.name)
        for nested in step.chains():
            names.extend(step_names(nested))
    return names
