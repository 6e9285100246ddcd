"""The buffer a large download is received into: an anonymous memory map whose pages are handed
back to the system as soon as the decoder is done with them.

:meth:`ReceiveBuffer.release` gives decoded ranges back with ``MADV_DONTNEED``, so the received
bytes turn into the decoded frame instead of adding to it. Elsewhere (other systems) the buffer is a
plain anonymous map, freed when it is closed.
"""

from __future__ import annotations

import ctypes
import mmap
import sys
from typing import Any

__all__ = ["ReceiveBuffer"]

#: Linux's ``MADV_DONTNEED``: an anonymous private page given back reads as zeros afterwards.
_MADV_DONTNEED = 4
_PAGE = mmap.PAGESIZE


class _Madvise:
    """``madvise(2)`` through ctypes, which drops the GIL during the call (``mmap.madvise`` keeps it)."""

    def __init__(self) -> None:
        self.call: Any = None
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

    def __call__(self, address: int, length: int, advice: int) -> bool:
        if self.call is None:
            return False
        return bool(self.call(address, length, advice) == 0)


_madvise = _Madvise()


class ReceiveBuffer:
    """``size`` bytes of anonymous memory that ranged reads fill in place (see the module docstring).

    ``view`` is the writable view to fill. The buffer belongs to one download: :meth:`release` may be
    called from any thread, but never after :meth:`close`.
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
