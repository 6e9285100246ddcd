"""The cohort read: a hive dataset of sites x months, read 3 sites x 6 months, 12 of 40 columns, age > 65.

    python benchmarks/cohort.py --quick   # 10 x 24 fragments of 4,000 rows (~0.3 GB), one round
    python benchmarks/cohort.py           # 10 x 24 fragments of 12,000 rows (~0.9 GB), three rounds

Runs in the benchmark venv (``setup.sh``). The dataset is written once by clinops_async straight to
the server; every read goes through ``proxy.py`` (10 ms each way, 64 MB/s per connection), which
counts the bytes. Each client reads in a fresh process, clients taking turns round after round; the
result of each is checked against the others. The table goes into ``benchmarks/RESULTS.md``
between the ``cohort`` markers.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from run import BUCKET, DELAY, HERE, RATE, Processes, ensure_venv, free_port, start_proxy, wait_http

#: "clinops_async, store open": the same read with the store opened (and its first connection made,
#: by one HEAD) before the clock starts: the read path without botocore's client creation.
CLIENTS = ["clinops_async", "clinops_async, store open", "pyarrow.dataset", "polars scan_parquet", "awswrangler",
           "duckdb httpfs"]
SITES = [f"S{i:02d}" for i in range(10)]
MONTHS = [f"{2023 + m // 12}-{m % 12 + 1:02d}" for m in range(24)]
WANTED_SITES, WANTED_MONTHS = SITES[:3], MONTHS[:6]
COLUMNS = ["subject_id", "age"] + [f"v{i:02d}" for i in range(38)]
WANTED = ["subject_id", "age"] + [f"v{i:02d}" for i in range(8)] + ["site", "month"]  # 12 of 40 (+2 partition)
PREFIX, NAME = "bench", "cohort"
ENV = {"AWS_ACCESS_KEY_ID": "S3RVER", "AWS_SECRET_ACCESS_KEY": "S3RVER", "AWS_DEFAULT_REGION": "us-east-1"}


def fragment(rows: int, seed: int) -> Any:
    import numpy as np
    import pyarrow as pa

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {
        "subject_id": pa.array(rng.integers(10_000_000, 99_999_999, rows), pa.int64()),
        "age": pa.array(rng.integers(18, 95, rows), pa.int16()),
    }
    for name in COLUMNS[2:]:
        data[name] = pa.array(rng.normal(0, 1, rows).round(3))
    return pa.table(data)


def write_dataset(endpoint: str, rows: int) -> None:
    import asyncio

    import pyarrow as pa

    from clinops_async import AsyncS3PipelineStore

    async def main() -> None:
        async with AsyncS3PipelineStore(BUCKET, PREFIX, endpoint_url=endpoint) as store:
            for i, site in enumerate(SITES):  # one site at a time: 24 fragments in flight, bounded memory
                parts = []
                for j, month in enumerate(MONTHS):
                    table = fragment(rows, i * 100 + j)
                    parts.append(table.append_column("site", pa.array([site] * rows))
                                 .append_column("month", pa.array([month] * rows)))
                mode = "error" if i == 0 else "append"
                await store.write_dataset(pa.concat_tables(parts), NAME, partition_cols=["site", "month"], mode=mode)

    asyncio.run(main())


def needed_bytes(endpoint: str) -> int:
    """The compressed size of the wanted column chunks in the wanted fragments, plus their footers."""
    import pyarrow.fs as pafs
    import pyarrow.parquet as pq

    fs = s3fs_pyarrow(endpoint)
    total = 0
    for site in WANTED_SITES:
        for month in WANTED_MONTHS:
            directory = f"{BUCKET}/{PREFIX}/{NAME}/site={site}/month={month}"
            for info in fs.get_file_info(pafs.FileSelector(directory)):
                with fs.open_input_file(info.path) as handle:
                    meta = pq.ParquetFile(handle).metadata
                total += meta.serialized_size + 8
                for rg in range(meta.num_row_groups):
                    group = meta.row_group(rg)
                    for c in range(group.num_columns):
                        if group.column(c).path_in_schema in WANTED:
                            total += group.column(c).total_compressed_size
    return total


def stored_bytes(endpoint: str) -> int:
    import pyarrow.fs as pafs

    fs = s3fs_pyarrow(endpoint)
    return sum(f.size or 0 for f in fs.get_file_info(pafs.FileSelector(f"{BUCKET}/{PREFIX}/{NAME}", recursive=True)))


def s3fs_pyarrow(endpoint: str) -> Any:
    import pyarrow.fs as pafs

    return pafs.S3FileSystem(endpoint_override=endpoint, scheme="http", access_key="S3RVER", secret_key="S3RVER",
                             region="us-east-1")


def read(client: str, endpoint: str) -> dict[str, Any]:
    """One read by ``client``; its wall time, rows, and (clinops_async) the worst event-loop stall."""
    columns = [c for c in WANTED if c not in ("site", "month")]
    ours = ["clinops_async._stores.s3.store", "pyarrow.dataset", "aiobotocore.session", "aiobotocore.config",
            "aiobotocore.httpsession"]
    imports = {"clinops_async": ours, "clinops_async, store open": ours,
               "pyarrow.dataset": ["pyarrow.dataset", "pyarrow.fs"], "polars scan_parquet": ["polars"],
               "awswrangler": ["awswrangler"], "duckdb httpfs": ["duckdb", "duckdb_extension_httpfs"]}
    for module in imports[client]:  # module imports are not the read: done before the clock starts
        importlib.import_module(module)
    start = time.perf_counter()
    stall = None
    if client.startswith("clinops_async"):
        rows, stall, opened = read_clinops(endpoint, open_first=client != "clinops_async")
        start += opened
    elif client == "pyarrow.dataset":
        import pyarrow.dataset as ds
        import pyarrow.fs as pafs

        fs, base = s3fs_pyarrow(endpoint), f"{BUCKET}/{PREFIX}/{NAME}"
        files = [f.path for f in fs.get_file_info(pafs.FileSelector(base, recursive=True)) if f.is_file]
        dataset = ds.dataset(files, filesystem=fs, format="parquet", partitioning="hive", partition_base_dir=base)
        rows = dataset.to_table(columns=WANTED, filter=row_filter()).num_rows
    elif client == "polars scan_parquet":
        import polars as pl

        options = {"aws_endpoint_url": endpoint, "aws_access_key_id": "S3RVER", "aws_secret_access_key": "S3RVER",
                   "aws_region": "us-east-1", "aws_allow_http": "true"}
        frame = pl.scan_parquet(f"s3://{BUCKET}/{PREFIX}/{NAME}/**/*.parquet", hive_partitioning=True,
                                storage_options=options)
        rows = frame.filter(pl.col("site").is_in(WANTED_SITES) & pl.col("month").is_in(WANTED_MONTHS)
                            & (pl.col("age") > 65)).select(WANTED).collect().height
    elif client == "awswrangler":
        import awswrangler as wr

        wr.config.s3_endpoint_url = endpoint
        frame = wr.s3.read_parquet(
            f"s3://{BUCKET}/{PREFIX}/{NAME}/", dataset=True, columns=columns,
            partition_filter=lambda p: p["site"] in WANTED_SITES and p["month"] in WANTED_MONTHS,
        )
        rows = int((frame["age"] > 65).sum())
    else:
        rows = read_duckdb(endpoint)
    return {"seconds": time.perf_counter() - start, "rows": rows, "stall_ms": stall}


def row_filter() -> Any:
    import pyarrow.compute as pc

    return pc.field("site").isin(WANTED_SITES) & pc.field("month").isin(WANTED_MONTHS) & (pc.field("age") > 65)


def read_clinops(endpoint: str, open_first: bool) -> tuple[int, float, float]:
    """Rows, worst loop stall (ms), and the seconds spent opening the store when ``open_first``
    (not part of that read's time)."""
    import asyncio

    from clinops_async import AsyncS3PipelineStore

    async def main() -> tuple[int, float, float]:
        worst = 0.0
        done = False
        opened = 0.0

        async def ticker() -> None:
            nonlocal worst
            while not done:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                worst = max(worst, time.perf_counter() - before - 0.01)

        began = time.perf_counter()
        store = AsyncS3PipelineStore(BUCKET, PREFIX, endpoint_url=endpoint)
        if open_first:
            await store.exists("not-there")  # opens the store: its client, connector and first connection
            opened = time.perf_counter() - began
        async with store:
            task = asyncio.create_task(ticker())  # from the open client on: the read itself
            table = await store.read_dataset(NAME, columns=WANTED, filters=row_filter(), result_type="arrow")
            done = True
            await task
        return table.num_rows, worst * 1000, opened

    return asyncio.run(main())


def read_duckdb(endpoint: str) -> int:
    import duckdb
    import duckdb_extension_httpfs

    # The extension comes from its PyPI package (offline): loaded from the file it ships.
    extension = next((Path(duckdb_extension_httpfs.__file__).parent / "extensions").glob("*/httpfs.duckdb_extension"))
    con = duckdb.connect(config={"allow_unsigned_extensions": "true"})
    con.execute(f"LOAD '{extension}'")
    host = endpoint.removeprefix("http://")
    con.execute(f"SET s3_endpoint='{host}'; SET s3_use_ssl=false; SET s3_url_style='path'; "
                "SET s3_access_key_id='S3RVER'; SET s3_secret_access_key='S3RVER'; SET s3_region='us-east-1'")
    sites = ", ".join(f"'{s}'" for s in WANTED_SITES)
    months = ", ".join(f"'{m}'" for m in WANTED_MONTHS)
    query = (f"SELECT {', '.join(WANTED)} FROM read_parquet('s3://{BUCKET}/{PREFIX}/{NAME}/*/*/*.parquet', "
             f"hive_partitioning=true) WHERE site IN ({sites}) AND month IN ({months}) AND age > 65")
    return len(con.execute(query).fetch_arrow_table())


def start_moto(procs: Processes) -> int:
    """moto's S3 server with the bucket: it answers every ranged read the peers send (s3rver 3.7 gives
    polars' object_store a whole object for some of them)."""
    import boto3

    port = free_port()
    process = procs.start([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)])
    wait_http(f"http://127.0.0.1:{port}/moto-api/", process)
    boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1").create_bucket(Bucket=BUCKET)
    return port


