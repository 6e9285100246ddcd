"""The buffer a large download is received into: memory from Arrow's pool whose pages are committed
in worker threads and handed back to the system as soon as the decoder is done with them.

Writing into a fresh anonymous page makes the kernel find and zero a page first. For a 512 MiB
object that is ~130,000 page faults, which cost more than the copies themselves (0.6-0.8 s against
0.07 s on a 2-core machine) and, done by the event loop as the responses arrive, stalled it.
:meth:`ReceiveBuffer.populate` takes those faults in a worker thread instead, with
``MADV_POPULATE_WRITE`` (Linux 5.14+; the call leaves the bytes alone, so it may run while a read
fills the same pages). :meth:`ReceiveBuffer.release` gives decoded ranges back with
``MADV_DONTNEED``, so the received bytes turn into the decoded frame instead of adding to it.

Elsewhere (other systems, older kernels) the pages are faulted in by whoever writes them first, and
go back to the pool when the buffer is closed.
"""

from __future__ import annotations

import ctypes
import errno
import mmap
import sys
import threading
from typing import Any

import anyio
import pyarrow as pa

__all__ = ["ReceiveBuffer"]

#: ``MADV_POPULATE_WRITE`` from <linux/mman.h>; Python's ``mmap`` module does not name it.
_MADV_POPULATE_WRITE = 23
#: Linux's ``MADV_DONTNEED``: an anonymous private page given back reads as zeros afterwards.
_MADV_DONTNEED = 4
_PAGE = mmap.PAGESIZE
#: Pages are committed in steps of this size, so a cancelled download waits for one step at most.
_POPULATE_STEP = 4 << 20


class _Madvise:
    """``madvise(2)`` through ctypes, which drops the GIL during the call (``mmap.madvise`` keeps it)."""

    def __init__(self) -> None:
        self.call: Any = None
        self.populate = False
        self._lock = threading.Lock()
        if sys.platform != "linux":
            return
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            call = libc.madvise
        except (OSError, AttributeError):  # pragma: no cover - every Linux libc has madvise
            return
        call.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
        call.restype = ctypes.c_int
        self.call = call
        self.populate = True

    def __call__(self, address: int, length: int, advice: int) -> bool:
        if self.call is None:
            return False
        return bool(self.call(address, length, advice) == 0)

    def populate_failed(self) -> None:
        # EINVAL before Linux 5.14: stop asking, and let writers fault pages in as before.
        with self._lock:
            self.populate = False


_madvise = _Madvise()


class ReceiveBuffer:
    """``size`` bytes that ranged reads fill in place (see the module docstring).

    The memory comes from Arrow's memory pool, where the decoded columns will come from too: after an
    upload the pool holds freed memory that a fresh map would add to instead of reusing.
    ``view`` is the writable view to fill. The buffer belongs to one download: :meth:`release` and
    :meth:`populate` may be called from any thread, but never after :meth:`close`.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._buffer: pa.Buffer | None = pa.allocate_buffer(size)
        self._address = self._buffer.address
        self.view = memoryview(self._buffer).cast("B")
        self.released = 0
        self._limiter: anyio.CapacityLimiter | None = None

    async def populate(self, start: int, length: int) -> None:
        """Commit the pages of ``[start, start + length)`` in a worker thread; the bytes are unchanged."""
        end = self._address + min(start + length, self.size)
        first = (self._address + start) // _PAGE * _PAGE
        if self._limiter is None:
            # One thread at a time: eight faulting at once took both cores from the event loop.
            self._limiter = anyio.CapacityLimiter(1)
        for step in range(first, end, _POPULATE_STEP):
            if not _madvise.populate:
                return
            count = min(_POPULATE_STEP, end - step)
            await anyio.to_thread.run_sync(self._populate_sync, step, count, limiter=self._limiter)

    @staticmethod
    def _populate_sync(address: int, length: int) -> None:
        if not _madvise(address, length, _MADV_POPULATE_WRITE) and ctypes.get_errno() == errno.EINVAL:
            _madvise.populate_failed()

    def release(self, start: int, end: int) -> None:
        """Give the whole pages inside ``[start, end)`` back to the system (Linux; elsewhere a no-op).

        Released pages read as zeros afterwards. Only for bytes no reader needs any more: the pages
        at both ends are kept when the range does not cover them completely.
        """
        first = -(-(self._address + max(start, 0)) // _PAGE) * _PAGE
        last = (self._address + min(end, self.size)) // _PAGE * _PAGE
        if last <= first:
            return
        if _madvise(first, last - first, _MADV_DONTNEED):
            self.released += last - first

    def close(self) -> None:
        """Give the memory back to the pool now, unless a view into it is still alive (then it goes
        with the view)."""
        try:
            self.view.release()
        except BufferError:
            return
        self._buffer = None
