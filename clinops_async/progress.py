"""A ready-made progress bar for transfers, in terminals and Jupyter notebooks (drawn by rich).

One :class:`ProgressBar` is a callback for both kinds of progress the stores report:

- byte progress of one artifact, ``upload(df, name, progress=bar)`` / ``download(name, progress=bar)``,
  which calls ``bar(bytes_done, bytes_total)``;
- item progress of a bulk transfer, ``upload_many(frames, progress=bar)``, which calls
  ``bar(outcome, done, total)``.

It works with the async stores and the blocking facades (their callbacks arrive on the facade's loop
thread; the bar is thread-safe). ``bar.track(name)`` gives a byte callback per artifact when several
move at once, each on its own row, adding up into one bytes row with rate and time left.

The bar draws only when its output is a terminal or a notebook, so logs and pipes stay clean;
``enabled=True`` forces it, ``enabled=False`` silences it.

Example::

    from clinops_async.progress import ProgressBar

    with ProgressBar("upload") as bar:
        await store.upload(df, "features/windows_2024_01", progress=bar)

    with ProgressBar("download", total=len(names)) as bar:
        result = store.download_many(names, progress=bar)      # blocking facade, same bar
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Self, overload

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.text import Text

if TYPE_CHECKING:
    from types import TracebackType

    from ._stores.bulk import TransferOutcome
    from ._stores.core import ByteProgress

__all__ = ["ProgressBar", "progress_enabled"]


def progress_enabled(console: Console) -> bool:
    """True when ``console`` writes to an interactive terminal or a Jupyter notebook."""
    if console.is_jupyter:
        return True
    isatty = getattr(console.file, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed file
        return False


class _AmountColumn(ProgressColumn):
    """``12.3/40.0 MB`` for byte rows, ``3/10`` for artifact rows."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()
        self._items = MofNCompleteColumn()

    def render(self, task: Task) -> Text:
        return self._bytes.render(task) if task.fields.get("unit") == "bytes" else self._items.render(task)


