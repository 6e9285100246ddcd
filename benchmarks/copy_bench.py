"""Server-side copy between prefixes: clinops_async against download-then-upload, s3fs and obstore.

Two workloads on one bucket of SeaweedFS (which implements CopyObject and UploadPartCopy), each
reached through ``proxy.py`` (10 ms per direction, every connection capped at ``--rates``, one run
per rate):

- **big**: one large Parquet artifact (``--big-mib``) copied to another prefix;
- **bulk**: ``--count`` artifacts of about 1 MB copied from one prefix to another.

Clients, interleaved within each round, each into a fresh destination prefix (checked whole and
removed after the clock stops). Each copies the prefix the way its users would: a listing, then the
copies; ``names`` variants are handed the 1,000 names instead:

- ``clinops copy``: ``store.copy`` / ``store.copy_prefix`` with the defaults (one CopyObject per
  artifact, ``TransferConfig.copy_concurrency`` in flight); ``(verify)`` with ``verify=True`` (a HEAD
  of the source first and the copy compared with it); ``(parts)`` with UploadPartCopy parts from
  ``TransferConfig.copy_threshold``, set to 256 MiB so that the big artifact goes in parts;
  ``clinops copy_many``: ``copy_many`` of the names;
- ``clinops down+up``: ``download`` then ``upload`` (``download_many`` then ``upload_many``), what a
  user without a copy does;
- ``s3fs``: ``S3FileSystem._copy(src/, dst/, recursive=True)`` (a listing, then CopyObject below
  5 GiB); ``s3fs names``: one ``_copy`` of two lists;
- ``obstore (N)``: ``obstore.list`` of the prefix, then ``obstore.copy_async`` (CopyObject), N at a
  time; ``obstore (N) names``: the names given.

It reports wall time, the bytes the proxy carried (both directions) and the event-loop stall (a task
sleeping 10 ms in a loop; its longest extra delay). Run with the benchmark venv (``setup.sh``) and
the repository on ``PYTHONPATH``; SeaweedFS's ``weed`` must be on ``PATH``:

    PYTHONPATH=. benchmarks/.work/venv/bin/python benchmarks/copy_bench.py --big-mib 1024 --count 1000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MiB = 1024 * 1024
BUCKET = "copybench"
DELAY = 0.010
CONCURRENCY = 16
CLIENTS = ["clinops copy", "clinops copy (verify)", "clinops copy (parts)", "clinops copy_many", "clinops down+up",
           "s3fs", "s3fs names", "obstore (16)", "obstore (32)", "obstore (32) names"]
#: Copies in flight for ``clinops copy`` (``concurrency=`` of ``copy_prefix``; None: the store's default,
#: ``TransferConfig.copy_concurrency``); set by ``--copy-concurrency``.
COPY_CONCURRENCY: dict[str, int | None] = {"value": None}
POOL: dict[str, int | None] = {"value": None}
#: ``--gc-freeze``: freeze the collector after each client is opened (docs/performance.md's recipe).
GC_FREEZE = {"value": False}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _in_flight(client: str) -> int | None:
    """The number in a client's name, ``obstore (64)``: that many copies in flight."""
    found = re.search(r"\((\d+)", client)
    return int(found.group(1)) if found else None


