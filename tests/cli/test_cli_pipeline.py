"""``clinops-async pipeline ...`` against moto's Step Functions (its ASL interpreter on)."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from typing import TYPE_CHECKING

import pytest

from clinops_async._pipelines.file import load_pipeline_file
from tests.support.cli import invoke
from tests.support.stepfunctions import ROLE, lambda_arn

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.servers import Server

PIPELINE_YAML = """\
name: {name}
role_arn: {role}
comment: Daily ingest, from the command line
steps:
  - type: pass
    name: Prepare
    result: {{date: "2024-01-15"}}
  - name: Ingest
    resource: {ingest}
    retry_attempts: 0
    parameters: {{date.$: $.date, source: synthetic}}
  - type: parallel
    name: Features
    branches:
      - [{{type: pass, name: Vitals}}]
      - [{{type: pass, name: Labs}}]
  - {{type: wait, name: Settle, seconds: 0}}
"""




def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def yaml_file(tmp_path: Path) -> Path:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    return write(tmp_path, "pipeline.yaml",
                 PIPELINE_YAML.format(name=name, role=ROLE, ingest=lambda_arn("clinops-ingest")))


def json_pipeline(tmp_path: Path, *steps: dict[str, object], handlers: list[object] | None = None) -> Path:
    spec = {"name": f"cli-{uuid.uuid4().hex[:8]}", "role_arn": ROLE, "steps": list(steps),
            "handlers": handlers or []}
    return write(tmp_path, "pipeline.json", json.dumps(spec))


def test_render_needs_no_aws_and_matches_the_library(yaml_file: Path) -> None:
    result = invoke({}, "pipeline", "render", str(yaml_file))
    assert result.exit_code == 0, result.output
    definition = json.loads(result.stdout)
    assert definition == load_pipeline_file(yaml_file).build().definition()
    assert list(definition["States"]) == ["Prepare", "Ingest", "Features", "Settle"]
    assert definition["States"]["Ingest"]["Parameters"] == {"date.$": "$.date", "source": "synthetic"}
    mermaid = invoke({}, "pipeline", "render", "--mermaid", str(yaml_file))
    assert mermaid.stdout.startswith("flowchart")


def test_deploy_run_wait_status_history(moto: Server, env: dict[str, str], yaml_file: Path) -> None:
    deployed = json.loads(invoke(env, "pipeline", "deploy", "--json", str(yaml_file)).stdout)
    name = load_pipeline_file(yaml_file).name
    assert deployed["state_machine_arn"] == f"arn:aws:states:us-east-1:123456789012:stateMachine:{name}"
    assert invoke(env, "pipeline", "deploy", str(yaml_file)).stdout.strip() == deployed["state_machine_arn"]

    # A real process, as a user would run it: every step as it starts and ends, then the status.
    done = subprocess.run([sys.executable, "-m", "clinops_async", "pipeline", "run", "--wait", "--name", "first",
                           "--input", '{"run": 1}', str(yaml_file)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"started arn:aws:states:us-east-1:123456789012:execution:{name}:first"
    for index, step in enumerate(["Prepare", "Ingest", "Features", "Settle"], start=1):
        assert any(line.startswith(f"[{index}/4] {step}") and line.endswith("started") for line in lines)
        assert any(line.startswith(f"[{index}/4] {step}") and " done" in line for line in lines)
    assert lines[-2].startswith("first: SUCCEEDED in ")
    assert done.stderr == ""

    status = invoke(env, "pipeline", "status", "--json", str(yaml_file))
    assert status.exit_code == 0
    described = json.loads(status.stdout)
    assert set(described) == {"execution_arn", "name", "status", "output", "error", "cause", "start_date",
                              "stop_date"}
    assert (described["name"], described["status"]) == ("first", "SUCCEEDED")
    assert described["output"] == [{"date": "2024-01-15", "source": "synthetic"}] * 2  # the Parallel's output

    events = json.loads(invoke(env, "pipeline", "history", "--json", str(yaml_file), "first").stdout)
    assert events[0]["type"] == "ExecutionStarted" and events[-1]["type"] == "ExecutionSucceeded"
    assert isinstance(events[0]["timestamp"], str)
    table = invoke(env, "pipeline", "history", str(yaml_file), described["execution_arn"])
    assert table.exit_code == 0 and "ExecutionSucceeded" in table.stdout and "Ingest" in table.stdout


def test_failed_execution_exits_7_with_its_error(env: dict[str, str], tmp_path: Path) -> None:
    file = json_pipeline(tmp_path, {"type": "pass", "name": "Start"},
                         {"type": "fail", "name": "Broken", "error": "IngestFailed", "cause": "no rows for the day"})
    result = invoke(env, "pipeline", "run", "--deploy", "--wait", str(file))
    assert result.exit_code == 7, result.output
    assert "FAILED" in result.stdout and "IngestFailed: no rows for the day" in result.stdout
    assert invoke(env, "pipeline", "status", str(file)).exit_code == 7
    as_json = invoke(env, "pipeline", "run", "--wait", "--json", str(file))
    assert as_json.exit_code == 7 and json.loads(as_json.stdout)["error"] == "IngestFailed"


def test_run_without_wait_then_timeout_then_stop(env: dict[str, str], tmp_path: Path) -> None:
    file = json_pipeline(tmp_path, {"type": "wait", "name": "Hold", "seconds": 3600})
    invoke(env, "pipeline", "deploy", str(file))
    started = invoke(env, "pipeline", "run", "--json", str(file))
    arn = json.loads(started.stdout)["execution_arn"]
    timed_out = invoke(env, "pipeline", "run", "--wait", "--timeout", "0.3", "--name", "second", str(file))
    assert timed_out.exit_code == 8
    assert "'second' is still RUNNING after 0.3 s; it goes on running" in timed_out.stderr
    assert invoke(env, "pipeline", "stop", str(file), arn).stdout == f"stopped {arn} (ABORTED)\n"
    # By default, stop picks the latest running execution: the only one left.
    stopped = json.loads(invoke(env, "pipeline", "stop", "--json", str(file)).stdout)
    assert stopped["status"] == "ABORTED" and stopped["name"] == "second"
    status = invoke(env, "pipeline", "status", str(file), arn)
    assert status.exit_code == 7 and "ABORTED" in status.stdout
    nothing = invoke(env, "pipeline", "stop", str(file))
    assert nothing.exit_code == 3 and "has no running executions" in nothing.stderr


def test_not_deployed_and_unknown_execution_exit_3(env: dict[str, str], tmp_path: Path) -> None:
    file = json_pipeline(tmp_path, {"type": "pass", "name": "Only"})
    result = invoke(env, "pipeline", "run", str(file))
    assert result.exit_code == 3 and "deploy" in result.stderr
    invoke(env, "pipeline", "deploy", str(file))
    assert invoke(env, "pipeline", "status", str(file)).exit_code == 3
    assert invoke(env, "pipeline", "history", str(file), "never-ran").exit_code == 3


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"name": "p", "role_arn": "@ROLE", "steps": [{"name": "A", "resorce": "x"}]}',
         "steps[0] (A): unknown key 'resorce' (did you mean 'resource'?)"),
        ('{"name": "p", "role_arn": "@ROLE", "steps": [{"type": "wait", "name": "W"}]}',
         "steps[0] (W): a wait step needs 'seconds'"),
        ('{"name": "p", "role_arn": "@ROLE", "steps": [{"type": "loop", "name": "L"}]}',
         "steps[0]: type must be one of task, parallel, map, wait, pass, fail; got 'loop'"),
        ('{"name": "p", "role_arn": "@ROLE", "steps": [{"type": "parallel", "name": "P", "branches": [[{"type": '
         '"pass", "name": "X", "retry": 1}]]}]}',
         "steps[0] (P).branches[0][0] (X): unknown key 'retry'"),
        ('{"name": "p", "role_arn": "arn:aws:iam::123:role/R", "steps": [{"type": "pass", "name": "A"}]}',
         "role_arn"),
        ('{"name": "p", "steps": []}', "missing 'role_arn'"),
        ('{"name": "p", "role_arn": "@ROLE", "steps": [{"name": "A", "resource": "@FN", "retry_attempts": "3"}]}',
         "retry_attempts"),
        ('{"name": ', "invalid JSON at line 1 column 10"),
    ],
)
def test_invalid_pipeline_files_exit_2_with_one_line(tmp_path: Path, text: str, message: str) -> None:
    file = write(tmp_path, "p.json", text.replace("@ROLE", ROLE).replace("@FN", lambda_arn("f")))
    result = invoke({}, "pipeline", "render", str(file))
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith(f"Error: {file}")


def test_invalid_yaml_and_missing_file(tmp_path: Path) -> None:
    bad = write(tmp_path, "p.yaml", "name: [unclosed\n")
    result = invoke({}, "pipeline", "render", str(bad))
    assert result.exit_code == 2 and "invalid YAML" in result.stderr
    missing = invoke({}, "pipeline", "render", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 3 and missing.stderr.count("\n") == 1


def test_map_with_s3_items_from_a_file(tmp_path: Path) -> None:
    file = json_pipeline(tmp_path, {
        "type": "map", "name": "PerArtifact", "items_from": {"bucket": "b-1234", "prefix": "features/"},
        "max_concurrency": 10, "steps": [{"name": "One", "resource": lambda_arn("per-artifact")}],
    })
    definition = json.loads(invoke({}, "pipeline", "render", str(file)).stdout)
    state = definition["States"]["PerArtifact"]
    assert state["ItemReader"]["Parameters"] == {"Bucket": "b-1234", "Prefix": "features/"}
    assert state["ItemProcessor"]["ProcessorConfig"]["Mode"] == "DISTRIBUTED"
