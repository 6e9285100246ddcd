"""CPU-bound work (encoding, decoding) in worker threads, at most one per core at a time.

The event loop's thread competes for the GIL with every thread that holds it. Sixteen artifacts
encoded or decoded at once in sixteen threads make the loop wait behind many of them in turn (stalls
of 100-300 ms in the bulk benchmark); on a machine with N cores, more than N CPU-bound threads add
no throughput. So such work goes through one capacity limiter per event loop, as wide as the cores.
"""

from __future__ import annotations

import asyncio
import os
import weakref
from typing import TYPE_CHECKING, TypeVar

import anyio
import anyio.to_thread

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["run_cpu_bound"]

T = TypeVar("T")

_limiters: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, anyio.CapacityLimiter] = weakref.WeakKeyDictionary()


def _limiter() -> anyio.CapacityLimiter:
    loop = asyncio.get_running_loop()
    limiter = _limiters.get(loop)
    if limiter is None:
        limiter = _limiters[loop] = anyio.CapacityLimiter(max(2, os.cpu_count() or 2))
    return limiter


async def run_cpu_bound(func: Callable[..., T], *args: object) -> T:
    """``func(*args)`` in a worker thread, with at most one such call per core running at once."""
    return await anyio.to_thread.run_sync(func, *args, limiter=_limiter())