def start_proxy(target: str, rate: float) -> tuple[subprocess.Popen[bytes], str, int]:
    port, control = free_port(), free_port()
    target_port = target.rsplit(":", 1)[1]
    process = subprocess.Popen([
        sys.executable, str(HERE / "proxy.py"), "--target", f"127.0.0.1:{target_port}", "--port", str(port),
        "--control-port", str(control), "--delay", str(DELAY), "--rate", str(rate),
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", control), timeout=1).close()
            return process, f"http://127.0.0.1:{port}", control
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the proxy did not start")


def proxy_bytes(control: int, command: str = "STATS") -> int:
    with socket.create_connection(("127.0.0.1", control), timeout=5) as sock:
        sock.sendall(command.encode() + b"\n")
        answer = json.loads(sock.makefile().readline())
    return int(answer["upstream_bytes"]) + int(answer["downstream_bytes"])


def machine_busy(since: tuple[float, float, float] | None = None) -> tuple[float, float, float]:
    """The machine's busy share of all cores since ``since`` (first item), from ``/proc/stat``."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle, total = fields[3] + fields[4], sum(fields)
    if since is None:
        return (0.0, idle, total)
    return (1 - (idle - since[1]) / max(total - since[2], 1.0), idle, total)


class Heartbeat:
    """The longest extra delay of a task sleeping 10 ms in a loop: how long the event loop stalled."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        while True:
            start = time.perf_counter()
            await asyncio.sleep(0.01)
            self.worst = max(self.worst, time.perf_counter() - start - 0.01)


def frame_of(size: int, seed: int) -> pd.DataFrame:
    """Incompressible float64 columns of about ``size`` bytes as Parquet."""
    rows = max(1, size // (8 * 8))
    rng = np.random.default_rng(seed)
    return pd.DataFrame({f"c{i}": rng.random(rows) for i in range(8)})


async def prepare(endpoint: str, big_mib: int, count: int) -> None:
    import boto3

    from clinops_async import AsyncS3PipelineStore, TransferConfig

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                 aws_secret_access_key="x").create_bucket(Bucket=BUCKET)
    transfer = TransferConfig(bulk_concurrency=8)
    async with AsyncS3PipelineStore(BUCKET, endpoint_url=endpoint, transfer=transfer) as store:
        await store.upload(frame_of(big_mib * MiB, 0), "big/src/artifact")
        for start in range(0, count, 100):
            batch = {f"bulk/src/a{i:05d}": frame_of(MiB, i + 1) for i in range(start, min(start + 100, count))}
            assert (await store.upload_many(batch)).ok


def _store(endpoint: str, parts: bool) -> Any:
    from clinops_async import AsyncS3PipelineStore, TransferConfig

    # "(parts)": UploadPartCopy from 256 MiB, 64 MiB parts, 8 at once; otherwise the defaults
    # (CopyObject below 5 GiB), as the peers copy.
    transfer = TransferConfig(copy_threshold=256 * MiB, copy_part_size=64 * MiB) if parts else TransferConfig()
    if POOL["value"]:
        transfer = dataclasses.replace(transfer, max_pool_connections=POOL["value"])
    return AsyncS3PipelineStore(BUCKET, endpoint_url=endpoint, transfer=transfer)


async def open_client(client: str, endpoint: str) -> tuple[Any, Any]:
    """The client's handle, opened before the clock starts (imports, credentials, connection setup),
    and how to close it."""
    if client.startswith("clinops"):
        store = _store(endpoint, parts=client.endswith("(parts)"))
        await store.__aenter__()
        await store.exists("warm-up")  # opens the aiobotocore client
        return store, store.aclose
    if client.startswith("s3fs"):
        import s3fs

        fs = s3fs.S3FileSystem(key="x", secret="x", endpoint_url=endpoint, asynchronous=True)
        session = await fs.set_session()
        return fs, session.close
    from obstore.store import S3Store

    store = S3Store(BUCKET, endpoint=endpoint, access_key_id="x", secret_access_key="x", region="us-east-1",
                    client_options={"allow_http": True})

    async def nothing() -> None:
        return None

    return store, nothing


async def run_client(client: str, handle: Any, workload: str, dst: str, count: int) -> None:
    """Copy everything under ``{workload}/src/`` to ``dst`` the client's way."""
    src = f"{workload}/src/"
    names = ["artifact"] if workload == "big" else [f"a{i:05d}" for i in range(count)]
    if client.startswith("clinops copy_many"):  # the names given, as to the "names given" peers
        result = await handle.copy_many({src + n: dst + n for n in names}, concurrency=_in_flight(client))
        assert result.ok, result
    elif client.startswith("clinops copy"):
        concurrency = _in_flight(client) or COPY_CONCURRENCY["value"]
        result = await handle.copy_prefix(src, dst, concurrency=concurrency, verify=client.endswith("(verify)"))
        assert result.ok and len(result) == len(names), result
    elif client == "clinops down+up":
        if workload == "big":
            await handle.upload(await handle.download(src + "artifact"), dst + "artifact")
        else:
            frames = await handle.download_many([src + n for n in names])
            assert (await handle.upload_many({dst + n[len(src):]: df for n, df in frames.values.items()})).ok
    elif client.startswith("s3fs"):
        if "names" in client:
            pairs = [(f"{BUCKET}/{src}{n}.parquet", f"{BUCKET}/{dst}{n}.parquet") for n in names]
            await handle._copy([a for a, _ in pairs], [b for _, b in pairs])
        else:  # its own prefix copy: a listing, then CopyObject for each object
            await handle._copy(f"{BUCKET}/{src}", f"{BUCKET}/{dst}", recursive=True)
    else:
        await _obstore_copy(client, handle, src, dst, names)


async def _obstore_copy(client: str, handle: Any, src: str, dst: str, names: list[str]) -> None:
    """obstore has no prefix copy: list the prefix (unless the names are given), then ``copy_async``
    each object, ``_in_flight(client)`` at once."""
    import obstore

    if "names" in client:
        keys = [f"{src}{n}.parquet" for n in names]
    else:
        keys = [meta["path"] async for batch in obstore.list(handle, src) for meta in batch]
    semaphore = asyncio.Semaphore(_in_flight(client) or CONCURRENCY)

    async def one(key: str) -> None:
        async with semaphore:
            await obstore.copy_async(handle, key, dst + key[len(src):])

    await asyncio.gather(*(one(key) for key in keys))


def _finish(endpoint: str, dst: str, expected: int) -> None:
    """Check that the copy is whole (outside the clock), then remove it so the server's disk holds
    one copy at a time."""
    import boto3

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=dst)
    keys = [item["Key"] for page in pages for item in page.get("Contents", ())]
    assert len(keys) == expected, (dst, len(keys), expected)
    for start in range(0, len(keys), 1000):
        client.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]]})


