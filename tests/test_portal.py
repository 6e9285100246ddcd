"""The blocking facades: inside a running loop, from many threads, after fork, under Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pandas as pd
import pytest

from clinops_async import LocalPipelineStore
from clinops_async.orchestrate import S3PipelineStore
from tests.stores.test_s3 import wait_until
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import icu_windows
from tests.support.servers import ROOT, Server
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable
    from pathlib import Path


def loop_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "clinops-async-loop"]


async def test_blocking_facade_works_inside_a_running_event_loop(tmp_path: Path) -> None:
    # As in a Jupyter cell: the caller's loop is running; the facade runs on its own loop thread.
    df = icu_windows(stays=2, hours=3)
    with LocalPipelineStore(tmp_path) as store:
        store.upload(df, "a")
        pd.testing.assert_frame_equal(store.download("a"), df)


def test_one_facade_from_many_threads(moto: Server) -> None:
    s3 = S3Env(moto.url)
    frames = {f"t/{i}": icu_windows(stays=1, hours=4, seed=i) for i in range(16)}
    with S3PipelineStore(s3.bucket, "p", endpoint_url=moto.url) as store:
        with ThreadPoolExecutor(8) as pool:
            uris = list(pool.map(lambda item: store.upload(item[1], item[0]), frames.items()))
            back = list(pool.map(store.download, frames))
        assert uris == [f"s3://{s3.bucket}/p/{name}.parquet" for name in frames]
        for (_, df), out in zip(frames.items(), back, strict=True):
            pd.testing.assert_frame_equal(out, df)
        assert store.list_artifacts("t/") == sorted(frames)


def test_many_facades_share_one_loop_thread_which_stops_with_the_last(tmp_path: Path) -> None:
    before = len(loop_threads())
    first, second = LocalPipelineStore(tmp_path / "a"), LocalPipelineStore(tmp_path / "b")
    assert len(loop_threads()) == before + (1 if before == 0 else 0)
    first.close()
    assert second.exists("x") is False
    second.close()
    if before == 0:
        assert loop_threads() == []


def test_use_after_close_is_a_runtime_error(tmp_path: Path) -> None:
    store = LocalPipelineStore(tmp_path)
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.exists("x")


def run_script(body: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(body)], env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_after_fork_parent_facades_refuse_and_new_ones_work(tmp_path: Path) -> None:
    done = run_script(
        f"""
        import os, sys
        import pandas as pd
        from clinops_async import LocalPipelineStore
        store = LocalPipelineStore({str(tmp_path)!r})
        store.upload(pd.DataFrame({{"a": [1]}}), "parent")
        pid = os.fork()
        if pid == 0:
            try:
                store.exists("parent")
            except RuntimeError as exc:
                assert "another process" in str(exc), exc
            else:
                os._exit(3)
            child = LocalPipelineStore({str(tmp_path)!r})
            child.upload(pd.DataFrame({{"a": [2]}}), "child")
            assert child.list_artifacts() == ["child", "parent"]
            child.close()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0, status
        assert store.list_artifacts() == ["child", "parent"]
        print("ok")
        """
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


@pytest.mark.slow  # a fresh interpreter held mid-upload at a proxy, then interrupted
def test_ctrl_c_during_upload_aborts_the_multipart_upload(moto: Server) -> None:
    s3 = S3Env(moto.url)
    with FaultProxy(moto.url) as proxy:
        # The second part is held, so the upload is surely in flight when Ctrl-C arrives.
        proxy.add("stall", lambda r: r.method == "PUT" and r.query.get("partNumber") == "2", delay=60)
        _interrupt_upload(s3, proxy.url, until=lambda: proxy.applied == ["stall"])
    assert s3.incomplete_uploads() == 0


def _interrupt_upload(s3: S3Env, endpoint: str, until: Callable[[], bool]) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from clinops_async import TransferConfig
        from clinops_async.orchestrate import S3PipelineStore
        from tests.support.frames import wide_frame
        df = wide_frame(300_000, 20)
        mib = 1024 * 1024
        store = S3PipelineStore({s3.bucket!r}, endpoint_url={endpoint!r},
                                transfer=TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib,
                                                        max_concurrency=1))
        print("ready", flush=True)
        try:
            store.upload(df, "interrupted")
        except KeyboardInterrupt:
            print("interrupted", flush=True)
            sys.exit(130)
        print("finished", flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        wait_until(lambda: until() and s3.incomplete_uploads() > 0)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "interrupted" in out
    assert s3.keys() == []


def test_a_facade_dropped_without_close_still_closes_its_client(moto: Server) -> None:
    import gc

    s3 = S3Env(moto.url)
    store = S3PipelineStore(s3.bucket, endpoint_url=moto.url)
    store.upload(pd.DataFrame({"a": [1]}), "x")
    twin = store.async_store
    assert twin._backend._exit_stack is not None  # type: ignore[attr-defined]
    del store
    gc.collect()
    wait_until(lambda: twin._backend._exit_stack is None)  # type: ignore[attr-defined]


class _Owner:
    """The least a lease needs from its holder."""

    def close(self) -> None:
        pass


def test_iterate_runs_an_async_iterator_on_the_loop_and_closes_it_when_left() -> None:

    from clinops_async import _portal

    events: list[str] = []
    threads: set[int] = set()

    def count(limit: int) -> AsyncIterator[int]:
        if limit < 0:
            raise ValueError("checked at the call")

        async def numbers() -> AsyncIterator[int]:
            try:
                for i in range(limit):
                    threads.add(threading.get_ident())
                    yield i
                events.append("exhausted")
            finally:
                events.append("closed")

        return numbers()

    owner = _Owner()
    held = _portal.lease(owner)
    try:
        with pytest.raises(ValueError, match="checked at the call"):
            held.iterate(count, -1)
        assert list(held.iterate(count, 3)) == [0, 1, 2]
        assert events == ["exhausted", "closed"] and threading.get_ident() not in threads
        events.clear()
        for i in held.iterate(count, 10):
            if i == 1:
                break
        assert events == ["closed"]  # at once, not when the garbage collector gets to it
    finally:
        held.release()


def test_iterate_raises_what_the_async_iterator_raises_and_closes_it() -> None:

    from clinops_async import _portal

    closed: list[bool] = []

    async def failing() -> AsyncIterator[int]:
        try:
            yield 1
            raise LookupError("from the loop")
        finally:
            closed.append(True)

    held = _portal.lease(_Owner())
    try:
        got = []
        with pytest.raises(LookupError, match="from the loop"):
            for item in held.iterate(failing):
                got.append(item)  # noqa: PERF402 - one at a time: what arrived before the failure counts
        assert got == [1] and closed == [True]
    finally:
        held.release()


def test_blocking_iter_batches_is_a_plain_iterator(tmp_path: Path) -> None:
    df = pd.DataFrame({"hr": range(10)})
    with LocalPipelineStore(tmp_path) as store:
        store.upload(df, "x")
        batches = store.iter_batches("x", batch_rows=4)
        assert not hasattr(batches, "__aiter__")
        assert [len(b) for b in batches] == [4, 4, 2]
        first = next(store.iter_batches("x", batch_rows=3))
        assert first["hr"].tolist() == [0, 1, 2]
