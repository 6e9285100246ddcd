"""`cp`, `mv` and `sync`: on the server within one service, by their bytes between clouds."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import pytest

from clinops_async import S3PipelineStore
from clinops_async.synthetic import icu_windows
from tests.support.cli import invoke
from tests.support.fault_proxy import FaultProxy
from tests.support.frames import wide_frame
from tests.support.store_envs import GCSEnv, S3Env

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

    from tests.support.servers import Server


@pytest.fixture
def s3(moto: Server) -> S3Env:
    return S3Env(moto.url)


@pytest.fixture
def gcs(fake_gcs: Server) -> GCSEnv:
    return GCSEnv("fake-gcs", fake_gcs.url)


def environment(endpoint: str, gcs: GCSEnv | None = None) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "STORAGE_EMULATOR"))}
    clean.update(AWS_ENDPOINT_URL=endpoint, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                 AWS_DEFAULT_REGION="us-east-1")
    if gcs is not None:
        clean["STORAGE_EMULATOR_HOST"] = gcs.endpoint
    return clean




def seed(s3: S3Env, frames: dict[str, pd.DataFrame]) -> None:
    with S3PipelineStore(s3.bucket, endpoint_url=s3.endpoint) as store:
        assert store.upload_many(frames).ok


def test_cp_within_s3_copies_on_the_server(s3: S3Env, moto: Server) -> None:
    seed(s3, {"staging/big": wide_frame(rows=20_000, cols=20)})
    size = len(s3.get_bytes("staging/big.parquet"))
    with FaultProxy(moto.url) as proxy:
        result = invoke(environment(proxy.url), "cp", "--json", f"s3://{s3.bucket}/staging/big.parquet",
                        f"s3://{s3.bucket}/prod/big.parquet")
    assert result.exit_code == 0, result.output
    [record] = json.loads(result.stdout)
    assert record["method"] == "server" and record["bytes"] == size and record["ok"]
    assert proxy.request_bytes + proxy.response_bytes < size / 10
    assert s3.get_bytes("prod/big.parquet") == s3.get_bytes("staging/big.parquet")


def test_cp_between_clouds_moves_the_stored_bytes_and_mv_removes_the_source(s3: S3Env, gcs: GCSEnv) -> None:
    seed(s3, {"a": icu_windows(stays=3, hours=4)})
    env = environment(s3.endpoint, gcs)
    result = invoke(env, "cp", "--json", f"s3://{s3.bucket}/a.parquet", f"gs://{gcs.bucket}/x/a.parquet")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["method"] == "bytes"
    assert gcs.get_bytes("x/a.parquet") == s3.get_bytes("a.parquet")
    assert gcs.metadata("x/a.parquet")["clinops-rows"] == str(len(icu_windows(stays=3, hours=4)))
    moved = invoke(env, "mv", f"gs://{gcs.bucket}/x/a.parquet", f"s3://{s3.bucket}/b.parquet")
    assert moved.exit_code == 0, moved.output
    assert moved.stdout.startswith(f"moved gs://{gcs.bucket}/x/a.parquet -> s3://{s3.bucket}/b.parquet")
    assert gcs.keys() == [] and s3.keys() == ["a.parquet", "b.parquet"]


def test_cp_to_another_format_converts_and_no_clobber_exits_9(s3: S3Env) -> None:
    seed(s3, {"a": icu_windows(stays=2, hours=2), "b": icu_windows(stays=2, hours=3)})
    env = environment(s3.endpoint)
    result = invoke(env, "cp", "--json", f"s3://{s3.bucket}/a.parquet", f"s3://{s3.bucket}/a.csv")
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["method"] == "convert"
    refused = invoke(env, "cp", "-n", f"s3://{s3.bucket}/a.parquet", f"s3://{s3.bucket}/b.parquet")
    assert refused.exit_code == 9


def test_cp_recursive_and_mv_recursive_promote_a_prefix(s3: S3Env) -> None:
    seed(s3, {f"staging/run/{i}": icu_windows(stays=2, hours=2 + i) for i in range(5)})
    env = environment(s3.endpoint)
    copied = invoke(env, "cp", "-r", "-j", "3", "--json", f"s3://{s3.bucket}/staging/", f"s3://{s3.bucket}/prod/")
    assert copied.exit_code == 0, copied.output
    assert [r["method"] for r in json.loads(copied.stdout)] == ["server"] * 5
    moved = invoke(env, "mv", "-r", "-q", f"s3://{s3.bucket}/prod/", f"s3://{s3.bucket}/release/")
    assert moved.exit_code == 0 and moved.stdout == ""
    assert s3.keys() == [f"release/run/{i}.parquet" for i in range(5)] + [f"staging/run/{i}.parquet" for i in range(5)]


def test_sync_copies_only_what_is_missing_or_changed(s3: S3Env, tmp_path: Path) -> None:
    seed(s3, {f"features/{i}": icu_windows(stays=2, hours=2 + i) for i in range(3)})
    env = environment(s3.endpoint)
    first = invoke(env, "sync", f"s3://{s3.bucket}/features/", f"s3://{s3.bucket}/mirror/")
    assert first.exit_code == 0 and first.stdout.endswith("3 copied, 0 already up to date\n"), first.output
    seed(s3, {"features/1": icu_windows(stays=3, hours=9)})
    again = invoke(env, "sync", "--json", f"s3://{s3.bucket}/features/", f"s3://{s3.bucket}/mirror/")
    assert [r["method"] for r in json.loads(again.stdout)] == ["unchanged", "server", "unchanged"]
    local = invoke(env, "sync", f"s3://{s3.bucket}/features/", f"{tmp_path}/mirror/")
    assert local.stdout.endswith("3 copied, 0 already up to date\n"), local.output
    assert invoke(env, "sync", f"s3://{s3.bucket}/features/", f"{tmp_path}/mirror/").stdout.endswith(
        "0 copied, 3 already up to date\n")
    assert invoke(env, "sync", f"s3://{s3.bucket}/features", f"{tmp_path}/x/").exit_code == 2
