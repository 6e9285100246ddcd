"""Pipelines described in a JSON or YAML file (the ``clinops-async pipeline`` commands read these).

The file holds one object::

    name: clinops-daily-ingest                                   # required
    role_arn: arn:aws:iam::123456789012:role/StepFunctionsRole   # required
    region: us-east-1          # optional (default: --region, AWS_REGION, us-east-1)
    comment: Daily ingest      # optional
    type: STANDARD             # optional: STANDARD or EXPRESS
    steps:                     # required: the chain, run in order
      - name: Ingest
        resource: arn:aws:lambda:us-east-1:123456789012:function:clinops-ingest
        parameters: {date.$: $.date}
        catch: NotifyFailure
      - type: parallel
        name: Features
        branches:
          - [{name: Vitals, resource: ...}]
          - [{name: Labs, resource: ...}]
      - {type: map, name: PerArtifact, items_path: $.artifacts, steps: [{name: One, resource: ...}]}
      - {type: wait, name: Settle, seconds: 5}
    handlers:                  # optional: chains a step's ``catch`` can send the execution to
      - - {name: NotifyFailure, resource: ...}
        - {type: fail, name: IngestFailed, error: IngestFailed}
    logging:                   # optional: CloudWatch Logs (a LoggingConfig)
      level: ERROR             # ALL, ERROR, FATAL or OFF
      include_execution_data: false
      log_group_arn: arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/states/ingest:*
    tracing: true              # optional: X-Ray
    tags: {team: clinops}      # optional: the state machine's tags
    release:                   # optional: what 'pipeline deploy' does besides deploying
      publish: true            # publish a version
      version_description: nightly build
      alias: live              # and point this alias at it

A step's ``type`` is ``task`` (the default: a :class:`PipelineStep`), ``parallel``, ``map``,
``wait``, ``pass`` or ``fail``; its other keys are the fields of that step class, with the same
names and defaults. A map's ``items_from`` is ``{bucket: ..., prefix: ...}`` (an :class:`S3Prefix`).
Every mistake is reported with the file and the path to the offending key.
"""

from __future__ import annotations

import dataclasses
import difflib
import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._exceptions import ConfigurationError
from .deploy import versioning_options
from .pipeline import AsyncStepFunctionsPipeline, StateMachineType
from .releases import LoggingConfig, check_alias_name, check_tags
from .steps import FailStep, MapStep, ParallelStep, PassStep, PipelineStep, S3Prefix, Step, WaitStep

__all__ = ["PipelineSpec", "load_pipeline_file", "parse_pipeline"]

_STEP_CLASSES: dict[str, type[Any]] = {
    "task": PipelineStep,
    "parallel": ParallelStep,
    "map": MapStep,
    "wait": WaitStep,
    "pass": PassStep,
    "fail": FailStep,
}
_TOP_KEYS = ("name", "role_arn", "region", "comment", "type", "steps", "handlers", "logging", "tracing", "tags",
             "release")
_RELEASE_KEYS = ("publish", "version_description", "alias")


@dataclass(frozen=True)
class PipelineSpec:
    """A pipeline read from a file: everything needed to build an :class:`AsyncStepFunctionsPipeline`."""

    name: str
    role_arn: str
    steps: list[Step]
    handlers: list[list[Step]]
    region: str | None = None
    comment: str = ""
    type: StateMachineType = "STANDARD"
    source: str = ""
    logging: LoggingConfig | None = None
    tracing: bool | None = None
    tags: dict[str, str] | None = None
    #: ``publish``, ``version_description`` and ``alias`` for ``deploy``.
    release: dict[str, Any] = dataclasses.field(default_factory=dict)

    def build(self, *, region: str | None = None, profile: str | None = None,
              endpoint_url: str | None = None) -> AsyncStepFunctionsPipeline:
        """The pipeline (no I/O). The file's region wins over ``region``.

        Raises:
            ConfigurationError: An invalid name, ARN, step or chain, naming the file.
        """
        try:
            built = AsyncStepFunctionsPipeline(
                self.name, self.role_arn, self.region or region or "us-east-1", self.comment, profile,
                endpoint_url=endpoint_url, type=self.type, logging=self.logging, tracing=self.tracing,
                tags=self.tags,
            )
            for step in self.steps:
                built.add_step(step)
            for chain in self.handlers:
                built.add_handler(*chain)
            built.definition()  # catches into missing steps, unreachable handlers
        except ConfigurationError as exc:
            raise ConfigurationError(f"{self.source}: {exc}") from None
        return built


