"""The events Step Functions sends a step, read into the artifacts to load and the rest.

A step's event is one of these shapes (what the state's ``Parameters``/``ItemSelector`` and the
previous state's output make it):

- a **reference**: an artifact URI (``"s3://bucket/runs/x/clean.parquet"``) or the reference dict a
  step returns (``{"uri": ..., "rows": ..., "crc32c": ...}``); a Map item is one of these too;
- a **list of references**: the output of a Parallel state, or a Map's list of outputs;
- **named artifacts**: ``{"artifacts": {"vitals": ref, "labs": ref}, ...other parameters}``, which is
  also what a step returning several frames gives the next one;
- a **Distributed Map batch** (``ItemBatcher``): ``{"Items": [ref, ...], "BatchInput": {...}}``;
- any of these wrapped as ``{"input": ..., "step_context": {...}}`` by :func:`step_parameters` or
  :func:`map_item_selector`, which carry the execution, state and item for deterministic names;
- the output of the ``arn:aws:states:::lambda:invoke`` integration (``{"Payload": ..., "StatusCode":
  200}``), read as its ``Payload``.

An S3 listing entry of a Distributed Map over a prefix (``{"Key": ..., "Size": ...}``) is a reference
too when the parameters name its ``bucket``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .._exceptions import StepInputError

__all__ = [
    "ArtifactRef",
    "StepContext",
    "StepEvent",
    "map_item_selector",
    "parse_event",
    "step_parameters",
]

#: The event key under which :func:`step_parameters` puts the Step Functions context.
CONTEXT_KEY = "step_context"
_NAME_PART = re.compile(r"[^A-Za-z0-9._=-]+")


@dataclass(frozen=True)
class ArtifactRef:
    """One artifact named in an event: its URI and, when the event says, the CRC32C it must have."""

    uri: str
    crc32c: str | None = None


@dataclass(frozen=True)
class StepContext:
    """Where the step runs, from ``$$`` (the Step Functions context object): names its output."""

    execution: str
    state: str
    item: int | None = None

    def path(self) -> str:
        """``EXECUTION/STATE[/item-N]``, each part reduced to characters safe in any store."""
        parts = [_NAME_PART.sub("_", self.execution), _NAME_PART.sub("_", self.state)]
        if self.item is not None:
            parts.append(f"item-{self.item}")
        return "/".join(parts)


@dataclass(frozen=True)
class StepEvent:
    """An event read: the artifacts (one, a list, or named) and the other parameters."""

    kind: Literal["single", "list", "named"]
    refs: list[ArtifactRef] | dict[str, ArtifactRef]
    params: dict[str, Any] = field(default_factory=dict)
    context: StepContext | None = None


def step_parameters(input_path: str = "$") -> dict[str, Any]:
    """The ``Parameters`` of a Task that runs an artifact handler, carrying the context it names output by.

    Args:
        input_path: What the handler reads (default: the whole state input).

    Returns:
        ``{"input.$": input_path, "step_context": {"execution.$": "$$.Execution.Name", "state.$":
        "$$.State.Name"}}``.
    """
    if not isinstance(input_path, str) or not input_path.startswith("$"):
        raise StepInputError(f"input_path must be a path such as '$' or '$.clean'; got {input_path!r}")
    return {"input.$": input_path,
            CONTEXT_KEY: {"execution.$": "$$.Execution.Name", "state.$": "$$.State.Name"}}


def map_item_selector(bucket: str | None = None) -> dict[str, Any]:
    """The ``ItemSelector`` of a Map whose steps are artifact handlers: the item plus its index.

    Each item's step then writes its own output (``.../EXECUTION/MAPSTATE/item-N/...``); the Task
    inside the Map takes its input as it is (no ``step_parameters``).

    Args:
        bucket: For a Distributed Map over an S3 prefix (``items_from=S3Prefix(...)``), whose items
            are listing entries (``{"Key": ...}``): the bucket they are in, or a path such as
            ``"$.bucket"``.
    """
    selector: dict[str, Any] = {"input.$": "$$.Map.Item.Value",
                                CONTEXT_KEY: {"execution.$": "$$.Execution.Name", "state.$": "$$.State.Name",
                                              "item.$": "$$.Map.Item.Index"}}
    if bucket is not None:
        if not isinstance(bucket, str) or not bucket:
            raise StepInputError(f"bucket must be a bucket name or a path such as '$.bucket'; got {bucket!r}")
        selector["bucket.$" if bucket.startswith("$") else "bucket"] = bucket
    return selector


def parse_event(event: object) -> StepEvent:
    """Read ``event`` (any shape above) into the artifacts it names.

    Raises:
        StepInputError: The event names no artifact in a shape above.
    """
    context = None
    params: dict[str, Any] = {}
    body: object = event
    if isinstance(body, Mapping) and isinstance(body.get("Items"), list):  # Distributed Map batch
        batch = body.get("BatchInput") or {}
        if not isinstance(batch, Mapping):
            raise StepInputError("BatchInput of a Distributed Map batch must be an object")
        params = dict(batch)
        context = _context(params.pop(CONTEXT_KEY, None))
        return StepEvent("list", [_ref(item, params, f"Items[{i}]") for i, item in enumerate(body["Items"])],
                         params, context)
    if isinstance(body, Mapping) and CONTEXT_KEY in body:
        rest = dict(body)
        context = _context(rest.pop(CONTEXT_KEY))
        body = rest.pop("input") if "input" in rest else rest
        params = rest if body is not rest else {}
    return _body(body, params, context)


def _body(body: object, params: dict[str, Any], context: StepContext | None) -> StepEvent:
    if isinstance(body, Mapping) and "Payload" in body and "StatusCode" in body:  # lambda:invoke output
        body = body["Payload"]
    if isinstance(body, list):
        if not body:
            raise StepInputError("the event is an empty list: it names no artifact")
        return StepEvent("list", [_ref(item, params, f"[{i}]") for i, item in enumerate(body)], params, context)
    if isinstance(body, Mapping) and "artifacts" in body:
        rest = {k: v for k, v in body.items() if k != "artifacts"}
        merged = {**params, **rest}
        named = body["artifacts"]
        if isinstance(named, list):
            return _body(named, merged, context)
        if not isinstance(named, Mapping) or not named:
            raise StepInputError("'artifacts' must be a non-empty object of name: reference, or a list")
        refs = {str(k): _ref(v, merged, f"artifacts.{k}") for k, v in named.items()}
        return StepEvent("named", refs, merged, context)
    return StepEvent("single", [_ref(body, params, "the event")], params, context)


def _ref(value: object, params: Mapping[str, Any], where: str) -> ArtifactRef:
    if isinstance(value, str) and value:
        return ArtifactRef(value)
    if isinstance(value, Mapping):
        if isinstance(value.get("uri"), str) and value["uri"]:
            crc = value.get("crc32c")
            return ArtifactRef(value["uri"], crc if isinstance(crc, str) else None)
        if isinstance(value.get("Key"), str):  # an S3 listing entry (Distributed Map over a prefix)
            bucket = value.get("Bucket") or params.get("bucket")
            if not isinstance(bucket, str) or not bucket:
                raise StepInputError(
                    f"{where} is an S3 listing entry ({value['Key']!r}) but no bucket is given: put "
                    "'bucket' in the ItemSelector or BatchInput"
                )
            return ArtifactRef(f"s3://{bucket}/{value['Key']}")
    raise StepInputError(
        f"{where} is not an artifact reference: expected a URI string or an object with 'uri' "
        f"(or 'artifacts', or 'Items'); got {type(value).__name__}"
    )


def _context(value: object) -> StepContext | None:
    if value is None:
        return None
    if not isinstance(value, Mapping) or not isinstance(value.get("execution"), str) \
            or not isinstance(value.get("state"), str):
        raise StepInputError(f"{CONTEXT_KEY} must hold 'execution' and 'state' names (see step_parameters())")
    item = value.get("item")
    if item is not None and (not isinstance(item, int) or isinstance(item, bool) or item < 0):
        raise StepInputError(f"{CONTEXT_KEY}.item must be the item's index (an int); got {item!r}")
    return StepContext(value["execution"], value["state"], item)
