"""How a state machine is deployed and released: logging, tracing, tags, versions and aliases.

Everything here is checked before any call, against the limits in Step Functions' API reference
(the service model botocore ships), so a bad option never reaches AWS half-applied.

- **Logging** (:class:`LoggingConfig`): a CloudWatch Logs level, whether execution data is logged,
  and the log group; Express workflows keep their history only there.
- **Tracing**: X-Ray, on or off.
- **Tags**: sent on create; on update the pipeline's tags are made the machine's (``TagResource``
  for new or changed ones, ``UntagResource`` for keys it no longer has; ``aws:`` tags are AWS's).
- **Versions** are published by a deploy (``publish=True``), **aliases** point at one version or
  split runs between two (``routing`` weights summing to 100).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from .._exceptions import ConfigurationError
from .errors import call, error_code, translate

if TYPE_CHECKING:
    from types_aiobotocore_stepfunctions.client import SFNClient

__all__ = [
    "LOG_LEVELS",
    "LogLevel",
    "LoggingConfig",
    "alias_routing",
    "check_alias_name",
    "check_settings",
    "check_tags",
    "point_alias",
    "sync_tags",
]

LogLevel = Literal["ALL", "ERROR", "FATAL", "OFF"]
LOG_LEVELS: tuple[str, ...] = ("ALL", "ERROR", "FATAL", "OFF")
_LOG_GROUP_ARN = re.compile(r"arn:[A-Za-z0-9-]+:logs:[a-z0-9-]+:\d{12}:log-group:[A-Za-z0-9_\-/.#]{1,512}:\*")
_ALIAS_NAME = re.compile(r"(?=.*[a-zA-Z_\-.])[a-zA-Z0-9_\-.]{1,80}")
_VERSION_ARN = re.compile(r"arn:[A-Za-z0-9-]+:states:[a-z0-9-]+:\d{12}:stateMachine:[^:]+:\d+")


@dataclass(frozen=True, kw_only=True)
class LoggingConfig:
    """Where and how much a state machine logs to CloudWatch Logs (``loggingConfiguration``).

    Attributes:
        level: ``"ALL"``, ``"ERROR"`` (default: failures only, the cheapest useful level),
            ``"FATAL"`` or ``"OFF"``.
        include_execution_data: Also log each state's input and output. Default False: inputs may
            hold identifiers that should not be copied into logs.
        log_group_arn: The log group, ``arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*`` (the ``:*``
            is required by AWS). Required unless ``level="OFF"``.

    Raises:
        ConfigurationError: A bad level, a missing or malformed log group ARN.
    """

    level: LogLevel = "ERROR"
    include_execution_data: bool = False
    log_group_arn: str | None = None

    def __post_init__(self) -> None:
        if self.level not in LOG_LEVELS:
            raise ConfigurationError(f"LoggingConfig.level must be one of {', '.join(LOG_LEVELS)}; got {self.level!r}")
        if not isinstance(self.include_execution_data, bool):
            raise ConfigurationError("LoggingConfig.include_execution_data must be True or False")
        if self.log_group_arn is None:
            if self.level != "OFF":
                raise ConfigurationError(
                    f"LoggingConfig(level={self.level!r}) needs log_group_arn "
                    "('arn:aws:logs:REGION:ACCOUNT:log-group:NAME:*'); only level='OFF' logs nowhere"
                )
        elif not isinstance(self.log_group_arn, str) or not _LOG_GROUP_ARN.fullmatch(self.log_group_arn):
            raise ConfigurationError(
                "LoggingConfig.log_group_arn must be a log group ARN ending in ':*', such as "
                f"'arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/NAME:*'; "
                f"got {self.log_group_arn!r}"
            )

    def render(self) -> dict[str, Any]:
        """The ``loggingConfiguration`` of CreateStateMachine/UpdateStateMachine."""
        rendered: dict[str, Any] = {"level": self.level, "includeExecutionData": self.include_execution_data}
        if self.log_group_arn is not None:
            rendered["destinations"] = [{"cloudWatchLogsLogGroup": {"logGroupArn": self.log_group_arn}}]
        return rendered


def check_settings(
    logging: object, tracing: object, tags: object
) -> tuple[LoggingConfig | None, bool | None, dict[str, str] | None]:
    """A pipeline's ``logging``, ``tracing`` and ``tags`` arguments, checked (None: leave as is)."""
    if logging is not None and not isinstance(logging, LoggingConfig):
        raise ConfigurationError("logging must be a LoggingConfig")
    if tracing is not None and not isinstance(tracing, bool):
        raise ConfigurationError("tracing must be True, False or None")
    return logging, tracing, None if tags is None else check_tags(tags)


