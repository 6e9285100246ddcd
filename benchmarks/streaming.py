"""Larger than memory and listing, side by side in one run: ``python benchmarks/streaming.py``.

    python benchmarks/streaming.py --gib 1 --objects 100000      # what RESULTS.md reports
    python benchmarks/streaming.py --gib 0.25 --objects 5000     # a quick look

It starts SeaweedFS (``clinops_async.testing.start_seaweedfs``: a real S3 server, which keeps
full-object CRC32C checksums, so a streamed write goes up in parts as it would on S3) and talks to it
over loopback, with no delay or rate limit: the numbers are the clients' own CPU and memory. Every
measurement runs in a fresh process of its own (``--measure``), which reports its wall time, its
resident memory before the workload (imports done, client open: the baseline) and its peak, and the
longest stall of its event loop (a 5 ms ticker). Peers come from the benchmark venv
(``benchmarks/setup.sh``); everything started is stopped by its process id.

- **larger than memory**: ``upload_batches`` of N GiB of float64 batches (made batch by batch from
  one 16 MiB seed, so the stream is never in memory) against ``upload`` of the same N GiB frame; and
  ``iter_batches`` over the artifact against ``download`` of it whole;
- **listing**: N zero-byte ``.parquet`` objects (created with boto3, 32 threads) listed by
  ``iter_artifacts``, ``list_artifacts``, obstore's ``list`` and s3fs ``find(detail=True)``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PEER_PYTHON = HERE / ".work" / "venv" / "bin" / "python"
BUCKET = "bench"
MiB = 1 << 20
COLUMNS = 16
SEED_ROWS = 16 * MiB // (COLUMNS * 8)  # a 16 MiB seed: 16 columns of 131,072 float64


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak() -> int:
    """This process's resident high-water mark. Not ``ru_maxrss``: Linux carries that across fork and
    exec, so a child would report its parent's peak when it is the larger."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


class Stalls:
    """The longest time the event loop was late for a 5 ms tick."""

    def __init__(self) -> None:
        self.worst = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.005
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, loop.time() - due)


def _seed() -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    return pd.DataFrame({f"c{i:02d}": rng.random(SEED_ROWS) for i in range(COLUMNS)})


