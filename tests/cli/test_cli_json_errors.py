"""``--json`` on failure: every command prints one JSON error record on standard output, with the
documented exit code, as ``cp`` and ``rm`` print one per item."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from tests.support.cli import invoke
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result

    from tests.support.servers import Server






def _error_record(result: Result, code: int) -> dict[str, object]:
    assert result.exit_code == code, result.output
    record = json.loads(result.stdout)
    assert isinstance(record, dict), record
    assert record["ok"] is False and record["exit_code"] == code
    assert isinstance(record["error"], str) and record["error"]
    assert result.stderr.startswith("Error: ")  # the one line for people stays
    return record


def test_info_ls_head_and_cat_print_one_json_error_record(moto: Server, env: dict[str, str], tmp_path: Path) -> None:
    s3 = S3Env(moto.url)
    missing = f"s3://{s3.bucket}/nope.parquet"
    record = _error_record(invoke(env, "info", "--json", missing), 3)
    assert record["uri"] == missing and record["error"] == f"{missing} does not exist"
    _error_record(invoke(env, "ls", "--json", "s3://no-such-bucket-here/"), 3)
    no_bucket = _error_record(invoke(env, "info", "--json", "s3://no-such-bucket-here/a.parquet"), 3)
    assert no_bucket["error"] == "bucket 'no-such-bucket-here' does not exist (for s3://no-such-bucket-here/a.parquet)"
    _error_record(invoke(env, "head", "--json", missing), 3)
    _error_record(invoke(env, "head", "-o", "json", missing), 3)
    _error_record(invoke(env, "cat", "--json", str(tmp_path / "none.parquet")), 3)
    _error_record(invoke(env, "info", "--json", "ftp://host/a.parquet"), 2)


def test_cp_and_rm_print_a_record_when_they_fail_before_any_item(env: dict[str, str], tmp_path: Path) -> None:
    _error_record(invoke(env, "cp", "--json", "a.parquet", "b.parquet", "not-a-dir"), 2)
    _error_record(invoke(env, "rm", "--json", "a.txt"), 2)


def test_without_json_failures_print_nothing_on_stdout(env: dict[str, str], tmp_path: Path) -> None:
    result = invoke(env, "info", str(tmp_path / "none.parquet"))
    assert (result.exit_code, result.stdout) == (3, "")
