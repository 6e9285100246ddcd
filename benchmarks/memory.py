"""Peak memory of clinops_async's big workload, upload and download apart, against an earlier version.

    python benchmarks/memory.py --rounds 3 --baseline /path/to/an/earlier/checkout

One 512 MiB frame of 100 float64 columns (as ``run.py``'s big workload), SeaweedFS behind the 10 ms +
64 MB/s-per-connection proxy, each measurement in a fresh process (``clients.py``), the versions
taking turns round after round. The upload's peak is ``ru_maxrss`` after the upload; the download's
is ``VmHWM`` from a reset after the upload (see ``clients._big``); both include the interpreter.
It runs with the Python that runs it (no benchmark venv: only clinops_async is measured) and writes
its table into ``RESULTS.md`` between ``<!-- memory -->`` markers, below the other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import data  # noqa: E402
import run  # noqa: E402

__all__ = ["main"]

METRICS = ["rss_up_ratio", "rss_down_ratio", "rss_base_ratio", "up", "down", "stall_up_ms", "stall_down_ms"]


def _cell(values: list[float], digits: int) -> str:
    text = f"{statistics.median(values):.{digits}f}"
    return text + (f" ({min(values):.{digits}f}–{max(values):.{digits}f})" if len(values) > 1 else "")


def report(results: dict[str, list[dict[str, Any]]], meta: dict[str, Any]) -> str:
    lines = [
        "<!-- memory -->",
        "## Peak memory of the big workload (`benchmarks/memory.py`)",
        "",
        f"Written on {meta['when']} in {meta['minutes']:.1f} min: {meta['size']} MiB frame of 100 float64 columns, "
        f"SeaweedFS behind the proxy (10 ms each way, 64 MB/s per connection), {meta['rounds']} rounds, versions "
        f"taking turns, each run in a fresh process; {meta['machine']}. Medians (range). Peak RSS ÷ frame includes "
        "the frame and the interpreter (its share alone is the last ratio column).",
        "",
        "| version | peak / frame, upload | peak / frame, download | interpreter / frame | up (s) | down (s) | "
        "loop stall up (ms) | loop stall down (ms) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, runs in results.items():
        cells = [_cell([float(r[m]) for r in runs], 0 if m.startswith("stall") else 2) for m in METRICS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", "<!-- /memory -->"]
    return "\n".join(lines) + "\n"


def write_section(text: str) -> None:
    path = HERE / "RESULTS.md"
    current = path.read_text()
    if "<!-- memory -->" in current:
        end = current.index("<!-- /memory -->") + len("<!-- /memory -->")
        current = current[: current.index("<!-- memory -->")] + current[end:].lstrip("\n")
    path.write_text(current.rstrip("\n") + "\n\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mib", type=int, default=512)
    parser.add_argument("--baseline", type=Path, help="a checkout whose clinops_async is measured beside this one")
    parser.add_argument("--label", default="", help="what the baseline is (e.g. a commit), for the table")
    args = parser.parse_args()
    versions = {"this checkout": HERE.parent}
    if args.baseline:
        versions = {f"baseline ({args.label or args.baseline.name})": args.baseline.resolve(), **versions}
    began = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="clinops-memory-", dir="/dev/shm" if Path("/dev/shm").is_dir() else None))
    procs = run.Processes()
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in versions}
    try:
        matrix = scratch / "big.npy"
        data.save_matrix(matrix, args.mib * run.MiB, 100, seed=1)
        proxy = run.start_proxy(procs, run.start_seaweedfs(procs, scratch), run.DELAY, run.RATE)
        spec = {"bucket": run.BUCKET, "endpoint": proxy.url, "matrix": str(matrix), "client": "clinops_async",
                "workload": "big"}
        for _ in range(args.rounds):
            for name, root in versions.items():
                os.environ["PYTHONPATH"] = str(root)  # the measured process imports this version
                results[name].append(run.measure(spec, 900))
                print(name, json.dumps({m: round(results[name][-1][m], 3) for m in METRICS}), flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(scratch, ignore_errors=True)
    machine = (f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end, Python "
               f"{platform.python_version()}, pandas {version('pandas')}, pyarrow {version('pyarrow')}")
    meta = {"when": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "minutes": (time.monotonic() - began) / 60,
            "size": args.mib, "rounds": args.rounds, "machine": machine}
    text = report(results, meta)
    print(text)
    write_section(text)


if __name__ == "__main__":
    main()
