"""Sweep clinops_async's ``TransferConfig`` over the benchmark workloads; writes ``benchmarks/SWEEP.md``.

    python benchmarks/sweep.py            # part size x parts in flight (big), artifacts in flight (bulk)
    python benchmarks/sweep.py --runs 3   # medians of 3 (about 3 minutes per run of the grid)

The same servers, proxies and data as ``run.py`` (s3rver, 10 ms each way; 64 MB/s per connection for
the big workload), one fresh process per measurement, configurations taking turns round after round.
This is what the ``TransferConfig`` defaults were chosen from (see docs/performance.md).
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import run

MiB = 1024 * 1024
PART_SIZES = [8 * MiB, 16 * MiB, 32 * MiB]
IN_FLIGHT = [4, 8, 16]
BULK_IN_FLIGHT = [8, 16, 32]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--out", type=Path, default=run.HERE / "SWEEP.md")
    args = parser.parse_args()
    run.ensure_venv(Path(__file__))
    sizes = run.FULL
    shm = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    scratch = Path(tempfile.mkdtemp(prefix="clinops-sweep-", dir=shm))
    procs = run.Processes()
    started = time.monotonic()
    big: dict[tuple[int, int], list[dict[str, Any]]] = {k: [] for k in itertools.product(PART_SIZES, IN_FLIGHT)}
    bulk: dict[int, list[dict[str, Any]]] = {k: [] for k in BULK_IN_FLIGHT}
    try:
        (scratch / "s3").mkdir()
        s3_port, _ = run.start_s3rver(procs, scratch / "s3")
        rtt = run.start_proxy(procs, s3_port, run.DELAY, 0)
        # Big frames on SeaweedFS, which keeps full-object CRC32Cs as S3 does (see run.start_seaweedfs).
        capped = run.start_proxy(procs, run.start_seaweedfs(procs, scratch), run.DELAY, run.RATE)
        big_path = scratch / "big.npy"
        sys.path.insert(0, str(run.HERE))
        import data

        data.save_matrix(big_path, sizes.big_bytes, 100, seed=1)
        base = {"bucket": run.BUCKET, "client": "clinops_async"}
        for _ in range(args.runs):
            for (part, flight), results in big.items():
                spec = {**base, "workload": "big", "endpoint": capped.url, "matrix": str(big_path),
                        "transfer": {"part_size": part, "multipart_threshold": part, "max_concurrency": flight}}
                results.append(run.measure(spec, 300))
                print(f"  big  part {part // MiB} MiB x {flight}: {results[-1]}", flush=True)
            for flight, results in bulk.items():
                spec = {**base, "workload": "bulk", "endpoint": rtt.url, "count": sizes.bulk_count,
                        "transfer": {"bulk_concurrency": flight, "max_pool_connections": max(32, 2 * flight)}}
                results.append(run.measure(spec, 300))
                print(f"  bulk {flight} in flight: {results[-1]}", flush=True)
    finally:
        procs.stop_all()
        shutil.rmtree(scratch, ignore_errors=True)
    write(args.out, big, bulk, args.runs, time.monotonic() - started)
    print(f"wrote {args.out}")


def _median(runs: list[dict[str, Any]], metric: str) -> float:
    return statistics.median(float(r[metric]) for r in runs)


def write(path: Path, big: dict[tuple[int, int], list[dict[str, Any]]], bulk: dict[int, list[dict[str, Any]]],
          runs: int, elapsed: float) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# TransferConfig sweep",
        "",
        f"Written by `python benchmarks/sweep.py --runs {runs}` on {now} in {elapsed / 60:.1f} min, on the "
        "conditions of `RESULTS.md` (s3rver; 10 ms each way; 64 MB/s per connection for the big workload). "
        f"Medians of {runs} run(s) per configuration on a shared 2-core machine: compare within the table.",
        "",
        "## Big: 512 MiB frame, upload + download (s), by part size and parts in flight",
        "",
        "| part size | " + " | ".join(f"{f} in flight" for f in IN_FLIGHT) + " |",
        "|---|" + "---|" * len(IN_FLIGHT),
    ]
    for part in PART_SIZES:
        cells = []
        for flight in IN_FLIGHT:
            r = big[(part, flight)]
            cells.append(f"{_median(r, 'total'):.2f} (up {_median(r, 'up'):.2f}, down {_median(r, 'down'):.2f}; "
                         f"RSS {_median(r, 'rss_ratio'):.2f}×)")
        lines.append(f"| {part // MiB} MiB | " + " | ".join(cells) + " |")
    lines += ["", "## Bulk: 200 × ~1 MB, upload + download (s), by artifacts in flight", "",
              "| artifacts in flight | up + down | up | down |", "|---|---|---|---|"]
    for flight, r in bulk.items():
        lines.append(f"| {flight} | {_median(r, 'total'):.2f} | {_median(r, 'up'):.2f} | {_median(r, 'down'):.2f} |")
    path.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
