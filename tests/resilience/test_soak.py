"""Soak: many artifacts in bulk through S3 while about 5% of requests fail (seeded random faults).

Each test runs on both S3 servers, moto and SeaweedFS.

``make test`` runs 300 artifacts; ``CLINOPS_SOAK_ARTIFACTS=2000`` (``make soak``) runs the full size.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pytest

from clinops_async import AsyncS3PipelineStore, RetryConfig, TransientStoreError
from clinops_async._stores.checksum import crc32c_b64
from tests.support.fault_proxy import FaultProxy
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from collections.abc import Iterator

    from tests.support.servers import Server

ARTIFACTS = int(os.environ.get("CLINOPS_SOAK_ARTIFACTS", "300"))
ROUNDS = 6
FAILURE_RATE = 0.05

pytestmark = pytest.mark.slow


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def frame(i: int) -> pd.DataFrame:
    rng = np.random.default_rng(i)
    return pd.DataFrame({"stay_id": np.full(50, i), "heart_rate": rng.normal(80, 10, 50),
                         "lactate": rng.random(50)})


@pytest.fixture(params=["s3", "seaweedfs"])
def server(request: pytest.FixtureRequest) -> Server:
    """The S3 server under test: moto (reset) or SeaweedFS (each test on a fresh bucket)."""
    server: Server = request.getfixturevalue("moto" if request.param == "s3" else "seaweedfs")
    return server


@pytest.fixture
def proxy(server: Server) -> Iterator[FaultProxy]:
    with FaultProxy(server.url) as p:
        yield p


async def test_bulk_transfers_under_random_faults_land_exactly_once_and_memory_stays_flat(
    server: Server, proxy: FaultProxy
) -> None:
    s3 = S3Env(server.url)
    proxy.randomly(FAILURE_RATE, seed=2000)
    retry = RetryConfig(max_attempts=6, initial_backoff=0.005, max_backoff=0.05)
    per_round = -(-ARTIFACTS // ROUNDS)
    samples: list[int] = []
    async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, retry=retry) as store:
        for r in range(ROUNDS):
            names = [f"soak/a{i:05d}" for i in range(r * per_round, min(ARTIFACTS, (r + 1) * per_round))]
            up = await store.upload_many(((n, frame(int(n[-5:]))) for n in names), overwrite=False)
            assert up.ok, [(o.name, repr(o.error)) for o in up.failed]
            down = await store.download_many(names)
            assert down.ok, [(o.name, repr(o.error)) for o in down.failed]
            for name, df in down.values.items():
                pd.testing.assert_frame_equal(df, frame(int(name[-5:])))
            del up, down
            samples.append(rss_bytes())
    proxy.randomly(0, seed=0)
    assert proxy.applied, "no fault was injected"
    # Exactly once: one object per artifact, each matching the CRC32C recorded with it; nothing pending.
    keys = s3.keys()
    assert keys == sorted(f"soak/a{i:05d}.parquet" for i in range(ARTIFACTS))
    assert s3.incomplete_uploads() == 0
    for key in keys[:: max(1, ARTIFACTS // 100)]:
        assert crc32c_b64(s3.get_bytes(key)) == s3.metadata(key)["clinops-crc32c"]
    # Flat memory: after the first rounds warm the pools, later rounds add no trend.
    growth = samples[-1] - samples[1]
    assert growth < 40 * 1024 * 1024, [s // (1 << 20) for s in samples]


async def test_without_retries_failures_are_reported_per_item_and_the_rest_verify(
    server: Server, proxy: FaultProxy
) -> None:
    s3 = S3Env(server.url)
    count = max(60, ARTIFACTS // 5)
    proxy.randomly(0.1, seed=5, kinds=("status", "reset_before", "reset_during", "truncate"))
    async with AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, retry=RetryConfig(max_attempts=1)) as store:
        result = await store.upload_many({f"r/a{i:04d}": frame(i) for i in range(count)})
    proxy.randomly(0, seed=0)
    assert result.failed and result.succeeded, repr(result)
    assert [o.name for o in result] == [f"r/a{i:04d}" for i in range(count)]
    for outcome in result.failed:
        assert isinstance(outcome.error, TransientStoreError) and outcome.error.uri == outcome.uri
    stored = set(s3.keys())
    for outcome in result.succeeded:
        assert f"{outcome.name}.parquet" in stored
    # A failed item may have landed (its answer was lost); whatever landed is whole.
    async with AsyncS3PipelineStore(s3.bucket, endpoint_url=server.url) as direct:
        check = await direct.download_many(sorted(k.removesuffix(".parquet") for k in stored))
    assert check.ok
    for name, df in check.values.items():
        pd.testing.assert_frame_equal(df, frame(int(name[-4:])))
