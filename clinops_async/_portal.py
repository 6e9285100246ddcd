"""The event-loop thread behind the blocking facades.

aiobotocore and gcloud-aio clients are bound to the event loop they were opened on, so every blocking
facade runs its async twin on one shared loop in a daemon thread, reached through an anyio
:class:`~anyio.from_thread.BlockingPortal`:

- a facade takes a lease when it is created and gives it back on ``close()``; the loop thread starts
  with the first lease and stops with the last;
- the thread is a daemon, and an ``atexit`` hook closes the facades still open, so a script that never
  calls ``close()`` still exits promptly and cleanly;
- a ``KeyboardInterrupt`` (or any exception) in the calling thread cancels the task on the loop thread
  and waits for its clean-up (for example the abort of a multipart upload) before it propagates;
- after ``os.fork()`` the child starts with no loop thread: facades made in the parent raise a clear
  ``RuntimeError`` there, and new facades start a fresh loop.

It works from many threads at once and from a thread whose own event loop is running (a Jupyter
cell), because the work always runs on the portal's loop, never on the caller's.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import anyio
from anyio.from_thread import BlockingPortal

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
    from concurrent.futures import Future
    from types import TracebackType

__all__ = ["Facade", "Lease", "PortalClient", "lease", "shutdown"]

T = TypeVar("T")

#: How long an interrupted call waits for its task's clean-up before giving up on it (seconds).
_CLEANUP_WAIT = 30.0


class PortalClient(Protocol):
    """What the portal needs from a facade to close it at interpreter exit."""

    def close(self) -> None: ...


class _LoopThread:
    """One daemon thread running an asyncio loop with a blocking portal in it."""

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="clinops-async-loop", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError("clinops_async could not start its event-loop thread") from self._error

    def _run(self) -> None:
        async def main() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                self._ready.set()
                await portal.sleep_until_stopped()

        try:
            anyio.run(main, backend="asyncio")
        except BaseException as exc:  # pragma: no cover - only if the loop cannot start
            self._error = exc
            self._ready.set()

    @property
    def portal(self) -> BlockingPortal:
        assert self._portal is not None
        return self._portal

    def stop(self) -> None:
        if self._thread.is_alive():
            self.portal.call(self.portal.stop, True)
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
        loop = self._check()
        finished = threading.Event()

        async def run() -> T:
            try:
                return await func(*args, **kwargs)
            finally:
                finished.set()

        future: Future[T] = loop.portal.start_task_soon(run)
        try:
            return future.result()
        except BaseException:
            if not future.done():
                future.cancel()
                finished.wait(_CLEANUP_WAIT)
            raise

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
            loop.portal.start_task_soon(close)
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
