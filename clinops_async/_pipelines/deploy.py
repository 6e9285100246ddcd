"""Deploying a pipeline: create its state machine, or update it in place when it exists.

The existing machine is found by its ARN (account from the role, plus region and name), never by
listing the account's state machines. Two concurrent deploys are safe: the loser of a create race
updates instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import ConfigurationError
from .errors import PipelineNotDeployedError, arn_in_message, call, error_code, translate
from .releases import sync_tags
from .validate import MAX_DEFINITION_BYTES

if TYPE_CHECKING:
    from types_aiobotocore_stepfunctions.client import SFNClient
    from types_aiobotocore_stepfunctions.type_defs import DescribeStateMachineOutputTypeDef

__all__ = ["Deployed", "StateMachineSpec", "StateMachineType", "deploy_state_machine", "versioning_options"]

StateMachineType = Literal["STANDARD", "EXPRESS"]


@dataclass(frozen=True)
class StateMachineSpec:
    """What a deploy sends: the machine's name, ARN, ASL definition (JSON text), role and type.

    Raises:
        ConfigurationError: The definition is over Step Functions' 1 MB (checked before any I/O).
    """

    name: str
    arn: str
    definition: str
    role_arn: str
    type: StateMachineType
    #: ``loggingConfiguration`` to set, or None to leave the machine's as it is.
    logging: dict[str, Any] | None = None
    #: X-Ray tracing on or off, or None to leave it as it is.
    tracing: bool | None = None
    #: The machine's tags, or None to leave them as they are.
    tags: dict[str, str] | None = None

    def options(self) -> dict[str, Any]:
        """The logging and tracing arguments of a create or update."""
        options: dict[str, Any] = {}
        if self.logging is not None:
            options["loggingConfiguration"] = self.logging
        if self.tracing is not None:
            options["tracingConfiguration"] = {"enabled": self.tracing}
        return options

    def __post_init__(self) -> None:
        size = len(self.definition.encode("utf-8"))
        if size > MAX_DEFINITION_BYTES:
            raise ConfigurationError(
                f"the definition of {self.name!r} is {size} bytes; Step Functions accepts at most "
                f"{MAX_DEFINITION_BYTES} (1 MB): split the pipeline or shorten parameters"
            )


@dataclass(frozen=True)
class Deployed:
    """What a deploy returns: the state machine ARN, and the version ARN if one was published."""

    state_machine_arn: str
    version_arn: str | None


def versioning_options(publish: object, version_description: object) -> dict[str, Any]:
    """The ``publish``/``versionDescription`` arguments of a create or update, checked."""
    if not isinstance(publish, bool):
        raise ConfigurationError("publish must be True or False")
    if version_description is not None and (not isinstance(version_description, str)
                                            or len(version_description) > 256):
        raise ConfigurationError("version_description must be a str of at most 256 characters")
    versioning: dict[str, Any] = {"publish": publish} if publish else {}
    if publish and version_description:
        versioning["versionDescription"] = version_description
    return versioning


async def deploy_state_machine(client: SFNClient, spec: StateMachineSpec, versioning: dict[str, Any]) -> Deployed:
    """Create the state machine of ``spec``, or update its definition and role if it exists.

    Raises:
        ConfigurationError: The machine exists with another type, or AWS rejected the definition
            or role.
        PipelineAccessDeniedError: The credentials may not create/update it or pass the role.
        PipelineError: Any other failure.
    """
    what = f"deploy {spec.name!r}"
    current: DescribeStateMachineOutputTypeDef | None
    try:
        current = await call(client.describe_state_machine(stateMachineArn=spec.arn), what)
    except PipelineNotDeployedError:
        current = None
    if current is None:
        try:
            extra: dict[str, Any] = {**spec.options(), **versioning}
            if spec.tags:
                extra["tags"] = [{"key": k, "value": v} for k, v in spec.tags.items()]
            created = await client.create_state_machine(
                name=spec.name, definition=spec.definition, roleArn=spec.role_arn, type=spec.type, **extra
            )
        except Exception as exc:
            if error_code(exc) != "StateMachineAlreadyExists":
                raise translate(exc, what) from exc
            # Another deploy created it first: update what it created.
            arn = arn_in_message(exc) or spec.arn
            current = await call(client.describe_state_machine(stateMachineArn=arn), what)
        else:
            return Deployed(str(created["stateMachineArn"]), created.get("stateMachineVersionArn"))
    assert current is not None  # described above, or just created by another deploy
    return await _update(client, spec, current, versioning)


async def _update(client: SFNClient, spec: StateMachineSpec, current: DescribeStateMachineOutputTypeDef,
                  versioning: dict[str, Any]) -> Deployed:
    if current.get("type", spec.type) != spec.type:
        raise ConfigurationError(
            f"state machine {spec.name!r} exists as {current.get('type')}; a type cannot change: "
            f"delete it or deploy under another name"
        )
    arn = str(current["stateMachineArn"])
    updated = await call(
        client.update_state_machine(
            stateMachineArn=arn, definition=spec.definition, roleArn=spec.role_arn, **spec.options(), **versioning
        ),
        f"deploy {spec.name!r}",
    )
    if spec.tags is not None:
        await sync_tags(client, arn, spec.tags)
    return Deployed(arn, updated.get("stateMachineVersionArn"))
