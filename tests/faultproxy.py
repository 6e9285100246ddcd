"""An HTTP reverse proxy on 127.0.0.1 that injects faults between the library and a local server.

It runs its own event loop in a thread, so sync and async tests can both use it. Faults are queued
with a predicate and apply to the next matching request, once each:

- ``status(code, body)``: answer with that status instead of forwarding (503 SlowDown, 429, 500 ...);
- ``reset_before``: close the connection without answering;
- ``reset_during``: forward, send the headers and half the body, then drop the connection;
- ``flip_response``: flip one byte in the middle of the response body;
- ``flip_request``: flip one byte in the middle of the request body before forwarding.
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

__all__ = ["Fault", "FaultProxy"]

Match = Callable[[web.Request], bool]
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class Fault:
    kind: str
    match: Match
    status: int = 503
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


class FaultProxy:
    def __init__(self, target: str) -> None:
        self.target = target.rstrip("/")
        self.faults: list[Fault] = []
        self.applied: list[str] = []
        self.requests = 0
        self.request_bytes = 0
        self.response_bytes = 0
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-proxy", daemon=True)
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._stop_event.set)
        self._thread.join(10)

    def add(self, kind: str, match: Match | None = None, *, times: int = 1, **kwargs: object) -> None:
        with self._lock:
            for _ in range(times):
                self.faults.append(Fault(kind, match or (lambda r: True), **kwargs))  # type: ignore[arg-type]

    def pending(self) -> int:
        with self._lock:
            return len(self.faults)

    def _take(self, request: web.Request) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.match(request):
                    del self.faults[i]
                    self.applied.append(fault.kind)
                    return fault
        return None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())
        self._loop.close()

    async def _serve(self) -> None:
        self._stop_event = asyncio.Event()
        app = web.Application(client_max_size=1 << 31)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession(auto_decompress=False)
        self._ready.set()
        await self._stop_event.wait()
        await self._session.close()
        await runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        with self._lock:
            self.requests += 1
            self.request_bytes += len(body)
        fault = self._take(request)
        if fault is not None and fault.kind == "status":
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if fault is not None and fault.kind == "reset_before":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if fault is not None and fault.kind == "flip_request" and body:
            flipped = bytearray(body)
            flipped[len(flipped) // 2] ^= 0xFF
            body = bytes(flipped)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP}
        async with self._session.request(
            request.method, self.target + str(request.rel_url),
            headers=headers, data=io.BytesIO(body) if body else None, allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            with self._lock:
                self.response_bytes += len(payload)
            out_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP}
            if fault is not None and fault.kind == "flip_response" and payload:
                flipped = bytearray(payload)
                flipped[len(flipped) // 2] ^= 0xFF
                payload = bytes(flipped)
            if fault is not None and fault.kind == "reset_during" and payload:
                response = web.StreamResponse(status=upstream.status, headers=out_headers)
                response.content_length = len(payload)
                await response.prepare(request)
                await response.write(payload[: len(payload) // 2])
                assert request.transport is not None
                request.transport.abort()
                return response
            if request.method == "HEAD" and "Content-Length" in upstream.headers:
                response = web.StreamResponse(status=upstream.status, headers=out_headers)
                response.content_length = int(upstream.headers["Content-Length"])
                await response.prepare(request)
                await response.write_eof()
                return response
            return web.Response(status=upstream.status, body=payload, headers=out_headers)


def s3_error(code: str, status: int) -> dict[str, object]:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>'
    return {"status": status, "body": body.encode(), "headers": {"Content-Type": "application/xml"}}
