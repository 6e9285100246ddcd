"""An HTTP reverse proxy on 127.0.0.1 that injects faults between the library and a local server.

It runs its own event loop in a thread, so sync and async tests can both use it. Faults are queued
with a predicate and apply to the next matching request, once each:

- ``status(code, body)``: answer with that status instead of forwarding (503 SlowDown, 429, 500 ...);
- ``reset_before``: close the connection without answering;
- ``reset_during``: forward, send the headers and half the body, then drop the connection;
- ``reset_after``: forward (the server acts on the request), then drop the connection unanswered;
- ``flip_response``: flip one byte in the middle of the response body;
- ``flip_request``: flip one byte in the middle of the request body before forwarding;
- ``truncate``: forward, announce the full Content-Length, send only part of the body, then close the
  connection cleanly (a short read, not a reset);
- ``stall``: hold the request ``delay`` seconds (past the client's read timeout), then forward it;
- ``strip_headers``: forward, then drop the response headers named (lower case) in ``headers``, as a
  server that lacks the feature they report would;
- ``stop_reading``: read the first ``after`` bytes of the request body, then stop reading (the client's
  send blocks once the socket buffers are full), hold the connection ``delay`` seconds (or until the
  proxy stops) and drop it unanswered: a peer that stalls mid-upload.

Besides the queue, ``randomly(p, seed=...)`` makes every other request fail with probability ``p``,
choosing among ``kinds``; the choices come from one ``random.Random(seed)``, so a run is reproducible
up to the order in which concurrent requests arrive. Error bodies are shaped for the server behind
the proxy (``flavor="s3"``: XML; ``"gcs"``: JSON), and ``Location`` headers (GCS resumable sessions)
are rewritten to point back at the proxy, so it stands in front of moto, gcp-storage-emulator and
fake-gcs-server alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

import aiohttp
from aiohttp import web

__all__ = ["ErrorAnswer", "Fault", "FaultOptions", "FaultProxy", "gcs_error", "s3_error"]

Match = Callable[[web.Request], bool]
_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class Fault:
    kind: str
    match: Match
    status: int = 503
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 30.0
    after: int = 0


class FaultOptions(TypedDict, total=False):
    """What ``FaultProxy.add`` passes on to a ``Fault`` besides its kind and match."""

    status: int
    body: bytes
    headers: dict[str, str]
    delay: float
    after: int


class ErrorAnswer(TypedDict):
    """An error answer a server would give: ``proxy.add("status", **s3_error("SlowDown", 503))``."""

    status: int
    body: bytes
    headers: dict[str, str]


#: Faults a retrying client rides out; what ``randomly`` picks from by default.
TRANSIENT_KINDS = ("status", "reset_before", "reset_during", "reset_after", "truncate")


class FaultProxy:
    def __init__(self, target: str, *, flavor: str = "s3") -> None:
        if flavor not in ("s3", "gcs"):
            raise ValueError("flavor must be 's3' or 'gcs'")
        self.target = target.rstrip("/")
        self.flavor = flavor
        self._random: random.Random | None = None
        self._p = 0.0
        self._kinds: tuple[str, ...] = TRANSIENT_KINDS
        self._random_match: Match = lambda r: True
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

    def add(self, kind: str, match: Match | None = None, *, times: int = 1, **options: Unpack[FaultOptions]) -> None:
        with self._lock:
            for _ in range(times):
                self.faults.append(Fault(kind, match or (lambda r: True), **options))

    def randomly(
        self, p: float, *, seed: int, kinds: tuple[str, ...] = TRANSIENT_KINDS, match: Match | None = None
    ) -> None:
        """From now on, each request (matching ``match``) fails with probability ``p`` (0 turns it off)."""
        with self._lock:
            self._random = random.Random(seed) if p > 0 else None
            self._p, self._kinds = p, kinds
            self._random_match = match or (lambda r: True)

    def error(self, status: int) -> ErrorAnswer:
        """An error answer shaped like the server's: ``proxy.add("status", **proxy.error(503))``."""
        if self.flavor == "gcs":
            return gcs_error(status)
        code = {503: "SlowDown", 429: "Throttling", 500: "InternalError"}.get(status, "InternalError")
        return s3_error(code, status)

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
            if self._random is not None and self._random_match(request) and self._random.random() < self._p:
                kind = self._random.choice(self._kinds)
                status = self._random.choice((500, 503, 429))
                self.applied.append(kind)
                return Fault(kind, self._random_match, **self.error(status))
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
        fault = self._take(request)
        if fault is not None and fault.kind == "stop_reading":
            await self._stop_reading(request, fault)
        body = await request.read()
        with self._lock:
            self.requests += 1
            self.request_bytes += len(body)
        if fault is not None and fault.kind == "status":
            return web.Response(status=fault.status, body=fault.body, headers=fault.headers)
        if fault is not None and fault.kind == "reset_before":
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if fault is not None and fault.kind == "stall":
            await asyncio.sleep(fault.delay)
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
            if fault is not None and fault.kind in ("reset_during", "truncate") and request.method == "HEAD":
                fault.kind = "reset_after"  # a HEAD answer has no body to cut: lose the answer instead
            if fault is not None and fault.kind == "reset_after":
                assert request.transport is not None
                request.transport.abort()
                raise asyncio.CancelledError
            if fault is not None and fault.kind == "strip_headers":
                # A server that does not know a feature says nothing of it: its headers are absent.
                out_headers = {k: v for k, v in out_headers.items() if k.lower() not in fault.headers}
            if "Location" in out_headers:
                out_headers["Location"] = out_headers["Location"].replace(self.target, self.url)
            if fault is not None and fault.kind == "flip_response" and payload:
                flipped = bytearray(payload)
                flipped[len(flipped) // 2] ^= 0xFF
                payload = bytes(flipped)
            if fault is not None and fault.kind == "reset_during":
                # An empty answer (an S3 PUT's) is announced as one byte long and cut before it.
                response = web.StreamResponse(status=upstream.status, headers=out_headers)
                response.content_length = len(payload) or 1
                await response.prepare(request)
                await response.write(payload[: len(payload) // 2])
                assert request.transport is not None
                request.transport.abort()
                return response
            if fault is not None and fault.kind == "truncate":
                head = [f"HTTP/1.1 {upstream.status} {upstream.reason}"]
                head += [f"{k}: {v}" for k, v in out_headers.items()]
                head += [f"Content-Length: {len(payload) or 64}", "Connection: close", "", ""]
                assert request.transport is not None
                request.transport.write("\r\n".join(head).encode("latin-1") + payload[: len(payload) // 2])
                request.transport.close()  # a clean close after a short body
                raise asyncio.CancelledError
            if request.method == "HEAD" and "Content-Length" in upstream.headers:
                response = web.StreamResponse(status=upstream.status, headers=out_headers)
                response.content_length = int(upstream.headers["Content-Length"])
                await response.prepare(request)
                await response.write_eof()
                return response
            return web.Response(status=upstream.status, body=payload, headers=out_headers)


    async def _stop_reading(self, request: web.Request, fault: Fault) -> None:
        """Read ``fault.after`` body bytes, then nothing more; drop the connection after ``fault.delay`` s.

        aiohttp pauses the socket once its own buffer holds 128 KiB that nobody reads, so the client
        stalls as soon as that and the kernel's socket buffers are full.
        """
        received = 0
        while received < fault.after:
            chunk = await request.content.read(min(65536, fault.after - received))
            if not chunk:
                break
            received += len(chunk)
        with self._lock:
            self.requests += 1
            self.request_bytes += received
        with contextlib.suppress(asyncio.TimeoutError):  # held until the delay ends or the proxy stops
            await asyncio.wait_for(self._stop_event.wait(), fault.delay)
        assert request.transport is not None
        request.transport.abort()
        raise asyncio.CancelledError


def s3_error(code: str, status: int) -> ErrorAnswer:
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>injected</Message></Error>'
    return {"status": status, "body": body.encode(), "headers": {"Content-Type": "application/xml"}}


def gcs_error(status: int) -> ErrorAnswer:
    """A GCS JSON-API error answer."""
    body = json.dumps({"error": {"code": status, "message": "injected", "errors": [{"reason": "backendError"}]}})
    return {"status": status, "body": body.encode(), "headers": {"Content-Type": "application/json"}}
