"""The event-loop thread behind the blocking facades.

aiobotocore and gcloud-aio clients are bound to the event loop they were opened on, so every blocking
facade runs its async twin on one shared asyncio loop in a daemon thread. A call hands its coroutine
to the loop with ``call_soon_threadsafe`` and waits on a plain lock that the task's done-callback
releases: two thread wake-ups and nothing else, about 80 µs, where anyio's ``BlockingPortal`` (which
this replaced) took about 200 µs for the same hop with its extra task and cancel-scope bookkeeping.
The loop runs a root task for its whole life, so anyio code on it (worker threads, task groups)
behaves as under ``anyio.run``.

- a facade takes a lease when it is created and gives it back on ``close()``; the loop thread starts
  with the first lease and stops with the last;
- the thread is a daemon, and an ``atexit`` hook closes the facades still open, so a script that never
  calls ``close()`` still exits promptly and cleanly;
- a ``KeyboardInterrupt`` (or any exception) in the calling thread cancels the task on the loop thread
  and waits for its clean-up (for example the abort of a multipart upload) before it propagates;
- after ``os.fork()`` the child starts with no loop thread: facades made in the parent raise a clear
  ``RuntimeError`` there, and new facades start a fresh loop.

It works from many threads at once and from a thread whose own event loop is running (a Jupyter
cell), because the work always runs on the shared loop, never on the caller's.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from types import TracebackType

__all__ = ["Facade", "Lease", "PortalClient", "lease", "shutdown"]

T = TypeVar("T")

#: How long an interrupted call waits for its task's clean-up before giving up on it (seconds).
_CLEANUP_WAIT = 30.0


class PortalClient(Protocol):
    """What the portal needs from a facade to close it at interpreter exit."""

    def close(self) -> None: ...


class _LoopThread:
    """One daemon thread running an asyncio loop, and the hand-over of calls to it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="clinops-async-loop", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("clinops_async could not start its event-loop thread") from self._error

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._root())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        except BaseException as exc:  # pragma: no cover - only if the loop cannot start
            self._error = exc
            self._ready.set()
        finally:
            self.loop.close()

    async def _root(self) -> None:
        """Lives as long as the loop; on stop, cancels the tasks still running and waits for them."""
        self._stopping = asyncio.Event()
        self._ready.set()
        await self._stopping.wait()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in others:
            task.cancel()
        await asyncio.gather(*others, return_exceptions=True)

    def run(self, func: Callable[..., Awaitable[T]], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
        """``await func(*args, **kwargs)`` on the loop; an interruption here cancels it and waits for it."""
        done = threading.Lock()
        done.acquire()
        started: list[asyncio.Task[T]] = []

        async def call() -> T:
            return await func(*args, **kwargs)

        def start() -> None:
            task = self.loop.create_task(call())
            task.add_done_callback(lambda _: done.release())
            started.append(task)

        self.loop.call_soon_threadsafe(start)
        try:
            done.acquire()
        except BaseException:
            self.loop.call_soon_threadsafe(lambda: started[0].cancel())  # runs after start(): FIFO
            if done.acquire(timeout=_CLEANUP_WAIT) and not started[0].cancelled():
                started[0].exception()  # retrieved: the interruption is what propagates
            raise
        return started[0].result()

    def submit(self, func: Callable[[], Awaitable[Any]]) -> None:
        """Start ``func()`` on the loop without waiting for it."""

        async def call() -> None:
            await func()

        self.loop.call_soon_threadsafe(lambda: self.loop.create_task(call()))

    def stop(self) -> None:
        if self._thread.is_alive():
            stopping = self._stopping
            assert stopping is not None
            self.loop.call_soon_threadsafe(stopping.set)
            self._thread.join(timeout=_CLEANUP_WAIT)


class _Provider:
    """Counts leases; starts the loop thread with the first and stops it with the last."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.loop: _LoopThread | None = None
        self.leases = 0
        self.clients: weakref.WeakSet[Any] = weakref.WeakSet()

    def acquire(self) -> _LoopThread:
        with self.lock:
            if self.loop is None:
                self.loop = _LoopThread()
            self.leases += 1
            return self.loop

    def forget(self) -> None:
        """Give back a lease without stopping the loop thread (from a finalizer, which must not block)."""
        with self.lock:
            self.leases -= 1

    def release(self) -> None:
        loop: _LoopThread | None = None
        with self.lock:
            self.leases -= 1
            if self.leases == 0:
                loop, self.loop = self.loop, None
        if loop is not None:
            loop.stop()


_provider = _Provider()


class Lease:
    """A facade's hold on the shared loop thread: ``call`` runs a coroutine function there."""

    def __init__(self, owner: PortalClient) -> None:
        self._pid = os.getpid()
        self._loop: _LoopThread | None = _provider.acquire()
        _provider.clients.add(owner)
        self._owner_name = type(owner).__name__

    @property
    def closed(self) -> bool:
        return self._loop is None

    def _check(self) -> _LoopThread:
        if self._pid != os.getpid():
            raise RuntimeError(
                f"this {self._owner_name} was created in another process (before os.fork()); "
                f"create a new {self._owner_name} in this process"
            )
        if self._loop is None:
            raise RuntimeError(f"this {self._owner_name} is closed; create a new one")
        return self._loop

    def call(self, func: Callable[..., Awaitable[T]], *args: Any, **kwargs: Any) -> T:
        """Run ``await func(*args, **kwargs)`` on the loop thread and return its result.

        If the calling thread is interrupted (``KeyboardInterrupt``) the task is cancelled, and the
        call waits for the task's clean-up to finish before re-raising.
        """
        return self._check().run(func, args, kwargs)

    def iterate(self, func: Callable[..., AsyncIterator[T]], *args: Any, **kwargs: Any) -> Iterator[T]:
        """A plain iterator over the async iterator ``func(*args, **kwargs)``, which runs on the loop thread.

        ``func`` is called at once (here), so the argument checks it makes raise at the call; each
        item is then fetched by one ``call``. Breaking out of the loop (or dropping the iterator, or
        an interruption) closes the async iterator on the loop thread (``aclose``), so nothing it
        holds stays open.
        """
        self._check()
        return self._drive(func(*args, **kwargs))

    def _drive(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        done = object()

        async def step() -> Any:
            try:
                return await anext(iterator)
            except StopAsyncIteration:
                return done

        try:
            while (item := self.call(step)) is not done:
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None and self._loop is not None and self._pid == os.getpid():
                self.call(close)

    def release(self, close: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run ``close`` on the loop (if given) and give the lease back. Idempotent."""
        if self._loop is None or self._pid != os.getpid():
            self._loop = None
            return
        try:
            if close is not None:
                self.call(close)
        finally:
            self._loop = None
            _provider.release()


    def abandon(self, close: Callable[[], Awaitable[None]]) -> None:
        """Schedule ``close`` on the loop without waiting, and give the lease back (for finalizers)."""
        loop, self._loop = self._loop, None
        if loop is None or self._pid != os.getpid():
            return
        try:
            loop.submit(close)
        except RuntimeError:
            pass  # the loop has stopped, or this runs on the loop thread itself
        _provider.forget()


def lease(owner: PortalClient) -> Lease:
    """Take a lease on the shared loop thread for ``owner`` (a blocking facade)."""
    return Lease(owner)


class Facade:
    """Base of the blocking facades: one lease from creation to ``close()``, usable with ``with``."""

    _async: Any

    def _start(self, async_twin: Any) -> None:
        self._async = async_twin
        self._lease = lease(self)
        # A facade dropped without close() still closes its client (at interpreter exit, shutdown()
        # does it in order instead).
        self._finalizer = weakref.finalize(self, self._lease.abandon, async_twin.aclose)
        self._finalizer.atexit = False

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the network client and give back the loop thread. Idempotent."""
        self._finalizer.detach()
        self._lease.release(self._async.aclose)


def shutdown() -> None:
    """Close every facade still open and stop the loop thread (runs at interpreter exit)."""
    for client in list(_provider.clients):
        try:
            client.close()
        except Exception:
            pass


def _after_fork_in_child() -> None:
    global _provider
    _provider = _Provider()


atexit.register(shutdown)
os.register_at_fork(after_in_child=_after_fork_in_child)
