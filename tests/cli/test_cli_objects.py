"""``clinops-async presign`` and ``ls --versions``, in-process against moto."""

from __future__ import annotations

import json
import urllib.request
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

import pytest

from clinops_async.orchestrate import S3PipelineStore
from clinops_async.synthetic import icu_windows
from tests.support.cli import CLI_SECRET, invoke
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.servers import Server



@pytest.fixture
def s3(moto: Server) -> S3Env:
    bucket = S3Env(moto.url)
    bucket.client.put_bucket_versioning(Bucket=bucket.bucket, VersioningConfiguration={"Status": "Enabled"})
    return bucket






def two_versions(s3: S3Env, moto: Server) -> None:
    with S3PipelineStore(s3.bucket, "features", endpoint_url=moto.url) as store:
        store.upload(icu_windows(stays=1), "w")
        store.upload(icu_windows(stays=2), "w")
        store.upload(icu_windows(stays=1), "other")


def test_presign_prints_a_url_that_reads_the_artifact(s3: S3Env, moto: Server, env: dict[str, str]) -> None:
    two_versions(s3, moto)
    result = invoke(env, "presign", f"s3://{s3.bucket}/features/w.parquet", "--expires", "600")
    assert result.exit_code == 0, result.output
    url = result.stdout.strip()
    assert dict(parse_qsl(urlsplit(url).query))["X-Amz-Expires"] == "600"
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.read() == s3.get_bytes("features/w.parquet")
    assert CLI_SECRET not in result.output


def test_presign_json_names_the_method_and_the_expiry(s3: S3Env, env: dict[str, str]) -> None:
    result = invoke(env, "presign", f"s3://{s3.bucket}/in/new.parquet", "--method", "put", "--json")
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert record["method"] == "PUT" and record["uri"] == f"s3://{s3.bucket}/in/new.parquet"
    assert record["url"].startswith(env["AWS_ENDPOINT_URL"]) and record["expires"]


@pytest.mark.parametrize("args", [["--expires", "0"], ["--expires", "604801"], ["--method", "DELETE"]])
def test_presign_refuses_bad_options(s3: S3Env, env: dict[str, str], args: list[str]) -> None:
    result = invoke(env, "presign", f"s3://{s3.bucket}/w.parquet", *args)
    assert result.exit_code == 2


def test_presign_of_a_local_artifact_says_it_cannot_sign(env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(env, "presign", (tmp_path / "w.parquet").as_uri())
    assert result.exit_code == 2
    assert "cannot sign" in result.stderr


def test_ls_versions_lists_every_version_newest_first(s3: S3Env, moto: Server, env: dict[str, str]) -> None:
    two_versions(s3, moto)
    result = invoke(env, "ls", "--versions", "--json", f"s3://{s3.bucket}/features/")
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["name"], r["is_latest"]) for r in records] == [("other.parquet", True), ("w.parquet", True),
                                                                ("w.parquet", False)]
    assert len({r["version"] for r in records}) == 3 and all(r["checksum"] for r in records)
    older = records[2]["version"]
    text = invoke(env, "ls", "--versions", f"s3://{s3.bucket}/features/")
    assert text.exit_code == 0 and older in text.stdout and "LATEST" in text.stdout
    pinned = invoke(env, "presign", f"s3://{s3.bucket}/features/w.parquet", "--version", older)
    assert pinned.exit_code == 0 and f"versionId={older}" in pinned.stdout
