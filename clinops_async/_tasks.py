"""Bounded concurrency without exception groups: the first error cancels the rest and is raised as is."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Iterable

__all__ = ["alongside", "run_limited", "wait_to_end"]

T = TypeVar("T")


async def run_limited(limit: int, jobs: Iterable[Callable[[], Awaitable[None]]]) -> None:
    """Run ``jobs`` with at most ``limit`` in flight; the first error cancels the rest and is raised."""
    iterator = iter(jobs)
    first_error: list[BaseException] = []

    async def worker(scope: anyio.CancelScope) -> None:
        for job in iterator:
            try:
                await job()
            except Exception as exc:
                if not first_error:
                    first_error.append(exc)
                scope.cancel()
                return

    async with anyio.create_task_group() as tg:
        for _ in range(limit):
            tg.start_soon(worker, tg.cancel_scope)
    if first_error:
        raise first_error[0]


async def wait_to_end(work: Awaitable[T], *, undo: Callable[[T], Awaitable[None]] | None = None) -> T:
    """Run ``work`` in its own task and wait for it to end, even when the caller is cancelled.

    For steps whose effect must not outlive a caller that was told they stopped (a local write in a
    worker thread), or whose result is needed to undo them (the id of a new multipart upload). anyio's
    shielded scopes do not hold off a plain ``task.cancel()``, so this waits at the asyncio level.
    If the caller was cancelled meanwhile, ``undo(result)`` runs (when ``work`` succeeded) and then
    ``CancelledError`` is raised.
    """
    task = asyncio.ensure_future(work)
    cancelled: asyncio.CancelledError | None = None
    while not task.done():
        try:
            await asyncio.wait({task})  # being cancelled here does not cancel the task
        except asyncio.CancelledError as exc:
            cancelled = exc
    if cancelled is not None:
        if undo is not None and not task.cancelled() and task.exception() is None:
            await undo(task.result())
        # The caught exception itself: anyio tells its own cancellation (a timeout) by its message.
        raise cancelled
    return task.result()


async def alongside(side: Callable[[], Awaitable[None]], main: Callable[[], Awaitable[T]]) -> T:
    """Run ``side`` in its own task while ``main`` runs, and return ``main``'s result.

    For helper work that must not delay ``main`` (committing the pages a read is about to fill).
    ``side`` is always waited for, even when ``main`` fails or is cancelled; its own errors are
    dropped, so they never hide ``main``'s outcome.
    """
    helper = asyncio.ensure_future(side())
    try:
        return await main()
    finally:
        with anyio.CancelScope(shield=True):
            await asyncio.wait({helper})
        if not helper.cancelled():
            helper.exception()  # retrieved, so asyncio does not log it as never retrieved
