"""The clinops-async command line, in-process (click's CliRunner) and as a real subprocess, against moto."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pandas as pd
import pytest

from clinops_async._cli.common import redact
from clinops_async._stores.local import AsyncLocalPipelineStore
from clinops_async.orchestrate import LocalPipelineStore
from clinops_async.synthetic import icu_windows
from tests.support.cli import CLI_SECRET, invoke
from tests.support.servers import ROOT, Server
from tests.support.store_envs import S3Env

if TYPE_CHECKING:
    from pathlib import Path

    from click.testing import Result



@pytest.fixture
def s3(moto: Server) -> S3Env:
    return S3Env(moto.url)






def run_cli(env: dict[str, str], *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clinops_async", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def local_file(directory: Path, name: str, df: pd.DataFrame) -> Path:
    """An artifact file written the way the library writes it (exact Parquet, with metadata)."""
    with LocalPipelineStore(directory) as store:
        store.upload(df, name)
    return directory / f"{name}.parquet"


def read_local(path: Path) -> pd.DataFrame:
    with LocalPipelineStore(path.parent) as store:
        return store.download(path.name.removesuffix(".parquet"))


# -- cp ---------------------------------------------------------------------------------------------


def test_cp_round_trips_a_dataframe_exactly_in_process(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    df = icu_windows(stays=4, hours=6)
    src = local_file(tmp_path, "windows", df)
    uri = f"s3://{s3.bucket}/clinops/features/windows.parquet"
    up = invoke(env, "cp", str(src), uri)
    assert up.exit_code == 0, up.output
    assert up.stdout.startswith(f"copied {src.as_uri()} -> {uri} (")
    assert s3.keys() == ["clinops/features/windows.parquet"]
    back = tmp_path / "back" / "windows.parquet"
    down = invoke(env, "cp", uri, str(back))
    assert down.exit_code == 0, down.output
    pd.testing.assert_frame_equal(read_local(back), df)


def test_cp_as_a_subprocess_round_trips_and_draws_no_progress_off_a_terminal(
    s3: S3Env, env: dict[str, str], tmp_path: Path
) -> None:
    df = icu_windows(stays=3, hours=5, seed=7)
    local_file(tmp_path, "w", df)
    uri = f"s3://{s3.bucket}/p/w.parquet"
    up = run_cli(env, "cp", "w.parquet", uri, cwd=tmp_path)
    assert (up.returncode, up.stderr) == (0, ""), up.stderr
    down = run_cli(env, "cp", uri, "copy/w.parquet", cwd=tmp_path)
    assert (down.returncode, down.stderr) == (0, ""), down.stderr
    assert down.stdout.count("\n") == 1 and "\x1b" not in down.stdout
    pd.testing.assert_frame_equal(read_local(tmp_path / "copy" / "w.parquet"), df)


def test_forced_progress_draws_bytes_and_artifacts_on_stderr(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    local_file(tmp_path, "a", icu_windows(stays=2, hours=3))
    done = run_cli(env, "--progress", "cp", "a.parquet", f"s3://{s3.bucket}/x/", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "copy" in done.stderr and "0/1" in done.stderr and "kB" in done.stderr  # artifacts and bytes
    assert "copied" in done.stdout and "\x1b" not in done.stdout


def test_many_at_once_with_concurrency_then_ls_and_recursive_copy_back(
    s3: S3Env, env: dict[str, str], tmp_path: Path
) -> None:
    frames = {f"day{i}": icu_windows(stays=2, hours=4, seed=i, first_stay=30_000_000 + 10 * i) for i in range(6)}
    sources = [str(local_file(tmp_path / "in", name, df)) for name, df in frames.items()]
    prefix = f"s3://{s3.bucket}/clinops/features/"
    up = invoke(env, "cp", "--concurrency", "3", "--json", *sources, prefix)
    assert up.exit_code == 0, up.output
    report = json.loads(up.stdout)
    assert [r["destination"] for r in report] == [f"{prefix}day{i}.parquet" for i in range(6)]
    assert all(r["ok"] and r["exit_code"] == 0 and r["error"] is None and r["bytes"] > 0 for r in report)

    listing = invoke(env, "ls", "--json", prefix)
    assert listing.exit_code == 0, listing.output
    rows = json.loads(listing.stdout)
    assert [r["name"] for r in rows] == [f"day{i}.parquet" for i in range(6)]
    first = rows[0]
    assert set(first) == {"name", "uri", "format", "size", "rows", "columns", "last_modified", "checksum",
                          "content_type"}
    assert (first["rows"], first["columns"], first["format"]) == (8, 22, "parquet")
    assert first["size"] == len(s3.get_bytes("clinops/features/day0.parquet"))
    assert first["checksum"] and first["last_modified"].endswith("+00:00")

    text = invoke(env, "ls", f"s3://{s3.bucket}/clinops/features/day1")
    assert text.exit_code == 0
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SIZE", "ROWS", "COLUMNS", "MODIFIED"]
    assert [line.split()[0] for line in lines[1:]] == ["day1.parquet"]

    out = tmp_path / "out"
    down = invoke(env, "cp", "-r", "-j", "4", f"s3://{s3.bucket}/clinops/", f"{out}/")
    assert down.exit_code == 0, down.output
    for name, df in frames.items():
        pd.testing.assert_frame_equal(read_local(out / "features" / f"{name}.parquet"), df)


def test_cp_converts_to_csv_by_extension_and_head_shows_rows(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    df = icu_windows(stays=2, hours=10)
    src = local_file(tmp_path, "w", df)
    csv_uri = f"s3://{s3.bucket}/w.csv"
    assert invoke(env, "cp", str(src), csv_uri).exit_code == 0
    assert s3.get_bytes("w.csv").startswith(b"subject_id,hadm_id,stay_id,heart_rate")

    shown = invoke(env, "head", "-n", "3", "-c", "stay_id,care_unit", f"s3://{s3.bucket}/w.csv")
    assert shown.exit_code == 0, shown.output
    lines = shown.stdout.splitlines()
    assert lines[0].split() == ["stay_id", "care_unit"]
    assert len(lines) == 1 + 3
    assert lines[1].split() == [str(df["stay_id"].iloc[0]), str(df["care_unit"].iloc[0])]

    records = json.loads(invoke(env, "head", "-n", "2", "--json", str(src)).stdout)
    assert len(records) == 2 and records[0]["window_start"] == "2024-01-01T00:00:00.000000Z"
    assert records[0]["stay_id"] == int(df["stay_id"].iloc[0])

    dumped = invoke(env, "cat", "-o", "csv", csv_uri)
    assert dumped.exit_code == 0
    assert len(pd.read_csv(io.StringIO(dumped.stdout))) == 20


def test_info_text_and_json(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    src = local_file(tmp_path, "w", icu_windows(stays=1, hours=7))
    uri = f"s3://{s3.bucket}/a/w.parquet"
    invoke(env, "cp", str(src), uri)
    details = json.loads(invoke(env, "info", "--json", uri).stdout)
    assert details["uri"] == uri and details["rows"] == 7 and details["columns"] == 22
    assert details["name"] == "w.parquet" and details["checksum"] == s3.metadata("a/w.parquet")["clinops-crc32c"]
    text = invoke(env, "info", uri).stdout
    assert f"uri            {uri}" in text and "rows           7" in text


def test_rm_then_not_found_and_force(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    src = local_file(tmp_path, "w", icu_windows(stays=1, hours=2))
    uris = [f"s3://{s3.bucket}/r/{n}.parquet" for n in ("a", "b")]
    for uri in uris:
        invoke(env, "cp", str(src), uri)
    removed = invoke(env, "rm", *uris)
    assert removed.exit_code == 0 and removed.stdout.splitlines() == [f"deleted {u}" for u in uris]
    assert s3.keys() == []
    again = invoke(env, "rm", uris[0])
    assert again.exit_code == 3
    assert again.stderr == f"Error: {uris[0]} does not exist\n"
    assert invoke(env, "rm", "-f", uris[0]).exit_code == 0
    partial = invoke(env, "rm", "--json", uris[0], str(src))
    assert partial.exit_code == 1  # some items failed
    assert [r["exit_code"] for r in json.loads(partial.stdout)] == [3, 0]


# -- exit codes and errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["cp", "only-one.parquet"], 2, "cp needs a SOURCE and a DESTINATION"),
        (["cp", "a.txt", "b.parquet"], 2, "must end in .parquet or .csv"),
        (["cp", "ftp://host/a.parquet", "b.parquet"], 2, "unsupported URI scheme 'ftp'"),
        (["cp", "a.parquet", "b.parquet", "not-a-dir"], 2, "ending in '/'"),
        (["info", "s3:///a.parquet"], 2, "names no bucket"),
        (["ls", "--frobnicate"], 2, "No such option"),
        (["cp", "--concurrency", "0", "a.parquet", "x/"], 2, "0 is not in the range"),
    ],
)
def test_bad_usage_exits_2(env: dict[str, str], args: list[str], code: int, message: str) -> None:
    result = invoke(env, *args)
    assert result.exit_code == code, result.output
    assert message in result.stderr


def test_not_found_exits_3(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    missing = invoke(env, "cp", f"s3://{s3.bucket}/nope.parquet", str(tmp_path / "x.parquet"))
    assert missing.exit_code == 3
    assert missing.stderr == f"Error: s3://{s3.bucket}/nope.parquet does not exist\n"
    assert not (tmp_path / "x.parquet").exists()
    assert invoke(env, "ls", "s3://no-such-bucket-here/").exit_code == 3
    assert invoke(env, "info", str(tmp_path / "nothing" / "x.parquet")).exit_code == 3
    assert not (tmp_path / "nothing").exists()


def test_integrity_failure_exits_4_and_writes_nothing(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    src = local_file(tmp_path, "w", icu_windows(stays=2, hours=3))
    uri = f"s3://{s3.bucket}/w.parquet"
    invoke(env, "cp", str(src), uri)
    data, meta = s3.get_bytes("w.parquet"), s3.metadata("w.parquet")
    damaged = bytearray(data)
    damaged[len(damaged) // 2] ^= 0xFF
    s3.put_bytes("w.parquet", bytes(damaged), meta)  # the recorded CRC32C no longer matches
    result = invoke(env, "cp", uri, str(tmp_path / "out" / "w.parquet"))
    assert result.exit_code == 4
    assert result.stderr.startswith(f"Error: {uri} failed its integrity check") and result.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "w.parquet").exists()


def test_no_clobber_exits_9(s3: S3Env, env: dict[str, str], tmp_path: Path) -> None:
    src = local_file(tmp_path, "w", icu_windows(stays=1, hours=2))
    uri = f"s3://{s3.bucket}/w.parquet"
    assert invoke(env, "cp", "-n", str(src), uri).exit_code == 0
    again = invoke(env, "cp", "-n", str(src), uri)
    assert again.exit_code == 9 and "already exists" in again.stderr


def test_debug_switches_the_traceback_on_and_secrets_stay_out(s3: S3Env, env: dict[str, str]) -> None:
    uri = f"s3://{s3.bucket}/nope.parquet"
    plain = run_cli(env, "info", uri)
    assert plain.returncode == 3
    assert plain.stderr == f"Error: {uri} does not exist\n"
    debug = run_cli(env, "--debug", "info", uri)
    assert debug.returncode == 3
    assert "Traceback (most recent call last)" in debug.stderr and "ArtifactNotFoundError" in debug.stderr
    assert debug.stderr.endswith(f"Error: {uri} does not exist\n")
    assert CLI_SECRET not in plain.stderr + plain.stdout + debug.stderr + debug.stdout


def test_redact_removes_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", CLI_SECRET)
    text = redact(f"http://user:pw@host/x?X-Amz-Signature=abc&X-Amz-Credential=AKIA/1 key {CLI_SECRET}")
    assert text == "http://****@host/x?X-Amz-Signature=****&X-Amz-Credential=**** key ****"


def test_unreachable_endpoint_is_one_line_and_exits_6(env: dict[str, str], tmp_path: Path) -> None:
    from tests.support.servers import free_port

    env = {**env, "AWS_ENDPOINT_URL": f"http://user:{CLI_SECRET}@127.0.0.1:{free_port()}", "AWS_MAX_ATTEMPTS": "1"}
    result = run_cli(env, "info", "s3://some-bucket/a.parquet")
    assert result.returncode == 6, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert CLI_SECRET not in result.stderr


def test_version_and_help(env: dict[str, str]) -> None:
    from clinops_async import __version__

    assert invoke(env, "--version").stdout == f"clinops-async, version {__version__}\n"
    helped = run_cli(env, "--help")
    assert helped.returncode == 0 and "Usage: clinops-async" in helped.stdout
    for command in ("cp", "ls", "info", "rm", "head", "cat", "pipeline"):
        assert f"  {command} " in helped.stdout


def test_local_store_uri_and_plain_directory(env: dict[str, str], tmp_path: Path) -> None:
    df = icu_windows(stays=2, hours=2)
    src = local_file(tmp_path, "w", df)
    store_uri = (tmp_path / "store").as_uri()
    assert invoke(env, "cp", str(src), f"{store_uri}/features/w.parquet").exit_code == 0
    listing = json.loads(invoke(env, "ls", "--json", store_uri).stdout)
    assert [r["name"] for r in listing] == ["features/w.parquet"] and listing[0]["rows"] == 4

    async def read() -> pd.DataFrame:
        async with AsyncLocalPipelineStore(tmp_path / "store") as store:
            return await store.download("features/w")

    import anyio

    pd.testing.assert_frame_equal(anyio.run(read), df)


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cp_and_ls_on_gcs_through_the_emulator_variable(fake_gcs: Server, tmp_path: Path) -> None:
    import uuid

    from tests.support.store_envs import gcs_create_bucket

    bucket = f"cli-{uuid.uuid4().hex[:10]}"
    gcs_create_bucket(fake_gcs.url, bucket)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_"))}
    env.update(STORAGE_EMULATOR_HOST=fake_gcs.url, PYTHONPATH=str(ROOT))
    df = icu_windows(stays=3, hours=4)
    src = local_file(tmp_path, "windows", df)
    uri = f"gs://{bucket}/clinops/features/windows.parquet"
    up = run_cli(env, "cp", str(src), uri)
    assert up.returncode == 0, up.stderr
    listing = run_cli(env, "ls", f"gs://{bucket}/clinops/features/", "--json")
    assert listing.returncode == 0, listing.stderr
    assert "windows" in listing.stdout and '"rows": 12' in listing.stdout
    back = tmp_path / "back" / "windows.parquet"
    down = run_cli(env, "cp", uri, str(back))
    assert down.returncode == 0, down.stderr
    pd.testing.assert_frame_equal(read_local(back), df)


def test_an_upload_whose_abort_cannot_get_through_is_named_and_removed_by_the_uploads_command(
    env: dict[str, str], s3: S3Env, moto: Server
) -> None:
    # A part is refused, and so is every abort: the failure names the upload left behind and the
    # command that removes it; `uploads` lists it and `uploads --abort` removes it.
    from clinops_async import AccessDeniedError, AsyncS3PipelineStore, RetryConfig, TransferConfig
    from tests.support.fault_proxy import FaultProxy
    from tests.support.frames import wide_frame

    mib = 1024 * 1024
    transfer = TransferConfig(multipart_threshold=5 * mib, part_size=5 * mib, max_concurrency=1)
    with FaultProxy(moto.url) as proxy:
        proxy.add("status", lambda r: r.method == "PUT" and r.query.get("partNumber") == "2",
                  times=10, **proxy.error(403))
        proxy.add("status", lambda r: r.method == "DELETE" and "uploadId" in r.query, times=20, **proxy.error(503))

        async def upload() -> AccessDeniedError:
            store = AsyncS3PipelineStore(s3.bucket, endpoint_url=proxy.url, transfer=transfer,
                                         retry=RetryConfig(max_attempts=2, initial_backoff=0.01, max_backoff=0.02))
            async with store:
                with pytest.raises(AccessDeniedError) as caught:
                    await store.upload(wide_frame(200_000, 20), "vitals")
            return caught.value

        failure = anyio.run(upload)
    [left] = s3.client.list_multipart_uploads(Bucket=s3.bucket)["Uploads"]
    uri = f"s3://{s3.bucket}/vitals.parquet"
    assert f"{left['UploadId']} of {uri} could not be aborted" in " ".join(failure.__notes__)
    assert f"clinops-async uploads {uri} --abort" in " ".join(failure.__notes__)
    listed = json.loads(invoke(env, "uploads", "--json", uri).stdout)
    assert [(u["uri"], u["upload_id"]) for u in listed] == [(uri, left["UploadId"])]
    aborted = invoke(env, "uploads", "--abort", uri)
    assert aborted.stdout == f"aborted {uri} {left['UploadId']}\n"
    assert s3.incomplete_uploads() == 0
    assert invoke(env, "uploads", f"s3://{s3.bucket}/").stdout == ""


def test_the_package_and_the_command_line_start_without_pandas_or_pyarrow() -> None:
    # `import clinops_async` and `clinops-async --help` load no data library and no cloud SDK: the
    # names of the API load on first use, and the commands import the stores when they run.
    script = (
        "import sys, clinops_async, clinops_async.cli\n"
        "from click.testing import CliRunner\n"
        "assert CliRunner().invoke(clinops_async.cli.cli, ['--help']).exit_code == 0\n"
        "assert CliRunner().invoke(clinops_async.cli.cli, ['pipeline', '--help']).exit_code == 0\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'pyarrow', 'numpy', 'aiobotocore', "
        "'botocore', 'aiohttp'})\n"
        "print(heavy)\n"
        "clinops_async.AsyncS3PipelineStore\n"
        "assert 'pandas' in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
