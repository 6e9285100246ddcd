"""clinops_async.progress.ProgressBar with the async stores and the blocking facades."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import pytest
from rich.console import Console

from clinops_async import AsyncLocalPipelineStore
from clinops_async.orchestrate import LocalPipelineStore
from clinops_async.progress import ProgressBar
from clinops_async.synthetic import icu_windows

if TYPE_CHECKING:
    from pathlib import Path


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=120), out


async def test_async_upload_and_download_draw_bytes(tmp_path: Path) -> None:
    console, out = terminal()
    df = icu_windows(stays=3, hours=4)
    async with AsyncLocalPipelineStore(tmp_path) as store:
        with ProgressBar("upload", console=console, enabled=True) as bar:
            await store.upload(df, "a", progress=bar)
            await store.download("a", progress=bar)
    size = (tmp_path / "a.parquet").stat().st_size
    assert "upload" in out.getvalue()
    assert f"{2 * size / 1000:.1f}/{2 * size / 1000:.1f} kB" in out.getvalue()  # both transfers, added up


def test_blocking_bulk_transfer_counts_artifacts_and_failures(tmp_path: Path) -> None:
    console, out = terminal()
    frames = {f"d{i}": icu_windows(stays=1, hours=2, seed=i) for i in range(5)}
    with LocalPipelineStore(tmp_path) as store:
        store.upload_many(frames)
        with ProgressBar("download", console=console, enabled=True) as bar:
            result = store.download_many([*frames, "missing"], progress=bar)
    assert len(result.failed) == 1 and bar.failed == 1
    assert "download (1 failed)" in out.getvalue() and "6/6" in out.getvalue()


def test_bulk_upload_of_an_iterator_of_unknown_length_is_counted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A generator has no length: the stores report total=None, and the bar counts what finished.
    console, _ = terminal()
    pairs = ((f"g{i}", icu_windows(stays=1, hours=2, seed=i)) for i in range(4))
    with LocalPipelineStore(tmp_path) as store, ProgressBar("upload", console=console, enabled=True) as bar:
        store.upload_many(pairs, progress=bar)
    assert bar.done == 4 and bar.failed == 0
    assert not [r for r in caplog.records if "progress callback raised" in r.getMessage()]


def test_silent_when_the_output_is_not_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    bar = ProgressBar("upload", console=Console(file=out))
    assert not bar.enabled
    with LocalPipelineStore(tmp_path) as store, bar:
        store.upload(icu_windows(stays=1, hours=2), "a", progress=bar)
    assert out.getvalue() == ""


def test_without_with_it_stops_by_itself_when_the_transfer_completes(tmp_path: Path) -> None:
    console, out = terminal()
    bar = ProgressBar("upload", console=console, enabled=True)
    with LocalPipelineStore(tmp_path) as store:
        store.upload(icu_windows(stays=1, hours=2), "a", progress=bar)
    assert not bar._progress.live.is_started
    assert "upload" in out.getvalue()


def test_tracked_artifacts_add_up_and_leave_their_rows() -> None:
    console, out = terminal()
    with ProgressBar("copy", total=2, console=console, enabled=True) as bar:
        first, second = bar.track("a.parquet"), bar.track("b.parquet")
        first(0, 1000)
        second(0, 3000)
        assert len(bar._progress.tasks) == 4  # artifacts, bytes, and one row per artifact in flight
        first(1000, 1000)
        second(3000, 3000)
        bar.advance()
        bar.advance(ok=False)
        assert len(bar._progress.tasks) == 2
        bytes_task = bar._progress.tasks[1]
        assert (bytes_task.completed, bytes_task.total) == (4000, 4000)
    assert "copy (1 failed)" in out.getvalue()


def test_bad_calls_are_refused() -> None:
    bar = ProgressBar(enabled=False)
    with pytest.raises(TypeError):
        bar(1)  # type: ignore[call-overload]
    with pytest.raises(ValueError):
        ProgressBar(total=-1)