def _unknown(keys: set[str], allowed: tuple[str, ...] | list[str], where: str) -> None:
    for key in sorted(keys - set(allowed)):
        close = difflib.get_close_matches(key, allowed, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else f"; allowed: {', '.join(allowed)}"
        raise ConfigurationError(f"{where}: unknown key {key!r}{hint}")


def _chain(value: Any, where: str) -> list[Step]:
    if not isinstance(value, list) or not value:
        raise ConfigurationError(f"{where}: expected a non-empty list of steps")
    return [_step(item, f"{where}[{index}]") for index, item in enumerate(value)]


def _step(value: Any, where: str) -> Step:
    if not isinstance(value, dict):
        raise ConfigurationError(f"{where}: expected a step (an object with 'name' and its fields)")
    data = dict(value)
    kind = data.pop("type", "task")
    if kind not in _STEP_CLASSES:
        raise ConfigurationError(f"{where}: type must be one of {', '.join(_STEP_CLASSES)}; got {kind!r}")
    cls = _STEP_CLASSES[kind]
    if isinstance(data.get("name"), str):
        where = f"{where} ({data['name']})"
    fields = [f.name for f in dataclasses.fields(cls) if f.init]
    _unknown(set(data), fields + ["type"], where)
    missing = [f.name for f in dataclasses.fields(cls)
               if f.init and f.name not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigurationError(f"{where}: a {kind} step needs {', '.join(repr(m) for m in missing)}")
    if kind == "parallel" and "branches" in data:
        branches = data["branches"]
        if not isinstance(branches, list) or not branches:
            raise ConfigurationError(f"{where}.branches: expected a non-empty list of step lists")
        data["branches"] = [_chain(b, f"{where}.branches[{i}]") for i, b in enumerate(branches)]
    if kind == "map":
        data["steps"] = _chain(data.get("steps"), f"{where}.steps")
        source = data.get("items_from")
        if source is not None:
            if not isinstance(source, dict):
                raise ConfigurationError(f"{where}.items_from: expected {{bucket: ..., prefix: ...}}")
            _unknown(set(source), ("bucket", "prefix"), f"{where}.items_from")
            try:
                data["items_from"] = S3Prefix(**source)
            except (ConfigurationError, TypeError) as exc:
                raise ConfigurationError(f"{where}.items_from: {exc}") from None
    try:
        step: Step = cls(**data)
    except ConfigurationError as exc:
        raise ConfigurationError(f"{where}: {exc}") from None
    except TypeError as exc:  # a value of an unusable type that a check did not catch first
        raise ConfigurationError(f"{where}: {exc}") from None
    return step


def parse_pipeline(data: Any, source: str = "pipeline") -> PipelineSpec:
    """Validate the decoded content of a pipeline file.

    Raises:
        ConfigurationError: What is wrong and where (``source: steps[1] (Ingest): ...``).
    """
    if not isinstance(data, dict):
        raise ConfigurationError(f"{source}: expected an object with name, role_arn and steps")
    _unknown(set(data), _TOP_KEYS, source)
    for key in ("name", "role_arn", "steps"):
        if key not in data:
            raise ConfigurationError(f"{source}: missing {key!r}")
    for key in ("name", "role_arn", "region", "comment"):
        if key in data and not isinstance(data[key], str):
            raise ConfigurationError(f"{source}: {key} must be a string")
    kind = data.get("type", "STANDARD")
    if kind not in ("STANDARD", "EXPRESS"):
        raise ConfigurationError(f"{source}: type must be STANDARD or EXPRESS; got {kind!r}")
    handlers = data.get("handlers", [])
    if not isinstance(handlers, list):
        raise ConfigurationError(f"{source}: handlers must be a list of step lists")
    spec = PipelineSpec(
        **_deploy_options(data, source),
        name=data["name"],
        role_arn=data["role_arn"],
        region=data.get("region"),
        comment=data.get("comment", ""),
        type=kind,
        steps=_chain(data["steps"], f"{source}: steps"),
        handlers=[_chain(h, f"{source}: handlers[{i}]") for i, h in enumerate(handlers)],
        source=source,
    )
    spec.build()  # every remaining check (names, ARNs, catches) before anything is sent
    return spec


def _deploy_options(data: dict[str, Any], source: str) -> dict[str, Any]:
    """The ``logging``, ``tracing``, ``tags`` and ``release`` keys of a pipeline file, checked."""
    options: dict[str, Any] = {}
    if "logging" in data:
        logging = data["logging"]
        if not isinstance(logging, dict):
            raise ConfigurationError(f"{source}: logging must be an object (level, include_execution_data, "
                                     "log_group_arn)")
        _unknown(set(logging), ("level", "include_execution_data", "log_group_arn"), f"{source}: logging")
        try:
            options["logging"] = LoggingConfig(**logging)
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: logging: {exc}") from None
    if "tracing" in data:
        if not isinstance(data["tracing"], bool):
            raise ConfigurationError(f"{source}: tracing must be true or false")
        options["tracing"] = data["tracing"]
    if "tags" in data:
        try:
            options["tags"] = check_tags(data["tags"])
        except ConfigurationError as exc:
            raise ConfigurationError(f"{source}: tags: {exc}") from None
    release = data.get("release", {})
    if not isinstance(release, dict):
        raise ConfigurationError(f"{source}: release must be an object (publish, version_description, alias)")
    _unknown(set(release), _RELEASE_KEYS, f"{source}: release")
    try:
        versioning_options(release.get("publish", False), release.get("version_description"))
        if release.get("alias") is not None:
            check_alias_name(release["alias"])
            if not release.get("publish"):
                raise ConfigurationError("alias needs publish: true (it points at the version published)")
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: release: {exc}") from None
    options["release"] = dict(release)
    return options


def load_pipeline_file(path: str | Path) -> PipelineSpec:
    """Read and validate a pipeline file: ``.json``, or ``.yaml``/``.yml`` (needs PyYAML).

    Raises:
        ConfigurationError: Unreadable, invalid JSON/YAML, or an invalid pipeline.
        FileNotFoundError: No such file.
    """
    file = Path(path)
    source = str(path)
    text = file.read_text(encoding="utf-8")
    if file.suffix.lower() in (".yaml", ".yml"):
        try:
            yaml = importlib.import_module("yaml")
        except ImportError:
            raise ConfigurationError(
                f"{source}: reading YAML needs PyYAML (pip install pyyaml), or write the pipeline as JSON"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigurationError(f"{source}: invalid YAML: {' '.join(str(exc).split())}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigurationError(
                f"{source}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
            ) from None
    return parse_pipeline(data, source)
