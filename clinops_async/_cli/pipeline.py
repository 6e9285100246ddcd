"""``clinops-async pipeline ...``: render, deploy, run (and watch), status, history, stop."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click

from .._exceptions import ConfigurationError, ExecutionNotFoundError, ExecutionTimeoutError
from .._pipelines.file import PipelineSpec, load_pipeline_file
from .._pipelines.releases import LoggingConfig, check_tags
from .._pipelines.steps import step_names
from .common import CliState, ExitCode, emit_json, fail, json_option, print_table, run_async, table

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from .._pipelines.pipeline import AsyncStepFunctionsPipeline
    from .._pipelines.results import ExecutionResult

__all__ = ["pipeline"]

T = TypeVar("T")

_FAILURE_EVENTS = ("Failed", "TimedOut", "Aborted")


def _load(ctx: click.Context, file: str) -> tuple[CliState, PipelineSpec]:
    state = ctx.ensure_object(CliState)
    return state, load_pipeline_file(file)


def _with_pipeline(state: CliState, spec: PipelineSpec,
                   work: Callable[[AsyncStepFunctionsPipeline], Awaitable[T]]) -> T:
    async def main() -> T:
        built = spec.build(region=state.aws_region, profile=state.profile, endpoint_url=state.endpoint_url)
        async with built:
            return await work(built)

    return run_async(main)


def _execution_arn(built: AsyncStepFunctionsPipeline, execution: str) -> str:
    if execution.startswith("arn:"):
        return execution
    machine = built.expected_state_machine_arn()
    return machine.replace(":stateMachine:", ":execution:", 1) + f":{execution}"


async def _pick_execution(built: AsyncStepFunctionsPipeline, execution: str | None, *, running: bool = False) -> str:
    if execution:
        return _execution_arn(built, execution)
    latest = await built.list_executions("RUNNING" if running else None, max_results=1)
    if not latest:
        kind = "running executions" if running else "executions"
        raise ExecutionNotFoundError(f"pipeline {built.name!r} has no {kind}; pass an execution ARN or name")
    return latest[0].execution_arn


def _result_json(result: ExecutionResult) -> dict[str, Any]:
    return {
        "execution_arn": result.execution_arn,
        "name": result.name,
        "status": result.status,
        "output": result.output,
        "error": result.error,
        "cause": result.cause,
        "start_date": result.start_date.isoformat() if result.start_date else None,
        "stop_date": result.stop_date.isoformat() if result.stop_date else None,
    }


def _status_code(result: ExecutionResult) -> ExitCode:
    return ExitCode.EXECUTION_FAILED if result.done and not result.succeeded else ExitCode.OK


def _print_result(result: ExecutionResult) -> None:
    took = ""
    if result.start_date and result.stop_date:
        took = f" in {(result.stop_date - result.start_date).total_seconds():.1f} s"
    click.echo(f"{result.name}: {result.status}{took}")
    if result.error or result.cause:
        click.echo(f"  error: {result.error or '-'}: {' '.join((result.cause or '').split())[:500]}")
    click.echo(f"  {result.execution_arn}")


file_argument = click.argument("file", type=click.Path(dir_okay=False, path_type=str))


@click.group()
def pipeline() -> None:
    """Step Functions pipelines described in a JSON or YAML file (see docs/cli.md for the schema)."""


@pipeline.command()
@file_argument
@click.option("--mermaid", is_flag=True, help="Draw the pipeline as a Mermaid flowchart instead.")
@click.pass_context
def render(ctx: click.Context, file: str, mermaid: bool) -> None:
    """Print the state machine definition (Amazon States Language). No AWS call."""
    state, spec = _load(ctx, file)
    built = spec.build(region=state.aws_region)
    click.echo(built.to_mermaid().rstrip("\n") if mermaid else built.definition_json())


def _tags(values: tuple[str, ...]) -> dict[str, str]:
    tags: dict[str, str] = {}
    for value in values:
        key, sep, tag = value.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--tag takes KEY=VALUE; got {value!r}")
        tags[key] = tag
    return tags


def _with_options(spec: PipelineSpec, tracing: bool | None, log_level: str | None, log_group: str | None,
                  log_data: bool | None, tags: tuple[str, ...]) -> PipelineSpec:
    """The file's pipeline with the command line's deploy options over its own."""
    changes: dict[str, Any] = {}
    if tracing is not None:
        changes["tracing"] = tracing
    if log_level is not None or log_group is not None or log_data is not None:
        base = spec.logging or LoggingConfig(level="OFF")
        changes["logging"] = LoggingConfig(
            level=log_level.upper() if log_level is not None else base.level,  # type: ignore[arg-type]
            log_group_arn=log_group if log_group is not None else base.log_group_arn,
            include_execution_data=log_data if log_data is not None else base.include_execution_data,
        )
    if tags:
        changes["tags"] = check_tags({**(spec.tags or {}), **_tags(tags)})
    return dataclasses.replace(spec, **changes) if changes else spec


@pipeline.command()
@file_argument
@click.option("--publish", is_flag=True, default=None, help="Also publish a new version.")
@click.option("--version-description", help="The description of the published version.")
@click.option("--alias", help="Point this alias at the published version (needs --publish).")
@click.option("--tracing/--no-tracing", default=None, help="Turn X-Ray tracing on or off.")
@click.option("--log-level", help="CloudWatch Logs level: ALL, ERROR, FATAL or OFF.")
@click.option("--log-group", metavar="ARN", help="The log group ARN (ending in ':*').")
@click.option("--log-execution-data/--no-log-execution-data", "log_data", default=None,
              help="Log each state's input and output.")
@click.option("--tag", "tags", multiple=True, metavar="KEY=VALUE", help="A tag (repeatable; over the file's).")
@json_option
@click.pass_context
def deploy(ctx: click.Context, file: str, publish: bool | None, version_description: str | None,
           alias: str | None, tracing: bool | None, log_level: str | None, log_group: str | None,
           log_data: bool | None, tags: tuple[str, ...], as_json: bool) -> None:
    """Create the state machine, or update it if it exists; optionally publish a version and move an alias."""
    state, spec = _load(ctx, file)
    spec = _with_options(spec, tracing, log_level, log_group, log_data, tags)
    release = {**spec.release, **{k: v for k, v in (("publish", publish), ("alias", alias),
                                                    ("version_description", version_description)) if v}}

    async def work(built: AsyncStepFunctionsPipeline) -> tuple[str, str | None, str | None]:
        arn = await built.deploy(publish=bool(release.get("publish")), alias=release.get("alias"),
                                 version_description=release.get("version_description"))
        return arn, built.version_arn, built.alias_arn

    arn, version, alias_arn = _with_pipeline(state, spec, work)
    if as_json:
        emit_json({"state_machine_arn": arn, "version_arn": version, "alias_arn": alias_arn})
    else:
        for line in (arn, version, alias_arn):
            if line:
                click.echo(line)


@pipeline.command()
@file_argument
@click.argument("alias_name", metavar="ALIAS")
@click.option("--route", "routes", multiple=True, required=True, metavar="VERSION=WEIGHT",
              help="A version (number or ARN) and its share of runs; one or two, summing to 100.")
@click.option("--description", help="The alias description.")
@json_option
@click.pass_context
def alias(ctx: click.Context, file: str, alias_name: str, routes: tuple[str, ...], description: str | None,
          as_json: bool) -> None:
    """Create or move an alias: all runs to one version, or a split between two (a canary)."""
    state, spec = _load(ctx, file)
    routing: dict[int | str, int] = {}
    for route in routes:
        version, sep, weight = route.rpartition("=")
        if not sep or not weight.isdigit():
            raise ConfigurationError(f"--route takes VERSION=WEIGHT, e.g. 3=90; got {route!r}")
        routing[int(version) if version.isdigit() else version] = int(weight)

    async def work(built: AsyncStepFunctionsPipeline) -> str:
        return await built.set_alias(alias_name, routing, description=description)

    arn = _with_pipeline(state, spec, work)
    emit_json({"alias_arn": arn}) if as_json else click.echo(arn)


class _Watcher:
    """Prints each top-level step as it starts and ends (from the history), plus every failure."""

    def __init__(self, spec: PipelineSpec, echo: Callable[[str], None]) -> None:
        self.top = [step.name for step in spec.steps]
        self.handlers = set(step_names([s for chain in spec.handlers for s in chain]))
        self.echo = echo
        self.seen = 0
        self.entered: dict[str, datetime] = {}
        self.width = max(len(n) for n in [*self.top, *self.handlers])

    def label(self, name: str) -> str:
        if name in self.top:
            return f"[{self.top.index(name) + 1}/{len(self.top)}] {name:<{self.width}}"
        return f"[handler] {name:<{self.width}}" if name in self.handlers else f"  {name:<{self.width}}"

    def feed(self, events: list[dict[str, Any]]) -> None:
        for event in events[self.seen:]:
            self.show(event)
        self.seen = len(events)

    def show(self, event: dict[str, Any]) -> None:
        kind = str(event.get("type", ""))
        when = event.get("timestamp")
        if kind.endswith("StateEntered"):
            name = str(event.get("stateEnteredEventDetails", {}).get("name", "?"))
            if name in self.top or name in self.handlers:
                if isinstance(when, datetime):
                    self.entered[name] = when
                self.echo(f"{self.label(name)}  started")
        elif kind.endswith("StateExited"):
            name = str(event.get("stateExitedEventDetails", {}).get("name", "?"))
            if name in self.top or name in self.handlers:
                start = self.entered.get(name)
                took = f" in {(when - start).total_seconds():.1f} s" if isinstance(when, datetime) and start else ""
                self.echo(f"{self.label(name)}  done{took}")
        elif kind.endswith(_FAILURE_EVENTS) and not kind.startswith("Execution"):
            details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
            error = details.get("error", kind)
            cause = " ".join(str(details.get("cause", "")).split())[:300]
            self.echo(f"  ! {kind}: {error}" + (f": {cause}" if cause else ""))


# As in AsyncStepFunctionsPipeline.wait: the timeout bounds the watching and reports the ARN; the
# execution goes on, which a cancellation (anyio.fail_after) could not express.
async def _watch(built: AsyncStepFunctionsPipeline, arn: str, watcher: _Watcher | None,
                 timeout: float | None) -> ExecutionResult:  # noqa: ASYNC109
    """Poll until the execution ends, feeding its new history events to ``watcher``."""
    deadline = None if timeout is None else anyio.current_time() + timeout
    delays = built.poll.delays()
    while True:
        result = await built.describe(arn)
        if watcher is not None:
            watcher.feed(await built.history(arn))  # read after describe: at least as new
        if result.done:
            return result
        now = anyio.current_time()
        if deadline is not None and now >= deadline:
            raise ExecutionTimeoutError(
                f"execution {result.name!r} is still {result.status} after {timeout:g} s; it goes on running: "
                f"watch it with 'pipeline status', or stop it with 'pipeline stop'",
                execution_arn=arn,
            )
        delay = next(delays)
        await anyio.sleep(delay if deadline is None else min(delay, deadline - now))


def _input(value: str | None, input_file: str | None) -> Any:
    if value is not None and input_file is not None:
        raise click.UsageError("give --input or --input-file, not both")
    text = Path(input_file).read_text(encoding="utf-8") if input_file is not None else value
    if text is None:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigurationError(f"the execution input is not valid JSON: {exc.msg} (line {exc.lineno})") from None


@pipeline.command()
@file_argument
@click.option("-i", "--input", "input_json", metavar="JSON", help="The execution input as JSON (default: {}).")
@click.option("--input-file", type=click.Path(dir_okay=False, exists=True), help="Read the input from a JSON file.")
@click.option("--name", "execution_name", help="The execution name (default: PIPELINE-<uuid>).")
@click.option("--deploy", "deploy_first", is_flag=True, help="Deploy (create or update) the pipeline first.")
@click.option("--wait/--no-wait", default=False, show_default=True,
              help="Watch each step until the execution ends, then exit with its status.")
@click.option("--timeout", type=click.FloatRange(0), help="With --wait: give up watching after this many seconds.")
@click.option("--sync", "run_sync", is_flag=True,
              help="Express pipelines: run synchronously (StartSyncExecution) and end with the result.")
@json_option
@click.pass_context
def run(ctx: click.Context, file: str, input_json: str | None, input_file: str | None, execution_name: str | None,
        deploy_first: bool, wait: bool, timeout: float | None, run_sync: bool, as_json: bool) -> None:
    """Start an execution; with --wait, show each step's progress and end with its status."""
    state, spec = _load(ctx, file)
    payload = _input(input_json, input_file)
    watcher = None if as_json else _Watcher(spec, click.echo)

    async def work(built: AsyncStepFunctionsPipeline) -> tuple[str, ExecutionResult | None]:
        if deploy_first:
            await built.deploy()
        if run_sync:
            result = await built.run_sync(payload, execution_name, raise_on_failure=False)
            return result.execution_arn, result
        arn = await built.execute(payload, execution_name)
        if not wait:
            return arn, None
        if watcher is not None:
            click.echo(f"started {arn}")
        return arn, await _watch(built, arn, watcher, timeout)

    arn, result = _with_pipeline(state, spec, work)
    if result is None:
        emit_json({"execution_arn": arn}) if as_json else click.echo(arn)
        return
    if as_json:
        emit_json(_result_json(result))
    else:
        _print_result(result)
    if _status_code(result):
        raise fail(_status_code(result))


