"""A tour of the main job, offline and with no cloud account: ``python -m clinops_async.demo``.

1. Generates synthetic ICU feature windows (one artifact per ICU stay).
2. Moves them concurrently to the embedded local store, and to local S3 and GCS servers when they
   are installed (moto, gcp-storage-emulator: ``pip install 'clinops-async[demo]'``), listing,
   downloading and verifying every artifact on each.
3. Reads a few columns of a wide feature matrix, moving only the bytes those columns need.
4. Runs a small pipeline to completion on moto's local Step Functions interpreter.
5. Prints what happened, with timings.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import shutil
import time
import uuid
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import (
    AsyncGCSPipelineStore,
    AsyncLocalPipelineStore,
    AsyncPipelineStore,
    AsyncS3PipelineStore,
    AsyncStepFunctionsPipeline,
    PassStep,
    PipelineStep,
    __version__,
)
from .synthetic import icu_windows

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

__all__ = ["main", "run"]

ACCOUNT = "123456789012"


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    try:
        pd.testing.assert_frame_equal(a, b)
    except AssertionError:
        return False
    return True


class _Report:
    def __init__(self) -> None:
        self.failures = 0

    def line(self, text: str) -> None:
        print(f"  {text}", flush=True)

    def fail(self, text: str) -> None:
        self.failures += 1
        print(f"  FAILED: {text}", flush=True)


async def _round_trip(
    store: AsyncPipelineStore, label: str, artifacts: dict[str, pd.DataFrame], report: _Report
) -> None:
    t0 = time.perf_counter()
    uploaded = await store.upload_many(artifacts, concurrency=16)
    t_up = time.perf_counter() - t0
    names = await store.list_artifacts("features/")
    t0 = time.perf_counter()
    downloaded = await store.download_many(names, concurrency=16)
    t_down = time.perf_counter() - t0
    frames = downloaded.values
    mismatched = [n for n in names if n in frames and not _same(frames[n], artifacts[n])]
    report.line(
        f"{label:<6} up {len(uploaded.succeeded)}/{len(artifacts)} in {t_up:.2f} s, listed {len(names)}, "
        f"down {len(downloaded.succeeded)} in {t_down:.2f} s, {len(mismatched)} mismatched"
    )
    if uploaded.failed or downloaded.failed or mismatched or len(names) != len(artifacts):
        report.fail(f"{label}: {len(uploaded.failed)} uploads and {len(downloaded.failed)} downloads failed")


async def _projection(store: AsyncPipelineStore, label: str, report: _Report) -> None:
    rng = np.random.default_rng(3)
    wide = pd.DataFrame(rng.normal(size=(20_000, 400)), columns=[f"feature_{i:03d}" for i in range(400)])
    await store.upload(wide, "features/matrix_wide")
    size = (await store.info("features/matrix_wide")).size
    moved = 0

    def count(done: int, total: int) -> None:
        nonlocal moved
        moved = done

    wanted = ["feature_007", "feature_123", "feature_399"]
    t0 = time.perf_counter()
    part = await store.download("features/matrix_wide", columns=wanted, progress=count)
    elapsed = time.perf_counter() - t0
    report.line(
        f"{label:<6} projection: 3 of 400 columns of a {size / 1e6:.0f} MB artifact moved "
        f"{moved / 1e6:.1f} MB in {elapsed:.2f} s"
    )
    if not _same(part, wide[wanted]):
        report.fail(f"{label}: projected columns differ")


@asynccontextmanager
async def _server(start: Callable[[], Any]) -> AsyncIterator[Any]:
    server = await asyncio.to_thread(start)
    try:
        yield server
    finally:
        await asyncio.to_thread(server.stop)


async def _s3_leg(artifacts: dict[str, pd.DataFrame], report: _Report) -> None:
    import boto3  # type: ignore[import-untyped]

    from .testing import start_moto

    async with _server(start_moto) as moto:
        os.environ.setdefault("AWS_ACCESS_KEY_ID", "demo")
        os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "demo")
        client = boto3.client("s3", endpoint_url=moto.url, region_name="us-east-1")
        await asyncio.to_thread(client.create_bucket, Bucket="clinops-demo")
        async with AsyncS3PipelineStore("clinops-demo", "clinops/demo/v1", endpoint_url=moto.url) as store:
            await _round_trip(store, "s3", artifacts, report)
            await _projection(store, "s3", report)
        await _pipeline_leg(moto.url, report)


async def _pipeline_leg(endpoint: str, report: _Report) -> None:
    pipeline = AsyncStepFunctionsPipeline(
        f"clinops-demo-{uuid.uuid4().hex[:8]}", f"arn:aws:iam::{ACCOUNT}:role/StepFunctionsRole",
        endpoint_url=endpoint,
    )
    lambda_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:clinops-{{}}"
    pipeline.add_step(PipelineStep("Ingest", lambda_arn.format("ingest"), parameters={"source": "synthetic"}))
    pipeline.add_step(PipelineStep("Preprocess", lambda_arn.format("preprocess"), retry_attempts=2))
    pipeline.add_step(PassStep("FeatureExtraction", result={"features": "features/", "status": "extracted"}))
    async with pipeline:
        t0 = time.perf_counter()
        await pipeline.deploy()
        result = await pipeline.run(input_data={"date": "2024-01-15"}, raise_on_failure=False)
        elapsed = time.perf_counter() - t0
    report.line(f"sfn    pipeline Ingest -> Preprocess -> FeatureExtraction: {result.status} in {elapsed:.2f} s, "
                f"output {result.output}")
    if result.status != "SUCCEEDED":
        report.fail(f"pipeline ended {result.status}: {result.error}")


async def _gcs_leg(artifacts: dict[str, pd.DataFrame], report: _Report) -> None:
    import urllib.request

    from .testing import start_gcs_emulator

    async with _server(start_gcs_emulator) as gcs:
        request = urllib.request.Request(
            f"{gcs.url}/storage/v1/b?project=demo", data=b'{"name": "clinops-demo"}', method="POST",
            headers={"Content-Type": "application/json"},
        )
        await asyncio.to_thread(lambda: urllib.request.urlopen(request, timeout=10).close())
        async with AsyncGCSPipelineStore("clinops-demo", "clinops/demo/v1", emulator_host=gcs.url) as store:
            await _round_trip(store, "gcs", artifacts, report)


async def run(root: Path, *, stays: int = 300, hours: int = 72, servers: bool = True) -> int:
    """Run the tour with the local store under ``root``; returns a process exit code."""
    started = time.perf_counter()
    report = _Report()
    windows = await asyncio.to_thread(icu_windows, stays, hours, seed=7)
    artifacts = {f"features/stay_{stay_id}": group for stay_id, group in windows.groupby("stay_id")}
    print(f"clinops_async {__version__}: a tour of the main job, offline")
    report.line(f"data   {len(windows):,} hourly windows for {stays} synthetic ICU stays, {windows.shape[1]} columns, "
                f"{len(artifacts)} artifacts")

    async with AsyncLocalPipelineStore(root, "clinops/demo/v1") as store:
        await _round_trip(store, "local", artifacts, report)
        info = await store.info(next(iter(artifacts)))
        report.line(f"local  e.g. {info.name}: {info.rows} rows x {info.columns} columns, {info.size:,} bytes")

    legs: list[tuple[str, str, Callable[[], Awaitable[None]]]] = [
        ("moto", "S3 and Step Functions", lambda: _s3_leg(artifacts, report)),
        ("gcp_storage_emulator", "GCS", lambda: _gcs_leg(artifacts, report)),
    ]
    for module, what, leg in legs:
        if not servers:
            continue
        if importlib.util.find_spec(module) is None:
            report.line(f"skip   {what}: its local server is not installed (pip install 'clinops-async[demo]')")
            continue
        await leg()

    if report.failures:
        print(f"FAILED: {report.failures} problems")
        return 1
    print(f"  every artifact round-tripped exactly; total {time.perf_counter() - started:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m clinops_async.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(".demo-store"), help="local store directory (recreated)")
    parser.add_argument("--stays", type=int, default=300, help="synthetic ICU stays")
    parser.add_argument("--hours", type=int, default=72, help="hourly windows per stay")
    parser.add_argument("--local-only", action="store_true", help="skip the local S3/GCS/Step Functions servers")
    args = parser.parse_args(argv)
    if args.root.exists():
        shutil.rmtree(args.root)
    return asyncio.run(run(args.root, stays=args.stays, hours=args.hours, servers=not args.local_only))


if __name__ == "__main__":
    raise SystemExit(main())