def _batches(total: int) -> Any:
    """``total`` bytes of float64 frames, 16 MiB each, each made fresh from the seed."""
    seed = _seed()
    for number in range(max(1, total // (16 * MiB))):
        yield seed + number


# -- measurements (in a fresh process) -------------------------------------------------------------------


async def _clinops(spec: dict[str, Any]) -> dict[str, Any]:
    import pandas as pd

    from clinops_async import AsyncS3PipelineStore

    result: dict[str, Any] = {}
    async with AsyncS3PipelineStore(BUCKET, "big", endpoint_url=spec["endpoint"]) as store:
        await store.exists("warm-up")  # the client is open: part of the baseline
        op, total = spec["op"], spec["bytes"]
        whole = pd.concat(list(_batches(total)), ignore_index=True) if op == "upload" else None
        stalls = Stalls()
        ticker = asyncio.create_task(stalls.run())
        result["baseline"] = _rss()
        start = time.perf_counter()
        if op == "upload_batches":
            await store.upload_batches(_batches(total), "stream")
        elif op == "upload":
            await store.upload(whole, "whole")
        elif op == "iter_batches":
            rows = 0
            async for batch in store.iter_batches("stream", batch_rows=SEED_ROWS):
                rows += len(batch)
            result["rows"] = rows
        elif op == "download":
            result["rows"] = len(await store.download("stream"))
        result["seconds"] = time.perf_counter() - start
        ticker.cancel()
        result["stall"] = stalls.worst
        result["size"] = (await store.info("stream" if op != "upload" else "whole")).size
    return result


async def _clinops_list(spec: dict[str, Any]) -> dict[str, Any]:
    from clinops_async import AsyncS3PipelineStore

    async with AsyncS3PipelineStore(BUCKET, endpoint_url=spec["endpoint"]) as store:
        await store.exists("warm-up")
        stalls = Stalls()
        ticker = asyncio.create_task(stalls.run())
        baseline = _rss()
        start = time.perf_counter()
        if spec["client"] == "clinops_async iter_artifacts":
            found = [entry async for entry in store.iter_artifacts("list/")]
        else:
            found = await store.list_artifacts("list/")  # type: ignore[assignment]
        seconds = time.perf_counter() - start
        ticker.cancel()
    return {"seconds": seconds, "baseline": baseline, "count": len(found), "stall": stalls.worst}


def _peer_list(spec: dict[str, Any]) -> dict[str, Any]:
    credentials = {"key": "bench", "secret": "bench"}
    if spec["client"] == "obstore list":
        import obstore
        from obstore.store import S3Store

        store = S3Store(BUCKET, endpoint=spec["endpoint"], access_key_id="bench", secret_access_key="bench",
                        region="us-east-1", client_options={"allow_http": True}, virtual_hosted_style_request=False)
        list(obstore.list(store, "warm-up/"))
        baseline = _rss()
        start = time.perf_counter()
        found = [meta for page in obstore.list(store, "list/") for meta in page]
    else:
        import s3fs

        fs = s3fs.S3FileSystem(client_kwargs={"endpoint_url": spec["endpoint"], "region_name": "us-east-1"},
                               **credentials)
        fs.exists(f"{BUCKET}/warm-up")
        baseline = _rss()
        start = time.perf_counter()
        found = list(fs.find(f"{BUCKET}/list/", detail=True).values())
    return {"seconds": time.perf_counter() - start, "baseline": baseline, "count": len(found), "stall": None}


def measure(spec: dict[str, Any]) -> None:
    if spec["kind"] == "big":
        result = asyncio.run(_clinops(spec))
    elif spec["client"].startswith("clinops_async"):
        result = asyncio.run(_clinops_list(spec))
    else:
        result = _peer_list(spec)
    result["peak"] = _peak()
    print(json.dumps(result))


# -- the run ---------------------------------------------------------------------------------------------


def _run(spec: dict[str, Any], python: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
           "AWS_DEFAULT_REGION": "us-east-1"}
    done = subprocess.run([python, __file__, "--measure", json.dumps(spec)], capture_output=True, text=True,
                          env=env, timeout=3600)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300]}
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _create_objects(endpoint: str, count: int) -> float:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                          aws_secret_access_key="bench")
    start = time.perf_counter()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda i: client.put_object(Bucket=BUCKET, Key=f"list/a{i:06d}.parquet", Body=b""),
                      range(count)))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    parser.add_argument("--gib", type=float, default=1.0, help="Size of the larger-than-memory artifact (GiB).")
    parser.add_argument("--objects", type=int, default=100_000, help="Objects to list.")
    parser.add_argument("--skip", choices=["big", "list"], action="append", default=[])
    parser.add_argument("--rounds", type=int, default=2, help="Rounds of each measurement, clients taking turns.")
    parser.add_argument("--ops", nargs="+", default=["upload_batches", "upload", "iter_batches", "download"],
                        help="The larger-than-memory measurements to run (all by default).")
    args = parser.parse_args()
    if args.measure:
        measure(json.loads(args.measure))
        return
    import boto3

    from clinops_async.testing import start_seaweedfs

    server = start_seaweedfs()
    results: dict[str, Any] = {"gib": args.gib, "objects": args.objects}
    try:
        boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id="bench",
                     aws_secret_access_key="bench").create_bucket(Bucket=BUCKET)
        if "big" not in args.skip:
            total = int(args.gib * (1 << 30))
            for _round in range(args.rounds):  # clients take turns, so drifting load spreads over all
                for op in args.ops:
                    spec = {"kind": "big", "op": op, "bytes": total, "endpoint": server.url}
                    results.setdefault(op, []).append(_run(spec, sys.executable))
                    print(op, results[op][-1], flush=True)
        if "list" not in args.skip:
            results["create_seconds"] = _create_objects(server.url, args.objects)
            print("created", args.objects, "in", round(results["create_seconds"], 1), "s", flush=True)
            clients = ["clinops_async iter_artifacts", "clinops_async list_artifacts", "obstore list", "s3fs find"]
            for _round in range(args.rounds):  # clients take turns here too
                for client in clients:
                    python = sys.executable if client.startswith("clinops") else str(PEER_PYTHON)
                    spec = {"kind": "list", "client": client, "endpoint": server.url}
                    results.setdefault(client, []).append(_run(spec, python))
                    print(client, results[client][-1], flush=True)
    finally:
        server.stop()
    out = HERE / ".work" / f"streaming-{'-'.join(sorted({'big', 'list'} - set(args.skip)))}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    print("written", out)


if __name__ == "__main__":
    main()