@pipeline.command()
@file_argument
@click.argument("execution", required=False)
@json_option
@click.pass_context
def status(ctx: click.Context, file: str, execution: str | None, as_json: bool) -> None:
    """Show an execution's status (default: the latest). Exit 7 if it ended unsuccessfully."""
    state, spec = _load(ctx, file)

    async def work(built: AsyncStepFunctionsPipeline) -> ExecutionResult:
        return await built.describe(await _pick_execution(built, execution))

    result = _with_pipeline(state, spec, work)
    if as_json:
        emit_json(_result_json(result))
    else:
        _print_result(result)
    if _status_code(result):
        raise fail(_status_code(result))


def _event_json(event: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in event.items()}


@pipeline.command()
@file_argument
@click.argument("execution", required=False)
@click.option("--reverse", is_flag=True, help="Newest first.")
@click.option("--limit", type=click.IntRange(1), help="At most this many events.")
@json_option
@click.pass_context
def history(ctx: click.Context, file: str, execution: str | None, reverse: bool, limit: int | None,
            as_json: bool) -> None:
    """List the events of an execution (default: the latest), oldest first (--reverse: newest first)."""
    state, spec = _load(ctx, file)

    async def work(built: AsyncStepFunctionsPipeline) -> list[dict[str, Any]]:
        arn = await _pick_execution(built, execution)
        return [event async for event in built.iter_history(arn, reverse=reverse, limit=limit)]

    events = _with_pipeline(state, spec, work)
    if as_json:
        emit_json([_event_json(e) for e in events])
        return
    grid = table("ID", "TIME", "TYPE", "STEP", "DETAIL", right=("ID",))
    for event in events:
        details = next((v for k, v in event.items() if k.endswith("EventDetails") and isinstance(v, dict)), {})
        when = event.get("timestamp")
        detail = " ".join(f"{details.get(k)}" for k in ("error", "cause") if details.get(k))[:120]
        grid.add_row(str(event.get("id", "")), when.strftime("%H:%M:%S.%f")[:-3] if isinstance(when, datetime)
                     else "", str(event.get("type", "")), str(details.get("name", "")), detail)
    print_table(grid)