def proxy_stats(control_port: int, command: str) -> dict[str, int]:
    import socket

    with socket.create_connection(("127.0.0.1", control_port)) as conn:
        conn.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    return json.loads(data)  # type: ignore[no-any-return]


def measure(client: str, endpoint: str, control_port: int) -> dict[str, Any]:
    proxy_stats(control_port, "RESET")
    out = subprocess.run([sys.executable, __file__, "--one", client, "--endpoint", endpoint],
                         capture_output=True, text=True, timeout=600, env={**os.environ, **ENV}, check=False)
    if out.returncode:
        return {"error": out.stderr.strip().splitlines()[-1] if out.stderr.strip() else f"exit {out.returncode}"}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    stats = proxy_stats(control_port, "STATS")
    result["bytes"] = stats["upstream_bytes"] + stats["downstream_bytes"]
    return result


def report(results: dict[str, list[dict[str, Any]]], needed: int, meta: dict[str, Any]) -> str:
    lines = [
        "<!-- cohort -->",
        "## Cohort read (`benchmarks/cohort.py`)",
        "",
        f"Written on {meta['when']} in {meta['minutes']:.1f} min. Dataset: {len(SITES)} sites x {len(MONTHS)} "
        f"months = {len(SITES) * len(MONTHS)} fragments of {meta['rows']:,} rows x 40 columns (int64 id, int16 age, "
        f"38 float64), {meta['stored_mb']:.0f} MB of Parquet on moto's S3 server, written by clinops_async. "
        "Read: 3 sites x 6 months (18 fragments), 12 of the 40 columns (plus the 2 partition columns), "
        "`age > 65` (no row group is ruled out: ages are spread over every fragment). "
        "Network: `proxy.py`, 10 ms each way, 64 MB/s per connection."
        " Each read in a fresh process, timed from after its imports (client creation and listing included); "
        f"{meta['rounds']} round(s), clients taking turns; median "
        f"(min-max). Needed: {needed / 1e6:.2f} MB (the 12 columns' chunks of the 18 fragments and their footers). "
        "Loop stall: the longest extra delay of a task sleeping 10 ms during the read.",
        "",
        "| client | s | MB moved | moved / needed | rows | loop stall (ms) |",
        "|---|---|---|---|---|---|",
    ]
    for client, runs in results.items():
        ok = [r for r in runs if "error" not in r]
        if not ok:
            lines.append(f"| {client} | failed: {runs[0]['error'][:80]} | | | | |")
            continue
        secs = [r["seconds"] for r in ok]
        moved = statistics.median(r["bytes"] for r in ok)
        stall = statistics.median(r["stall_ms"] for r in ok) if ok[0]["stall_ms"] is not None else None
        span = f" ({min(secs):.2f}-{max(secs):.2f})" if len(secs) > 1 else ""
        lines.append(
            f"| {client} | {statistics.median(secs):.2f}{span} | {moved / 1e6:.2f} | {moved / needed:.2f} | "
            f"{ok[0]['rows']:,} | {'' if stall is None else f'{stall:.1f}'} |"
        )
    lines += ["", "`clinops_async, store open`: the same read with the store opened (client created, first "
              "connection made) before the clock starts. Peers are blocking clients (their loop stall does not "
              "apply). <!-- /cohort -->"]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--one")
    parser.add_argument("--endpoint")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(read(args.one, args.endpoint)))
        return
    ensure_venv(Path(__file__))
    os.environ.update(ENV)
    rows, rounds = (4_000, 1) if args.quick else (12_000, 3)
    began = time.monotonic()
    procs = Processes()
    try:
        with contextlib.nullcontext():
            port = start_moto(procs)
            direct = f"http://127.0.0.1:{port}"
            write_dataset(direct, rows)
            needed = needed_bytes(direct)
            stored = stored_bytes(direct)
            proxy = start_proxy(procs, port, DELAY, RATE)
            results: dict[str, list[dict[str, Any]]] = {c: [] for c in CLIENTS}
            for _ in range(rounds):
                for client in CLIENTS:
                    results[client].append(measure(client, proxy.url, proxy.control_port))
                    print(client, results[client][-1], flush=True)
    finally:
        procs.stop_all()
    meta = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "minutes": (time.monotonic() - began) / 60,
            "rows": rows, "rounds": rounds, "stored_mb": stored / 1e6}
    text = report(results, needed, meta)
    print(text)
    path = HERE / "RESULTS.md"
    current = path.read_text()
    if "<!-- cohort -->" in current:
        end = current.index("<!-- /cohort -->") + len("<!-- /cohort -->")
        current = current[: current.index("<!-- cohort -->")] + current[end:].lstrip("\n")
    path.write_text(current.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