class _RateColumn(ProgressColumn):
    """``4.2 MB/s`` for byte rows, ``2.5 artifacts/s`` for artifact rows."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._bytes.render(task)
        speed = task.finished_speed or task.speed
        return Text("?" if speed is None else f"{speed:.1f} artifacts/s", style="progress.data.speed")


@dataclass(eq=False)
class _Tracked:
    task: TaskID | None = None
    label: str = ""
    done: int = 0
    total: int = 0
    started: bool = False


class ProgressBar:
    """A progress display for uploads and downloads; also the callback the stores call.

    Args:
        description: The label of the main row, e.g. ``"upload"``.
        total: The number of artifacts, when known up front (bulk transfers also report it).
        enabled: None (default): draw only when the output is a terminal or a notebook. True:
            always draw (on a non-terminal, as if it were one). False: never draw.
        console: A rich ``Console`` to draw on. Default: standard error, so standard output stays
            clean for data.
        transient: Remove the bars from the screen once finished. Default False: the last state stays.

    Used without ``with``, the bar starts at its first update and stops by itself once the transfer
    it follows is complete.
    """

    def __init__(
        self,
        description: str = "transfer",
        *,
        total: int | None = None,
        enabled: bool | None = None,
        console: Console | None = None,
        transient: bool = False,
    ) -> None:
        if enabled not in (None, True, False):
            raise ValueError("enabled must be None, True or False")
        if total is not None and (not isinstance(total, int) or total < 0):
            raise ValueError("total must be a non-negative number of artifacts")
        if console is None:
            console = Console(stderr=True, force_terminal=True if enabled else None)
        self.console = console
        self.enabled = progress_enabled(console) if enabled is None else enabled
        self.description = description
        self._lock = threading.RLock()
        self._progress = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            _AmountColumn(),
            _RateColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=transient,
            disable=not self.enabled,
        )
        self._started = False
        self._managed = False
        self._items_total = total
        self._items_done = 0
        self._items_failed = 0
        self._items_task: TaskID | None = None
        self._bytes_task: TaskID | None = None
        self._single = _Tracked()
        #: Artifacts from ``track()`` that have not completed yet.
        self._open_tracks = 0
        #: Bytes moved and to move, over every transfer this bar has followed.
        self._bytes_done = 0
        self._bytes_total = 0

    # -- lifecycle -----------------------------------------------------------------------------

    def __enter__(self) -> Self:
        with self._lock:
            self._managed = True
            self._start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing (the final state stays unless ``transient``). Idempotent."""
        with self._lock:
            if self._started:
                self._started = False
                self._progress.stop()

    def _start(self) -> None:
        if self._started:
            return
        self._started = True
        self._progress.start()
        if self._items_total is not None:
            self._ensure_items()

    def _ensure_items(self) -> TaskID:
        if self._items_task is None:
            self._items_task = self._progress.add_task(
                self.description, total=self._items_total, unit="items"
            )
        return self._items_task

    def _ensure_bytes(self) -> TaskID:
        if self._bytes_task is None:
            label = f"{self.description} bytes" if self._items_task is not None else self.description
            self._bytes_task = self._progress.add_task(label, total=None, unit="bytes")
        return self._bytes_task

    def _maybe_finish(self) -> None:
        """Without ``with``, stop once everything that was started has completed."""
        if self._managed:
            return
        single_open = self._single.total > 0 and self._single.done < self._single.total
        items_open = self._items_total is not None and self._items_done < self._items_total
        if not (self._open_tracks or single_open or items_open):
            self.close()

    # -- the callbacks -------------------------------------------------------------------------

    @overload
    def __call__(self, done: int, total: int, /) -> None: ...

    @overload
    def __call__(self, outcome: TransferOutcome[Any], done: int, total: int | None, /) -> None: ...

    def __call__(self, *args: Any) -> None:
        """``bar(bytes_done, bytes_total)`` or ``bar(outcome, done, total)``: what the stores call."""
        if len(args) == 2:
            self._update_bytes(self._single, int(args[0]), int(args[1]))
        elif len(args) == 3:
            outcome, done, total = args
            # A bulk transfer over an iterator does not know its length: total is None until it ends.
            self._update_items(
                int(done), None if total is None else int(total), failed=not getattr(outcome, "ok", True)
            )
        else:
            raise TypeError("a progress bar is called as bar(done, total) or bar(outcome, done, total)")

    def track(self, name: str) -> ByteProgress:
        """A byte-progress callback for one of several artifacts moving at once.

        Each tracked artifact has its own row while it moves (removed when it completes); all of
        them add up into one bytes row with rate and time left.
        """
        tracked = _Tracked(label=name)
        with self._lock:
            self._open_tracks += 1

        def callback(done: int, total: int) -> None:
            self._update_bytes(tracked, done, total)

        return callback

    def advance(self, *, ok: bool = True) -> None:
        """Count one more artifact as finished (for loops that do not use a bulk method)."""
        with self._lock:
            self._update_items(self._items_done + 1, self._items_total, failed=not ok)

    def set_total(self, total: int) -> None:
        """Set (or correct) the number of artifacts."""
        with self._lock:
            self._items_total = total
            if self._started:
                self._progress.update(self._ensure_items(), total=total)

    @property
    def done(self) -> int:
        """How many artifacts were reported as finished, failed ones included."""
        return self._items_done

    @property
    def failed(self) -> int:
        """How many artifacts were reported as failed."""
        return self._items_failed

    def _update_items(self, done: int, total: int | None, *, failed: bool) -> None:
        with self._lock:
            self._items_done, self._items_total = done, total
            self._items_failed += failed
            if not self.enabled:
                return
            self._start()
            label = self.description + (f" ({self._items_failed} failed)" if self._items_failed else "")
            self._progress.update(self._ensure_items(), completed=done, total=total, description=label)
            self._maybe_finish()

    def _update_bytes(self, tracked: _Tracked, done: int, total: int) -> None:
        with self._lock:
            finished_before = tracked.started and tracked.done >= tracked.total
            if tracked is self._single and done == 0 and finished_before:
                # A new transfer through the same bar: count it on top of the earlier ones.
                tracked.done = tracked.total = 0
            self._bytes_done += done - tracked.done
            self._bytes_total += total - tracked.total
            tracked.done, tracked.total, tracked.started = done, total, True
            finished = done >= total
            if tracked is not self._single and finished != finished_before:
                self._open_tracks += -1 if finished else 1
            if not self.enabled:
                return
            self._start()
            if tracked is not self._single:
                if tracked.task is None and not finished:
                    tracked.task = self._progress.add_task(f"  {tracked.label}", total=total, unit="bytes")
                if tracked.task is not None:
                    self._progress.update(tracked.task, completed=done, total=total)
                    if finished:
                        self._progress.remove_task(tracked.task)
                        tracked.task = None
            self._progress.update(self._ensure_bytes(), completed=self._bytes_done,
                                  total=self._bytes_total or None)
            self._maybe_finish()
