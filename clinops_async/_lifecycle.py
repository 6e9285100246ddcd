"""The life of a network client object: opened once on first use, bound to one event loop, closed once."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["LoopBound"]


class LoopBound:
    """Base of the async stores and pipelines.

    The first use (or ``async with``) opens the resource on the running loop, once even under
    concurrent first calls; later use from another loop, or after ``aclose()``, is a RuntimeError.
    Subclasses implement ``_open_resource`` and ``_close_resource``.
    """

    _noun = "object"

    def _init_lifecycle(self) -> None:
        self._state = "new"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open_lock: asyncio.Lock | None = None

    async def _open_resource(self) -> None:
        raise NotImplementedError

    async def _close_resource(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self._ensure_open()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the network client. Idempotent; the object cannot be used afterwards."""
        was_open = self._state == "open"
        self._state = "closed"
        if was_open:
            await self._close_resource()

    async def _ensure_open(self) -> None:
        loop = asyncio.get_running_loop()
        name = type(self).__name__
        if self._state == "closed":
            raise RuntimeError(f"{name} is closed; create a new {self._noun}")
        if self._loop is None:
            self._loop = loop
            self._open_lock = asyncio.Lock()
        elif self._loop is not loop:
            raise RuntimeError(
                f"{name} is bound to the event loop it was first used on; create one {self._noun} per event loop"
            )
        if self._state == "new":
            assert self._open_lock is not None
            async with self._open_lock:
                if self._state == "new":
                    await self._open_resource()
                    self._state = "open"
