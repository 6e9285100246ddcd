"""A TCP proxy on 127.0.0.1 that models a network: a fixed delay per direction and an optional cap.

Every chunk read from one side is written to the other ``delay`` seconds later (order kept), so a
request/response exchange costs one round trip of ``2 × delay``. With ``--rate`` each connection is
also limited to that many bytes per second in each direction, like one TCP stream to a cloud object
store: N connections then get up to N times the rate.

It counts the bytes it carries; a line ``STATS`` (or ``RESET``) sent to the control port gets the
counters back as JSON, so a benchmark can report the bytes a client really moved.

Run: ``python proxy.py --target 127.0.0.1:PORT --port P --control-port C --delay 0.01 [--rate 64e6]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from dataclasses import dataclass

__all__ = ["Counters", "main"]

CHUNK = 256 * 1024
#: Chunks queued per direction before the reader waits: bounds the proxy's memory per connection.
QUEUE_CHUNKS = 64


@dataclass
class Counters:
    upstream_bytes: int = 0
    downstream_bytes: int = 0
    connections: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "upstream_bytes": self.upstream_bytes,
            "downstream_bytes": self.downstream_bytes,
            "connections": self.connections,
        }


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    delay: float,
    rate: float | None,
    counters: Counters,
    upstream: bool,
) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(QUEUE_CHUNKS)

    async def read_side() -> None:
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((time.monotonic(), b""))

    async def write_side() -> None:
        next_free = 0.0  # earliest time the capped link can send more
        try:
            while True:
                due, data = await queue.get()
                if not data:
                    break
                now = time.monotonic()
                wait = max(due, next_free) - now
                if wait > 0:
                    await asyncio.sleep(wait)
                if rate:
                    next_free = max(next_free, time.monotonic()) + len(data) / rate
                if upstream:
                    counters.upstream_bytes += len(data)
                else:
                    counters.downstream_bytes += len(data)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                if writer.can_write_eof():
                    writer.write_eof()
            except (ConnectionError, OSError, RuntimeError):
                pass

    reading = asyncio.create_task(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()


async def _serve(args: argparse.Namespace) -> None:
    host, port = args.target.rsplit(":", 1)
    counters = Counters()
    rate: float | None = args.rate or None

    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        counters.connections += 1
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        try:
            await asyncio.gather(
                _pump(client_reader, server_writer, args.delay, rate, counters, True),
                _pump(server_reader, client_writer, args.delay, rate, counters, False),
            )
        finally:
            for w in (client_writer, server_writer):
                try:
                    w.close()
                except (ConnectionError, OSError, RuntimeError):
                    pass

    async def control(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal counters
        line = (await reader.readline()).strip().upper()
        if line == b"RESET":
            counters.upstream_bytes = counters.downstream_bytes = counters.connections = 0
        writer.write(json.dumps(counters.as_dict()).encode() + b"\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", args.port, limit=CHUNK * 2)
    ctl = await asyncio.start_server(control, "127.0.0.1", args.control_port)
    print("ready", flush=True)
    async with server, ctl:
        await asyncio.gather(server.serve_forever(), ctl.serve_forever())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, help="HOST:PORT of the server")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.01, help="seconds added per direction")
    parser.add_argument("--rate", type=float, default=0.0, help="bytes/s per connection per direction; 0: none")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
