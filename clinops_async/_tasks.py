"""Bounded concurrency without exception groups: the first error cancels the rest and is raised as is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

import anyio

__all__ = ["run_limited"]


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
