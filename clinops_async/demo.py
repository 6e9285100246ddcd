"""The main job on the embedded local store, no cloud account needed: ``python -m clinops_async.demo``.

Generates synthetic ICU feature windows for a few hundred patients, uploads one artifact per ICU
stay concurrently, lists them, downloads them all back, verifies every frame is identical,
and prints a short report.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import time
from pathlib import Path

import pandas as pd

from . import AsyncLocalPipelineStore, __version__
from .synthetic import icu_windows

__all__ = ["main", "run"]


async def run(root: Path, *, stays: int = 300, hours: int = 72) -> int:
    """Run the demo job under ``root`` and print what happened; returns a process exit code."""
    started = time.perf_counter()
    windows = await asyncio.to_thread(icu_windows, stays, hours, seed=7)
    artifacts = {f"features/stay_{stay_id}": group for stay_id, group in windows.groupby("stay_id")}
    print(f"clinops_async {__version__}: demo on the embedded local store at {root}")
    print(f"  generated {len(windows):,} hourly windows for {stays} ICU stays "
          f"({windows.shape[1]} columns) in {time.perf_counter() - started:.2f} s")

    async with AsyncLocalPipelineStore(root, "clinops/demo/v1") as store:
        t0 = time.perf_counter()
        uploaded = await store.upload_many(artifacts, concurrency=16)
        t_up = time.perf_counter() - t0
        names = await store.list_artifacts("features/")
        t0 = time.perf_counter()
        downloaded = await store.download_many(names, concurrency=16)
        t_down = time.perf_counter() - t0
        mismatched = [n for n in names if n in downloaded.values and not _same(downloaded.values[n], artifacts[n])]
        info = await store.info(names[0]) if names else None
        total_bytes = sum([(await store.info(n)).size for n in names])

    print(f"  uploaded   {len(uploaded.succeeded)}/{len(artifacts)} artifacts "
          f"({total_bytes / 1e6:.1f} MB Parquet) in {t_up:.2f} s")
    print(f"  listed     {len(names)} artifacts under features/")
    print(f"  downloaded {len(downloaded.succeeded)}/{len(names)} in {t_down:.2f} s")
    if info is not None:
        print(f"  e.g. {info.name}: {info.rows} rows x {info.columns} columns, {info.size:,} bytes")
    failures = len(uploaded.failed) + len(downloaded.failed) + len(mismatched)
    if failures or len(names) != len(artifacts):
        print(f"FAILED: {failures} failures, {len(names)} listed of {len(artifacts)}")
        return 1
    print(f"  verified   every artifact round-tripped exactly; total {time.perf_counter() - started:.2f} s")
    return 0


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a, b)
    except AssertionError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinops_async.demo", description=__doc__)
    parser.add_argument("--root", type=Path, default=Path(".demo-store"), help="store directory (recreated)")
    parser.add_argument("--stays", type=int, default=300, help="synthetic ICU stays")
    parser.add_argument("--hours", type=int, default=72, help="hourly windows per stay")
    args = parser.parse_args(argv)
    if args.root.exists():
        shutil.rmtree(args.root)
    return asyncio.run(run(args.root, stays=args.stays, hours=args.hours))


if __name__ == "__main__":
    raise SystemExit(main())