@pipeline.command()
@file_argument
@click.argument("execution", required=False)
@click.option("--error", help="An error name to record.")
@click.option("--cause", help="A cause to record.")
@json_option
@click.pass_context
def stop(ctx: click.Context, file: str, execution: str | None, error: str | None, cause: str | None,
         as_json: bool) -> None:
    """Stop an execution (default: the latest running one); it ends ABORTED."""
    state, spec = _load(ctx, file)

    async def work(built: AsyncStepFunctionsPipeline) -> ExecutionResult:
        arn = await _pick_execution(built, execution, running=True)
        await built.stop(arn, error=error, cause=cause)
        return await _settled(built, arn)

    result = _with_pipeline(state, spec, work)
    if as_json:
        emit_json(_result_json(result))
    else:
        click.echo(f"stopped {result.execution_arn} ({result.status})")


@pipeline.command()
@file_argument
@click.argument("execution", required=False)
@click.option("--wait/--no-wait", default=False, show_default=True, help="Watch it until it ends again.")
@click.option("--timeout", type=click.FloatRange(0), help="With --wait: give up watching after this many seconds.")
@json_option
@click.pass_context
def redrive(ctx: click.Context, file: str, execution: str | None, wait: bool, timeout: float | None,
            as_json: bool) -> None:
    """Restart a failed execution (default: the latest) from the states that did not succeed."""
    state, spec = _load(ctx, file)
    watcher = None if as_json else _Watcher(spec, click.echo)

    async def work(built: AsyncStepFunctionsPipeline) -> tuple[str, ExecutionResult | None]:
        arn = await built.redrive(await _pick_execution(built, execution))
        return arn, (await _watch(built, arn, watcher, timeout) if wait else None)

    arn, result = _with_pipeline(state, spec, work)
    if result is None:
        emit_json({"execution_arn": arn}) if as_json else click.echo(f"redriven {arn}")
        return
    emit_json(_result_json(result)) if as_json else _print_result(result)
    if _status_code(result):
        raise fail(_status_code(result))


#: How often, and how far apart, ``stop`` reads a stopped execution's status until it leaves RUNNING.
_STOP_READS, _STOP_READ_INTERVAL = 100, 0.1


async def _settled(built: AsyncStepFunctionsPipeline, arn: str) -> ExecutionResult:
    """The execution's status once the stop has taken effect: AWS reports ABORTED at once, but a
    service that stops executions asynchronously (moto's interpreter) may still say RUNNING."""
    for _ in range(_STOP_READS):
        result = await built.describe(arn)
        if result.status != "RUNNING":
            return result
        await anyio.sleep(_STOP_READ_INTERVAL)
    return await built.describe(arn)
