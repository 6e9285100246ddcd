"""Checks of Step Functions names, ARNs and values, done before anything is sent to AWS.

Every check raises :class:`~clinops_async.ConfigurationError` with one line that names the field, the
bad value and the fix. The rules are AWS's own (Step Functions and IAM quotas and name formats), so a
value that passes here is not rejected later for its shape.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from .._exceptions import ConfigurationError

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_INPUT_BYTES",
    "MAX_NAME_LENGTH",
    "check_comment",
    "check_error_names",
    "check_json",
    "check_number",
    "check_parameters",
    "check_path",
    "check_positive_int",
    "check_region",
    "check_resource_name",
    "check_role_arn",
    "check_state_machine_arn",
    "check_state_name",
    "check_task_resource",
    "partition_for",
    "role_account",
]

#: State machine, execution and state names: 1 to 80 characters.
MAX_NAME_LENGTH = 80
#: The largest definition CreateStateMachine/UpdateStateMachine accept (1 MB of UTF-8).
MAX_DEFINITION_BYTES = 1024 * 1024
#: The largest execution input StartExecution accepts (256 KiB of UTF-8).
MAX_INPUT_BYTES = 256 * 1024

_PARTITIONS = "aws|aws-cn|aws-us-gov|aws-iso|aws-iso-b|aws-iso-e|aws-iso-f|aws-eusc"
_REGION_RE = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")
# AWS: no whitespace, brackets, wildcards, these punctuation marks, or control characters.
_FORBIDDEN_NAME_CHARS = re.compile(r'[\s<>{}\[\]?*"#%\\^|~`$&,;:/\x00-\x1f\x7f-\x9f]')
_ROLE_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITIONS}):iam::(?P<account>[^:]*):role/"
    r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}"
)
_LAMBDA_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITIONS}):lambda:(?P<region>[^:]+):(?P<account>[^:]*):function:"
    r"[A-Za-z0-9_-]{1,64}(?::(?:\$LATEST|[A-Za-z0-9_-]{1,128}))?"
)
_ACTIVITY_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITIONS}):states:(?P<region>[^:]+):(?P<account>[^:]*):activity:[^:]{{1,80}}"
)
_INTEGRATION_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITIONS}):states:::(?:aws-sdk:)?[a-z0-9-]+:[A-Za-z][A-Za-z0-9]*"
    r"(?:\.sync(?::2)?|\.waitForTaskToken)?"
)
_STATE_MACHINE_RE = re.compile(
    rf"arn:(?P<partition>{_PARTITIONS}):states:(?P<region>[^:]+):(?P<account>[^:]*):stateMachine:"
    r"(?P<name>[^:]+)(?::[^:]+)?"
)
_ACCOUNT_RE = re.compile(r"\d{12}")


def partition_for(region: str) -> str:
    """The ARN partition of an AWS region (``aws``, ``aws-cn`` or ``aws-us-gov``)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def check_region(region: object) -> str:
    if not isinstance(region, str) or not _REGION_RE.fullmatch(region):
        raise ConfigurationError(f"region must be an AWS region code such as 'us-east-1'; got {region!r}")
    return region


def check_resource_name(value: object, what: str) -> str:
    """A state machine or execution name: 1-80 characters, none of the characters AWS forbids."""
    if not isinstance(value, str) or not value:
        raise ConfigurationError(f"{what} must be a non-empty string of at most 80 characters; got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"{what} {value[:20]!r}... is {len(value)} characters long; AWS allows at most 80"
        )
    bad = _FORBIDDEN_NAME_CHARS.search(value)
    if bad:
        raise ConfigurationError(
            f"{what} {value!r} contains {bad.group()!r}, which AWS does not allow in names; use letters, "
            "digits, '-' and '_'"
        )
    return value


def check_state_name(value: object, what: str = "step name") -> str:
    """A state (step) name: 1-80 characters without control characters."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"{what} must be a non-empty string; got {value!r}")
    if len(value) > MAX_NAME_LENGTH:
        raise ConfigurationError(
            f"{what} {value[:20]!r}... is {len(value)} characters long; AWS allows at most 80"
        )
    if any(ord(c) < 32 or 127 <= ord(c) <= 159 for c in value):
        raise ConfigurationError(f"{what} {value!r} contains a control character")
    return value


def _check_account(arn: str, account: str, what: str) -> None:
    if not _ACCOUNT_RE.fullmatch(account):
        shown = f"{len(account)} digits" if account.isdigit() else "not 12 digits"
        raise ConfigurationError(
            f"{what} {arn!r} has the account id {account!r} ({shown}); AWS account ids have exactly "
            "12 digits, e.g. 123456789012"
        )


def check_role_arn(value: object, what: str = "role_arn") -> str:
    """An IAM role ARN with a 12-digit account id; returns it unchanged."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str; got {type(value).__name__}")
    match = _ROLE_RE.fullmatch(value)
    if match is None:
        raise ConfigurationError(
            f"{what} must be an IAM role ARN such as 'arn:aws:iam::123456789012:role/StepFunctionsRole'; "
            f"got {value!r}"
        )
    _check_account(value, match["account"], what)
    return value


