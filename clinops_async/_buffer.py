"""The buffer a large download is received into: an anonymous memory map whose pages are committed
in worker threads and handed back to the system as soon as the decoder is done with them.

Writing into a fresh anonymous page makes the kernel find and zero a page first. For a 512 MiB
object that is ~130,000 page faults, which cost more than the copies themselves (0.7 s against
0.07 s on a 2-core machine) and, done by the event loop as the responses arrive, stalled it.
:meth:`ReceiveBuffer.populate` takes those faults in a worker thread instead, with
``MADV_POPULATE_WRITE`` (Linux 5.14+; the call leaves the bytes alone, so it may run while a read
fills the same pages). :meth:`ReceiveBuffer.release` gives decoded ranges back with
``MADV_DONTNEED``, so the received bytes turn into the decoded frame instead of adding to it.

Elsewhere (other systems, older kernels) the buffer is a plain anonymous map: pages are faulted in
by whoever writes them first, and are freed when the map is closed.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
import threading
from typing import Any

import anyio

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
    """``size`` bytes of anonymous memory that ranged reads fill in place (see the module docstring).

    ``view`` is the writable view to fill. The buffer belongs to one download: :meth:`release` and
    :meth:`populate` may be called from any thread, but never after :meth:`close`.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        # Private: MADV_DONTNEED frees a private anonymous page, but only unmaps a shared one (its
        # bytes stay in the shared memory object until the whole map is closed).
        private = {"flags": mmap.MAP_PRIVATE} if hasattr(mmap, "MAP_PRIVATE") else {}
        self._map = mmap.mmap(-1, size, **private)
        anchor = ctypes.c_char.from_buffer(self._map)
        self._address = ctypes.addressof(anchor)
        del anchor  # the address stays valid while the map is open; the export would block close()
        self.view = memoryview(self._map)
        self.released = 0

    async def populate(self, start: int, length: int) -> None:
        """Commit the pages of ``[start, start + length)`` in a worker thread; the bytes are unchanged."""
        end = min(start + length, self.size)
        first = start - start % _PAGE
        for step in range(first, end, _POPULATE_STEP):
            if not _madvise.populate:
                return
            count = min(_POPULATE_STEP, end - step)
            await anyio.to_thread.run_sync(self._populate_sync, step, count)

    def _populate_sync(self, start: int, length: int) -> None:
        if not _madvise(self._address + start, length, _MADV_POPULATE_WRITE):
            _madvise.populate_failed()

    def release(self, start: int, end: int) -> None:
        """Give the whole pages inside ``[start, end)`` back to the system (Linux; elsewhere a no-op).

        Released pages read as zeros afterwards.

        Only for bytes no reader needs any more: the pages at both ends are kept when the range does
        not cover them completely.
        """
        first = -(-max(start, 0) // _PAGE) * _PAGE
        last = min(end, self.size) // _PAGE * _PAGE
        if last <= first:
            return
        if _madvise(self._address + first, last - first, _MADV_DONTNEED):
            self.released += last - first

    def close(self) -> None:
        """Unmap the buffer now, unless a view into it is still alive (then it goes with the view)."""
        try:
            self.view.release()
            self._map.close()
        except BufferError:
            pass
