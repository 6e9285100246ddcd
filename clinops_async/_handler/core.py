"""``ArtifactHandler``: a step function of DataFrames, run as a Lambda handler or a container task.

One event is handled in four moves: read the event's shape (:mod:`.events`), check every reference,
load the frames (:class:`.artifacts.ArtifactStores`), call the function (in a worker thread when it
is a plain function: it does CPU work), then store what it returns and answer with a reference.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import weakref
from functools import partial
from typing import IO, TYPE_CHECKING, Any, Self

import anyio

from .. import _portal
from .._exceptions import ConfigurationError, StepInputError
from .._stores.codecs import StorageFormat, check_result_kind
from .._stores.names import validate_name
from .._stores.open import split_uri
from .artifacts import ArtifactStores, output_base, reference
from .callback import TOKEN_VARIABLE, send_task_result
from .events import StepEvent, parse_event

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping, Sequence

__all__ = ["ArtifactHandler", "artifact_handler"]

#: The environment variable a container task reads its event from when no argument gives it.
INPUT_VARIABLE = "CLINOPS_STEP_INPUT"


class ArtifactHandler:
    """A function of DataFrames made into a pipeline step that passes artifacts, never frames.

    Call it as a Lambda handler (``handler(event, context)``), await :meth:`run_async` from async
    code, or run it as a container task with :meth:`run_container`. Made by :func:`artifact_handler`.
    """

    def __init__(self, function: Callable[..., Any], *, output: str, name: str, format: StorageFormat,
                 result_type: str, store_options: Mapping[str, Any]) -> None:
        self.function = function
        self.output = output
        self.name = name
        self.format = format
        self.result_type = result_type
        self.store_options = dict(store_options)
        self._takes_params = "params" in inspect.signature(function).parameters
        self._lease: _portal.Lease | None = None
        self._pid = os.getpid()
        self._warm: ArtifactStores | None = None
        self.__name__ = getattr(function, "__name__", "handler")
        self.__doc__ = getattr(function, "__doc__", None)

    def __repr__(self) -> str:
        return f"ArtifactHandler({self.__name__}, output={self.output!r}, name={self.name!r})"

    def __call__(self, event: Any, context: Any = None) -> dict[str, Any]:
        """Handle one event (the Lambda entry point; ``context`` is not used) and return the reference.

        The stores it opens stay open for the next call (a warm Lambda reuses their clients), on
        the library's event-loop thread, until :meth:`close` or the end of the process.
        """
        if self._lease is None or self._warm is None or self._pid != os.getpid():  # first call, or a forked child
            self._pid = os.getpid()
            self._warm = ArtifactStores(self.store_options, self.result_type)
            self._lease = _portal.lease(self)
            # A handler dropped without close() still closes its stores, as the facades do.
            self._finalizer = weakref.finalize(self, self._lease.abandon, self._warm.aclose)
            self._finalizer.atexit = False
        return self._lease.call(self._handle, event, self._warm)

    def close(self) -> None:
        """Close the stores the blocking calls keep open. Idempotent; the next call opens them again."""
        lease, warm = self._lease, self._warm
        self._lease = self._warm = None
        if lease is not None and warm is not None and self._pid == os.getpid():
            self._finalizer.detach()
            lease.release(warm.aclose)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    async def run_async(self, event: Any) -> dict[str, Any]:
        """Read the event's artifacts, call the function, store its output, return its reference.

        The stores are opened for this event and closed after it.

        Returns:
            ``{"uri", "format", "rows", "columns", "crc32c", "size"}`` for one frame returned;
            ``{"artifacts": {key: reference}}`` for a dict of frames (the next step gets them by
            name); ``{"artifacts": {}}`` when the function returns None.

        Raises:
            StepInputError: The event names no artifact in a known shape (before any I/O).
            ArtifactNotFoundError: A referenced artifact does not exist.
            ArtifactChangedError: A referenced artifact was replaced since its reference was made.
            IntegrityError: An artifact's bytes do not match their checksum.
            TransientStoreError: A store kept failing through its retries (worth a Retry).
            SerializationError: The function returned something that is not a frame.
        """
        stores = ArtifactStores(self.store_options, self.result_type)
        try:
            return await self._handle(event, stores)
        finally:
            await stores.aclose()

    async def _handle(self, event: Any, stores: ArtifactStores) -> dict[str, Any]:
        parsed = parse_event(event)
        base = output_base(parsed.context, event, self.name)
        validate_name(base)
        args, kwargs = await self._arguments(stores, parsed)
        if inspect.iscoroutinefunction(self.function):
            result = await self.function(*args, **kwargs)
        else:
            result = await anyio.to_thread.run_sync(partial(self.function, *args, **kwargs))
        return await self._store(stores, base, result)

    async def _arguments(self, stores: ArtifactStores, parsed: StepEvent) -> tuple[list[Any], dict[str, Any]]:
        refs = parsed.refs
        kwargs: dict[str, Any] = {"params": parsed.params} if self._takes_params else {}
        if isinstance(refs, dict):
            frames = await stores.read_all(list(refs.values()))
            return [], {**dict(zip(refs, frames, strict=True)), **kwargs}
        frames = await stores.read_all(refs)
        return ([frames[0]] if parsed.kind == "single" else [frames]), kwargs

    async def _store(self, stores: ArtifactStores, base: str, result: Any) -> dict[str, Any]:
        store = await stores.store(self.output, self.format)
        if result is None:
            return {"artifacts": {}}
        if isinstance(result, dict):
            names = {str(key): f"{base}/{key}" for key in result}
            for name in names.values():
                validate_name(name)
            refs: dict[str, Any] = {}
            for key, frame in result.items():
                await store.upload(frame, names[str(key)])
                refs[str(key)] = await reference(store, names[str(key)])
            return {"artifacts": refs}
        await store.upload(result, base)
        return await reference(store, base)

    def run_container(self, argv: Sequence[str] | None = None, *, stdin: IO[str] | None = None,
                      stdout: IO[str] | None = None, stderr: IO[str] | None = None) -> int:
        """Run one event as a container task: read it, print the reference as JSON, return the exit code.

        The event is the first argument (JSON text), else the ``CLINOPS_STEP_INPUT`` environment
        variable (an ECS task's ``ContainerOverrides.Environment`` set from
        ``States.JsonToString($)``), else standard input. On failure the error is printed to
        standard error as ``{"errorType": CLASS, "errorMessage": ...}``, the shape Lambda reports.

        With ``CLINOPS_TASK_TOKEN`` in the environment (set from ``$$.Task.Token`` by a state
        using ``.waitForTaskToken``), the reference is also sent to Step Functions as the task's
        output (``SendTaskSuccess``), or the error as its failure (``SendTaskFailure``, the error
        being the exception's class name).

        Returns:
            0 on success, 1 on failure (the exit code of the container).
        """
        args = list(sys.argv[1:] if argv is None else argv)
        out, err = stdout or sys.stdout, stderr or sys.stderr
        token = os.environ.get(TOKEN_VARIABLE)
        try:
            text = args[0] if args else os.environ.get(INPUT_VARIABLE) or (stdin or sys.stdin).read()
            try:
                event = json.loads(text)
            except json.JSONDecodeError as exc:
                raise StepInputError(f"the step input is not valid JSON: {exc.msg} (line {exc.lineno})") from None
            result = self(event)
        except Exception as exc:
            _report_error(err, exc)
            if token:
                _send_or_report(err, partial(send_task_result, token, error=exc))
            return 1
        out.write(json.dumps(result) + "\n")
        if token and not _send_or_report(err, partial(send_task_result, token, output=result)):
            return 1
        return 0


def _report_error(err: IO[str], exc: BaseException) -> None:
    err.write(json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}) + "\n")


def _send_or_report(err: IO[str], send: Callable[[], Awaitable[None]]) -> bool:
    """Send a task result; a failure to reach Step Functions is reported like any error (False)."""
    try:
        anyio.run(send, backend="asyncio")
    except Exception as exc:
        _report_error(err, exc)
        return False
    return True


def artifact_handler(
    output: str,
    *,
    name: str | None = None,
    format: StorageFormat | str = StorageFormat.PARQUET,
    result_type: str = "pandas",
    store_options: Mapping[str, Any] | None = None,
) -> Callable[[Callable[..., Any]], ArtifactHandler]:
    """Make a function of DataFrames into a step that reads and writes artifacts (a decorator).

    The function gets one frame per artifact the event names (see :mod:`clinops_async.handler`),
    and ``params=`` (the event's other fields) if it has a parameter of that name; it returns a
    frame, a dict of frames, or None. Plain functions run in a worker thread, ``async def`` ones on
    the loop.

    Args:
        output: Where outputs go: a store URI such as ``"s3://clinops-artifacts/runs"``.
        name: The output artifact's name under its step's directory. Default: the function's name.
        format: The output's format, ``"parquet"`` (default) or ``"csv"``.
        result_type: What the function gets: ``"pandas"`` (default), ``"arrow"`` or ``"polars"``.
        store_options: Keyword arguments for the S3 and GCS stores the step opens (e.g.
            ``{"endpoint_url": ...}``, ``{"region": ...}``); not given to local stores.

    Raises:
        ConfigurationError: A bad argument (checked when decorating, before any event).
    """
    split_uri(output)
    formats = {f.value: f for f in StorageFormat}
    chosen = format if isinstance(format, StorageFormat) else formats.get(str(format))
    if chosen is None:
        raise ConfigurationError(f"format must be 'parquet' or 'csv'; got {format!r}")
    check_result_kind(result_type)
    if store_options is not None and not isinstance(store_options, dict):
        raise ConfigurationError("store_options must be a dict of store keyword arguments")
    if name is not None:
        validate_name(name)

    def decorate(function: Callable[..., Any]) -> ArtifactHandler:
        if not callable(function):
            raise ConfigurationError("artifact_handler decorates a function")
        step_name = validate_name(name or getattr(function, "__name__", ""))
        return ArtifactHandler(function, output=output, name=step_name, format=chosen,
                               result_type=result_type, store_options=store_options or {})

    return decorate

