"""A loopback TCP proxy for network-failure tests: it counts, records, cuts, holds or drops traffic.

It runs on the test's own event loop in front of a real server, so the client under test goes through
its real network code; nothing in the library is mocked.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Literal

__all__ = ["TcpProxy"]


class TcpProxy:
    """Forward 127.0.0.1:<port> to 127.0.0.1:<target_port>.

    Attributes:
        sent: Bytes forwarded from clients to the server (request heads and bodies).
        cut_after: When set, the connection carrying byte number ``cut_after`` (counted in ``sent``)
            is aborted right there, once; ``cuts`` counts it.
        pattern: Client bytes to watch for (e.g. ``b"/compose"``); ``matched`` is set when seen, and
            ``on_match`` says what happens to that connection: ``"drop"`` aborts it, ``"hold"``
            forwards nothing until ``release`` is set.
        corrupt_at: When set, the client byte at this offset (counted in ``sent``) is flipped on its
            way to the server, once.
        record: Keep every byte clients send, per connection, in ``connections``.
    """

    def __init__(self, target_port: int | None = None, *, record: bool = False) -> None:
        self.target_port = target_port
        self.sent = 0
        self.cut_after: int | None = None
        self.cuts = 0
        self.corrupt_at: int | None = None
        self.pattern: bytes | None = None
        self.on_match: Literal["drop", "hold"] = "drop"
        self.matched = asyncio.Event()
        self.matches = 0
        self.release = asyncio.Event()
        self.record = record
        self.connections: list[bytearray] = []
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def recorded(self) -> bytes:
        """Everything clients sent, one connection after another."""
        return b"".join(self.connections)

    def request_lines(self) -> list[str]:
        """The request lines clients sent (``POST /upload/... HTTP/1.1``)."""
        methods = (b"GET ", b"POST ", b"PUT ", b"DELETE ", b"PATCH ")
        return [
            line.decode("latin-1")
            for connection in self.connections
            for line in bytes(connection).split(b"\r\n")
            if line.startswith(methods) and line.endswith(b" HTTP/1.1")
        ]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(BaseException):
                await task
        if self._server is not None:
            await self._server.wait_closed()

    async def __aenter__(self) -> TcpProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _accept(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.get_running_loop().create_task(self._serve(client_r, client_w))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        # The server connection opens only when there is something to forward, so a held or dropped
        # request never occupies a single-threaded server.
        self._writers.add(client_w)
        server_w: asyncio.StreamWriter | None = None
        down: asyncio.Task[None] | None = None
        tail = b""
        log = bytearray()
        if self.record:
            self.connections.append(log)
        try:
            while data := await client_r.read(1 << 16):
                if self.pattern is not None and self.pattern in tail + data:
                    self.matches += 1
                    self.matched.set()
                    if self.on_match == "drop":
                        return
                    await self.release.wait()
                if server_w is None:
                    assert self.target_port is not None
                    server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
                    self._writers.add(server_w)
                    down = asyncio.ensure_future(self._copy(server_r, client_w))
                if self.cut_after is not None and self.sent + len(data) >= self.cut_after:
                    keep = self.cut_after - self.sent
                    self.cut_after = None
                    self.cuts += 1
                    await self._forward(server_w, data[:keep], log)
                    return
                await self._forward(server_w, data, log)
                tail = data[-256:]
        except OSError:
            pass
        finally:
            if down is not None:
                down.cancel()
                with contextlib.suppress(BaseException):
                    await down
            for writer in (client_w, server_w):
                if writer is not None:
                    writer.transport.abort()
                    self._writers.discard(writer)

    async def _forward(self, writer: asyncio.StreamWriter, data: bytes, log: bytearray) -> None:
        if self.corrupt_at is not None and self.sent <= self.corrupt_at < self.sent + len(data):
            damaged = bytearray(data)
            damaged[self.corrupt_at - self.sent] ^= 0x01
            data = bytes(damaged)
            self.corrupt_at = None
        if self.record:
            log += data
        writer.write(data)
        await writer.drain()
        self.sent += len(data)

    @staticmethod
    async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(1 << 16):
                writer.write(data)
                await writer.drain()
        except OSError:
            pass
        writer.close()  # the server closed: let the client see it