def check_tags(tags: object) -> dict[str, str]:
    """Tags as AWS takes them: at most 50, keys 1-128 and values 0-256 characters, no ``aws:`` keys."""
    if not isinstance(tags, Mapping):
        raise ConfigurationError(f"tags must be a dict of str to str; got {type(tags).__name__}")
    if len(tags) > 50:
        raise ConfigurationError(f"tags: at most 50 per state machine; got {len(tags)}")
    checked: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(key, str) or not 1 <= len(key) <= 128 or key.lower().startswith("aws:"):
            raise ConfigurationError(f"tag key {key!r} must be 1-128 characters and not start with 'aws:'")
        if not isinstance(value, str) or len(value) > 256:
            raise ConfigurationError(f"tag {key!r}: the value must be a str of at most 256 characters")
        checked[key] = value
    return checked


def check_alias_name(value: object) -> str:
    """An alias name: 1-80 of letters, digits, ``_-.``, not all digits (that would read as a version)."""
    if not isinstance(value, str) or not _ALIAS_NAME.fullmatch(value):
        raise ConfigurationError(
            f"alias must be 1-80 letters, digits, '_', '-' or '.', with at least one non-digit; got {value!r}"
        )
    return value


def alias_routing(machine_arn: str, routing: object) -> list[dict[str, Any]]:
    """The ``routingConfiguration`` of an alias: one or two versions whose weights sum to 100.

    ``routing`` maps each version (its number, or its version ARN) to a weight (0-100).
    """
    if not isinstance(routing, Mapping) or not 1 <= len(routing) <= 2:
        raise ConfigurationError("routing must map one or two versions (number or version ARN) to weights")
    entries: list[dict[str, Any]] = []
    for version, weight in routing.items():
        if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
            arn = f"{machine_arn}:{version}"
        elif isinstance(version, str) and _VERSION_ARN.fullmatch(version) \
                and version.rsplit(":", 1)[0] == machine_arn:
            arn = version
        else:
            raise ConfigurationError(
                f"routing: {version!r} is not a version of {machine_arn} (give its number or its version ARN)"
            )
        if not isinstance(weight, int) or isinstance(weight, bool) or not 0 <= weight <= 100:
            raise ConfigurationError(f"routing: the weight of version {version!r} must be an int from 0 to 100")
        entries.append({"stateMachineVersionArn": arn, "weight": weight})
    total = sum(entry["weight"] for entry in entries)
    if total != 100:
        raise ConfigurationError(f"routing: the weights must sum to 100; they sum to {total}")
    return entries


async def sync_tags(client: SFNClient, arn: str, tags: dict[str, str]) -> None:
    """Make ``tags`` the tags of ``arn``: add or change what differs, remove the keys it lacks."""
    what = f"tag {arn}"
    current = await call(client.list_tags_for_resource(resourceArn=arn), what)
    existing = {str(t["key"]): str(t.get("value", "")) for t in current.get("tags", ())}
    changed = [{"key": k, "value": v} for k, v in tags.items() if existing.get(k) != v]
    removed = [k for k in existing if k not in tags and not k.lower().startswith("aws:")]
    if changed:
        await call(client.tag_resource(resourceArn=arn, tags=changed), what)  # type: ignore[arg-type]
    if removed:
        await call(client.untag_resource(resourceArn=arn, tagKeys=removed), what)


async def point_alias(client: SFNClient, machine_arn: str, name: str, routing: list[dict[str, Any]],
                      description: str | None) -> str:
    """Create alias ``name`` of ``machine_arn`` with ``routing``, or move it there if it exists; its ARN."""
    alias_arn = f"{machine_arn}:{name}"
    what = f"point alias {name!r} of {machine_arn}"
    extra = {"description": description} if description is not None else {}
    try:
        created = await client.create_state_machine_alias(
            name=name, routingConfiguration=routing, **extra  # type: ignore[arg-type]
        )
        return str(created["stateMachineAliasArn"])
    except Exception as exc:
        if error_code(exc) not in ("ConflictException", "ResourceAlreadyExists", "ValidationException") \
                or "exist" not in str(exc).lower():
            raise translate(exc, what) from exc
    await call(client.update_state_machine_alias(
        stateMachineAliasArn=alias_arn, routingConfiguration=routing, **extra  # type: ignore[arg-type]
    ), what)
    return alias_arn