async def measure(client: str, workload: str, endpoint: str, control: int, count: int) -> dict[str, float]:
    handle, close = await open_client(client, endpoint)
    dst = f"{workload}/dst-{uuid.uuid4().hex[:8]}/"
    if GC_FREEZE["value"]:
        gc.collect()
        gc.freeze()
    try:
        proxy_bytes(control, "RESET")
        beat = Heartbeat()
        ticker = asyncio.get_running_loop().create_task(beat.run())
        machine, cpu, start = machine_busy(), time.process_time(), time.perf_counter()
        await run_client(client, handle, workload, dst, count)
        seconds = time.perf_counter() - start
        cpu, machine = time.process_time() - cpu, machine_busy(machine)
        ticker.cancel()
        moved = proxy_bytes(control)
    finally:
        await close()
    _finish(endpoint, dst, 1 if workload == "big" else count)
    return {"seconds": seconds, "mb_moved": moved / 1e6, "stall_ms": beat.worst * 1000, "client_cpu_s": cpu,
            "machine_busy": machine[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--rates", default="25e6,100e6", help="per-connection caps, bytes per second")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument("--workloads", default="big,bulk")
    parser.add_argument("--copy-concurrency", type=int, default=None)
    parser.add_argument("--pool", type=int, default=None, help="TransferConfig.max_pool_connections for clinops")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after each client is opened")
    parser.add_argument("--out", type=Path, default=HERE / ".work" / "copy_bench.json")
    args = parser.parse_args()
    COPY_CONCURRENCY["value"] = args.copy_concurrency
    POOL["value"] = args.pool
    GC_FREEZE["value"] = args.gc_freeze
    from clinops_async.testing import start_seaweedfs

    server = start_seaweedfs()  # started without AWS_* in its environment: it then takes any key
    os.environ.update(AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
    results: list[dict[str, Any]] = []
    try:
        asyncio.run(prepare(server.url, args.big_mib, args.count))
        for rate in (float(r) for r in args.rates.split(",")):
            proxy, endpoint, control = start_proxy(server.url, rate)
            try:
                for round_ in range(args.rounds):
                    for workload in args.workloads.split(","):
                        for client in args.clients.split(","):
                            row = asyncio.run(measure(client, workload, endpoint, control, args.count))
                            row.update(client=client, workload=workload, rate_mb_s=rate / 1e6, round=round_)
                            results.append(row)
                            print(json.dumps(row), flush=True)
            finally:
                proxy.terminate()
                proxy.wait(10)
    finally:
        server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
