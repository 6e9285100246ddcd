"""What every ``clinops-async`` command shares: exit codes, one-line errors, options, output."""

from __future__ import annotations

import enum
import json
import os
import sys
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import click
from rich import box
from rich.console import Console
from rich.table import Table

from .._exceptions import (
    AccessDeniedError,
    ArtifactExistsError,
    ArtifactNotFoundError,
    BucketNotFoundError,
    ClinopsError,
    ConfigurationError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    ExecutionTimeoutError,
    IntegrityError,
    PipelineAccessDeniedError,
    PipelineNotDeployedError,
    TransientStoreError,
    UnsupportedOperationError,
)
from .._redaction import redact as redact_secrets
from ..progress import ProgressBar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = [
    "CliState", "ExitCode", "ReportingGroup", "emit_json", "error_record", "exit_code_for", "fail", "human_size",
    "json_option", "message_for", "output_console", "print_table", "redact", "run_async", "table",
    "wants_json_errors",
]

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """Exit statuses scripts can rely on (documented in docs/cli.md)."""

    OK = 0
    FAILURE = 1            # any other failure, or some (not all) items of a many-item command failed
    USAGE = 2              # bad usage, option, URI, pipeline file or configuration
    NOT_FOUND = 3          # artifact, bucket, file, state machine or execution not found
    INTEGRITY = 4          # a checksum did not match: no data was written
    ACCESS_DENIED = 5      # the credentials may not do this
    TRANSIENT = 6          # still failing after every retry (throttling, 5xx, unreachable): try later
    EXECUTION_FAILED = 7   # a pipeline execution ended FAILED, TIMED_OUT or ABORTED
    TIMEOUT = 8            # --timeout passed while the execution was still running (it goes on)
    EXISTS = 9             # --no-clobber and the destination exists
    INTERRUPTED = 130      # Ctrl-C (128 + SIGINT)


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit status that reports ``exc``."""
    if isinstance(exc, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if isinstance(exc, BaseExceptionGroup):
        codes = {exit_code_for(e) for e in exc.exceptions}
        return codes.pop() if len(codes) == 1 else ExitCode.FAILURE
    if isinstance(exc, click.UsageError | ConfigurationError | UnsupportedOperationError | ImportError):
        return ExitCode.USAGE
    if isinstance(exc, IntegrityError):
        return ExitCode.INTEGRITY
    if isinstance(exc, ArtifactExistsError | FileExistsError):
        return ExitCode.EXISTS
    if isinstance(exc, ArtifactNotFoundError | BucketNotFoundError | PipelineNotDeployedError
                  | ExecutionNotFoundError | FileNotFoundError):
        return ExitCode.NOT_FOUND
    if isinstance(exc, AccessDeniedError | PipelineAccessDeniedError | PermissionError):
        return ExitCode.ACCESS_DENIED
    if isinstance(exc, TransientStoreError):
        return ExitCode.TRANSIENT
    if isinstance(exc, ExecutionFailedError):
        return ExitCode.EXECUTION_FAILED
    if isinstance(exc, ExecutionTimeoutError):
        return ExitCode.TIMEOUT
    return ExitCode.FAILURE


def redact(text: str) -> str:
    """``text`` with secrets removed: secret environment values, URL passwords, request signatures."""
    return redact_secrets(text)


def message_for(exc: BaseException) -> str:
    """One line that says what went wrong (never a traceback, never a secret)."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(message_for(e) for e in exc.exceptions)
    if isinstance(exc, ImportError) and not isinstance(exc, ModuleNotFoundError):
        text = str(exc)
    elif isinstance(exc, ModuleNotFoundError):
        extra = {"aiobotocore": "aws", "botocore": "aws", "gcloud": "gcp"}.get((exc.name or "").split(".")[0])
        if extra is None and exc.name == "clinops_async._stores.gcs.backend":
            extra = "gcp"
        text = (f"this needs the {extra!r} extra: pip install 'clinops-async[{extra}]'" if extra
                else f"a required module is missing: {exc.name}")
    elif isinstance(exc, ClinopsError | OSError | click.ClickException):
        text = str(exc.message if isinstance(exc, click.ClickException) else exc)
    else:
        text = f"unexpected {type(exc).__name__}: {exc} (run again with --debug for the traceback)"
    notes = getattr(exc, "__notes__", None) or []  # what the library added, e.g. an upload left behind
    return redact(" ".join(" ".join([text, *(f"({note})" for note in notes)]).split()))


