"""``clinops-async pipeline`` deploy options, aliases, Express runs, redrive and history paging (moto)."""

from __future__ import annotations

import json
import uuid
from typing import TYPE_CHECKING, Any

import boto3  # type: ignore[import-untyped]
import pytest

from clinops_async._pipelines.file import load_pipeline_file
from tests.cli.test_cli_pipeline import write
from tests.support.cli import invoke
from tests.support.stepfunctions import ACCOUNT, ROLE

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.servers import Server

LOG_GROUP = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/vendedlogs/states/cli:*"


def pipeline_file(tmp_path: Path, **extra: Any) -> Path:
    spec = {"name": f"cli-{uuid.uuid4().hex[:8]}", "role_arn": ROLE,
            "steps": [{"type": "pass", "name": "Hello", "result": {"hello": "world"}}], **extra}
    return write(tmp_path, "pipeline.json", json.dumps(spec))


def sfn(moto: Server) -> Any:
    return boto3.client("stepfunctions", endpoint_url=moto.url, region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def test_deploy_options_from_the_file_and_the_command_line(moto: Server, env: dict[str, str],
                                                           tmp_path: Path) -> None:
    file = pipeline_file(tmp_path, logging={"level": "ERROR", "log_group_arn": LOG_GROUP}, tracing=False,
                         tags={"team": "clinops"}, release={"publish": True, "alias": "live"})
    first = json.loads(invoke(env, "pipeline", "deploy", "--json", str(file)).stdout)
    arn = first["state_machine_arn"]
    assert (first["version_arn"], first["alias_arn"]) == (f"{arn}:1", f"{arn}:live")
    described = sfn(moto).describe_state_machine(stateMachineArn=arn)
    assert described["loggingConfiguration"]["level"] == "ERROR"

    second = invoke(env, "pipeline", "deploy", "--json", "--tracing", "--log-level", "all",
                    "--log-execution-data", "--tag", "stage=prod", "--version-description", "second",
                    str(file))
    assert second.exit_code == 0, second.output
    assert json.loads(second.stdout)["version_arn"] == f"{arn}:2"
    described = sfn(moto).describe_state_machine(stateMachineArn=arn)
    assert described["tracingConfiguration"] == {"enabled": True}
    assert described["loggingConfiguration"]["level"] == "ALL"
    assert described["loggingConfiguration"]["includeExecutionData"] is True
    tags = sfn(moto).list_tags_for_resource(resourceArn=arn)["tags"]
    assert {t["key"]: t["value"] for t in tags} == {"team": "clinops", "stage": "prod"}

    moved = invoke(env, "pipeline", "alias", str(file), "live", "--route", "1=90", "--route", "2=10")
    assert moved.exit_code == 0 and moved.stdout.strip() == f"{arn}:live"
    routing = sfn(moto).describe_state_machine_alias(stateMachineAliasArn=f"{arn}:live")["routingConfiguration"]
    assert [r["weight"] for r in routing] == [90, 10]


def test_history_newest_first_with_a_limit(env: dict[str, str], tmp_path: Path) -> None:
    file = pipeline_file(tmp_path)
    assert invoke(env, "pipeline", "run", "--deploy", "--wait", "--name", "one", str(file)).exit_code == 0
    two = json.loads(invoke(env, "pipeline", "history", "--json", "--limit", "2", str(file), "one").stdout)
    every = json.loads(invoke(env, "pipeline", "history", "--json", str(file), "one").stdout)
    assert two == every[:2]
    newest = invoke(env, "pipeline", "history", "--reverse", "--limit", "1", str(file), "one")
    assert newest.exit_code == 0 and newest.stdout.count("Execution") == 1


@pytest.mark.parametrize(("args", "message"), [
    (["deploy", "--alias", "live"], "publish"),
    (["deploy", "--log-level", "DEBUG", "--log-group", LOG_GROUP], "level"),
    (["deploy", "--log-level", "ALL"], "log_group_arn"),
    (["deploy", "--tag", "no-equals"], "KEY=VALUE"),
    (["alias", "live", "--route", "1=60", "--route", "2=30"], "sum to 100"),
    (["alias", "live", "--route", "one"], "VERSION=WEIGHT"),
    (["run", "--sync"], "Express"),
])
def test_bad_options_exit_2_before_any_call(tmp_path: Path, args: list[str], message: str) -> None:
    file = pipeline_file(tmp_path)
    offline = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x"}
    result = invoke(offline, "pipeline", args[0], str(file), *args[1:])
    assert result.exit_code == 2, result.output
    assert message in result.stderr


@pytest.mark.parametrize(("extra", "message"), [
    ({"release": {"alias": "live"}}, "alias needs publish"),
    ({"release": {"publsh": True}}, "did you mean 'publish'"),
    ({"logging": {"level": "ALL"}}, "log_group_arn"),
    ({"tracing": "on"}, "tracing must be true or false"),
    ({"tags": {"aws:x": "y"}}, "aws:"),
])
def test_bad_deploy_options_in_a_file_exit_2(tmp_path: Path, extra: dict[str, Any], message: str) -> None:
    result = invoke({}, "pipeline", "render", str(pipeline_file(tmp_path, **extra)))
    assert result.exit_code == 2 and message in result.stderr, result.output


def test_run_sync_on_an_express_pipeline_reaches_start_sync_execution(env: dict[str, str],
                                                                      tmp_path: Path) -> None:
    file = pipeline_file(tmp_path, type="EXPRESS")
    invoke(env, "pipeline", "deploy", str(file))
    result = invoke(env, "pipeline", "run", "--sync", str(file))
    # moto 5.2.5 has no StartSyncExecution (docs/testing.md): the request reaches it and is refused.
    assert result.exit_code != 0 and "run execution" in result.stderr and "synchronously" in result.stderr


@pytest.mark.xfail(strict=True, reason="RedriveExecution: moto 5.2.5 does not implement it (docs/testing.md)")
def test_redrive_a_failed_execution(env: dict[str, str], tmp_path: Path) -> None:
    file = pipeline_file(tmp_path)
    spec = json.loads(file.read_text())
    spec["steps"].append({"type": "fail", "name": "Broken", "error": "Boom"})
    file.write_text(json.dumps(spec))
    assert invoke(env, "pipeline", "run", "--deploy", "--wait", "--name", "once", str(file)).exit_code == 7
    assert invoke(env, "pipeline", "redrive", str(file), "once").exit_code == 0


def test_the_documented_pipeline_file_is_valid(tmp_path: Path) -> None:
    from tests.support.servers import ROOT

    text = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    block = text.split("### The pipeline file", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    spec = load_pipeline_file(write(tmp_path, "documented.yaml", block))
    assert spec.release == {"publish": True, "version_description": "nightly", "alias": "live"}
    assert spec.tracing is True and spec.tags == {"team": "clinops"}
    assert spec.logging is not None and spec.logging.level == "ERROR"