def role_account(role_arn: str) -> str:
    """The account id of a (checked) role ARN."""
    match = _ROLE_RE.fullmatch(role_arn)
    assert match is not None
    return match["account"]


def check_task_resource(value: object, what: str) -> str:
    """A Task ``Resource``: a Lambda function, a Step Functions integration or an activity ARN."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str; got {type(value).__name__}")
    for pattern in (_LAMBDA_RE, _ACTIVITY_RE):
        match = pattern.fullmatch(value)
        if match is not None:
            _check_account(value, match["account"], what)
            if not _REGION_RE.fullmatch(match["region"]):
                raise ConfigurationError(
                    f"{what} {value!r} has the region {match['region']!r}; use a region code such as "
                    "'us-east-1'"
                )
            return value
    if _INTEGRATION_RE.fullmatch(value):
        return value
    raise ConfigurationError(
        f"{what} {value!r} is not a Task resource: use a Lambda function ARN "
        "('arn:aws:lambda:us-east-1:123456789012:function:NAME'), a service integration "
        "('arn:aws:states:::lambda:invoke', 'arn:aws:states:::aws-sdk:s3:getObject') or an activity ARN"
    )


def check_state_machine_arn(value: object, what: str = "state_machine_arn") -> str:
    """A state machine ARN (optionally with a version or alias suffix)."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what} must be a str; got {type(value).__name__}")
    match = _STATE_MACHINE_RE.fullmatch(value)
    if match is None:
        raise ConfigurationError(
            f"{what} must be a state machine ARN such as "
            f"'arn:aws:states:us-east-1:123456789012:stateMachine:NAME'; got {value!r}"
        )
    _check_account(value, match["account"], what)
    return value


def check_error_names(value: object, what: str) -> tuple[str, ...]:
    """An ASL ``ErrorEquals`` list: error names, with ``States.ALL`` alone if present."""
    if isinstance(value, str) or not isinstance(value, Sequence) or not value:
        raise ConfigurationError(
            f"{what} must be a non-empty list of error names such as ['States.ALL']; got {value!r}"
        )
    errors = tuple(value)
    for error in errors:
        if not isinstance(error, str) or not error:
            raise ConfigurationError(f"{what} must contain error names (non-empty str); got {error!r}")
    if "States.ALL" in errors and len(errors) > 1:
        raise ConfigurationError(f"{what}: 'States.ALL' matches every error and must appear alone")
    return errors


def check_comment(value: object, what: str) -> None:
    """A state's ``Comment``: any str; ``what`` names the step."""
    if not isinstance(value, str):
        raise ConfigurationError(f"{what}: comment must be a str; got {type(value).__name__}")


def check_positive_int(value: object, what: str, *, minimum: int = 1, maximum: int = 99_999_999) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not minimum <= value <= maximum:
        raise ConfigurationError(f"{what} must be an integer from {minimum} to {maximum}; got {value!r}")
    return value


def check_path(value: object, what: str) -> str:
    """A JSONPath reference such as ``$`` or ``$.error``."""
    if not isinstance(value, str) or not value.startswith("$"):
        raise ConfigurationError(
            f"{what} must be a JSONPath starting with '$', such as '$.result'; got {value!r}"
        )
    return value


def check_json(value: object, what: str) -> str:
    """``value`` as compact JSON text; ConfigurationError if it is not JSON-serialisable."""
    try:
        return json.dumps(value, allow_nan=False, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(
            f"{what} must be JSON-serialisable (dicts, lists, str, int, finite float, bool, None): {exc}"
        ) from None


def check_parameters(value: object, what: str) -> dict[str, Any]:
    """Task ``Parameters``: a JSON-serialisable dict whose ``"key.$"`` entries hold paths."""
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{what} must be a dict; got {type(value).__name__}")
    check_json(value, what)
    _check_dynamic_keys(value, what)
    return dict(value)


def _check_dynamic_keys(value: object, what: str) -> None:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ConfigurationError(f"{what} has a non-string key {key!r}; JSON keys are strings")
            if key.endswith(".$") and not (
                isinstance(item, str) and (item.startswith(("$", "States.")))
            ):
                raise ConfigurationError(
                    f"{what} key {key!r} ends in '.$', so its value must be a path ('$.field') or an "
                    f"intrinsic function ('States.Format(...)'); got {item!r}"
                )
            _check_dynamic_keys(item, what)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_dynamic_keys(item, what)


def check_number(value: object, what: str, *, minimum: float, maximum: float) -> float:
    if (
        not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value)
        or not minimum <= value <= maximum
    ):
        raise ConfigurationError(f"{what} must be a number from {minimum:g} to {maximum:g}; got {value!r}")
    return float(value)