@dataclass
class CliState:
    """The options of the top-level command, shared with every subcommand."""

    debug: bool = False
    endpoint_url: str | None = None
    region: str | None = None
    profile: str | None = None
    progress: bool | None = None
    #: The subcommand writes JSON to standard output (``--json``, ``-o json``): so is its error.
    json_output: bool = False

    def store_options(self, scheme: str, *, reading: bool) -> dict[str, Any]:
        """Constructor options for a store of ``scheme`` (``"s3"``, ``"gs"``, ``"file"``)."""
        if scheme == "s3":
            options: dict[str, Any] = {"region": self.aws_region}
            if self.profile:
                options["profile"] = self.profile
            if self.endpoint_url:
                options["endpoint_url"] = self.endpoint_url
            return options
        if scheme == "file":
            return {"create": not reading}
        return {}

    @property
    def aws_region(self) -> str:
        return self.region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"

    def progress_bar(self, description: str, *, total: int | None = None) -> ProgressBar:
        console = Console(stderr=True, force_terminal=True if self.progress else None)
        return ProgressBar(description, total=total, enabled=self.progress, console=console, transient=True)


def error_record(exc: BaseException, uri: str | None = None) -> dict[str, Any]:
    """The JSON record of a failure: ``{"ok": false, "error", "exit_code"}``, and ``"uri"`` when known."""
    record: dict[str, Any] = {"ok": False, "error": message_for(exc), "exit_code": int(exit_code_for(exc))}
    uri = uri if uri is not None else getattr(exc, "uri", None)
    if isinstance(uri, str):
        record["uri"] = redact(uri)
    return record


def report(exc: BaseException, *, debug: bool, as_json: bool = False) -> ExitCode:
    """Print ``exc`` to standard error (a traceback only with ``debug``) and return its exit code.

    With ``as_json`` its :func:`error_record` goes to standard output as well, so a script that reads
    the command's JSON always gets JSON.
    """
    if debug and not isinstance(exc, KeyboardInterrupt):
        text = "".join(traceback.format_exception(exc))
        click.echo(redact(text).rstrip("\n"), err=True)
    if as_json:
        emit_json(error_record(exc))
    click.echo(f"Error: {message_for(exc)}", err=True)
    return exit_code_for(exc)


class ReportingGroup(click.Group):
    """A click group that turns any error of a subcommand into one line and a documented exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort):
            raise
        except click.ClickException as exc:  # click prints it; a JSON reader still gets its record
            if wants_json_errors(ctx):
                emit_json({"ok": False, "error": redact(exc.format_message()), "exit_code": exc.exit_code})
            raise
        except (Exception, KeyboardInterrupt) as exc:
            state = ctx.find_object(CliState)
            ctx.exit(report(exc, debug=bool(state and state.debug), as_json=wants_json_errors(ctx)))


def wants_json_errors(ctx: click.Context) -> bool:
    """True when the running subcommand was asked for JSON output."""
    state = ctx.find_object(CliState)
    return bool(state and state.json_output)


def _note_json(ctx: click.Context, _param: click.Parameter, value: Any) -> Any:
    state = ctx.find_object(CliState)
    if state is not None and value in (True, "json"):
        state.json_output = True
    return value


def json_option(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--json``: the result, or one error record on failure, as JSON on standard output."""
    return click.option("--json", "as_json", is_flag=True, callback=_note_json, is_eager=True,
                        help="Write the result (or the error) as JSON to standard output.")(function)


def json_choice_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """For options such as ``-o json`` that ask for JSON output too."""
    return _note_json(ctx, param, value)


class CommandFailed(click.exceptions.Exit):
    """Leave with ``code`` after the command has already reported what failed."""


def fail(code: ExitCode) -> CommandFailed:
    return CommandFailed(int(code))


def run_async(function: Callable[[], Awaitable[T]]) -> T:
    """Run one command's coroutine on a fresh asyncio event loop (Ctrl-C cancels it cleanly)."""
    return anyio.run(function, backend="asyncio")


def emit_json(value: Any) -> None:
    """Write ``value`` as indented JSON to standard output."""
    click.echo(json.dumps(value, indent=2, default=str, ensure_ascii=False))


def output_console() -> Console:
    """A console on standard output; not a terminal: no colour, and wide enough not to wrap."""
    console = Console(soft_wrap=False)
    if not console.is_terminal:
        console = Console(width=100_000, color_system=None, soft_wrap=False)
    return console


def print_table(grid: Table) -> None:
    """Print ``grid`` to standard output; in a pipe, as plain text without trailing blanks."""
    console = output_console()
    if console.is_terminal:
        console.print(grid)
        return
    grid.box = None
    with console.capture() as captured:
        console.print(grid)
    click.echo("\n".join(line.rstrip() for line in captured.get().splitlines()))


def table(*columns: str, right: tuple[str, ...] = ()) -> Table:
    result = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
    for column in columns:
        result.add_column(column, justify="right" if column in right else "left", no_wrap=True)
    return result


def human_size(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def stderr_line(text: str) -> None:
    click.echo(redact(text), err=True)


def is_stdout_terminal() -> bool:
    return sys.stdout.isatty()
