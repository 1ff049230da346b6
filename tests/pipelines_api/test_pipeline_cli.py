"""``shipyard pipelines run|graph`` (shipyard.cli_pipelines) against a real server, in-process over boto3."""

from __future__ import annotations

import argparse
import json
import uuid

import pytest

from shipyard import cli
from shipyard.cli_pipelines import add_pipelines_commands

from .helpers import definition

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("quick_sagemaker_sdk")]

STEPS = [{"Name": "Check", "Type": "Condition", "Arguments": {
    "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Parameters.Go"}, "RightValue": "yes"}],
    "IfSteps": [], "ElseSteps": [{"Name": "Refuse", "Type": "Fail", "Arguments": {"ErrorMessage": "go was not yes"}}]}}]


def run(server, monkeypatch, *argv: str) -> int:
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    parser = argparse.ArgumentParser()
    add_pipelines_commands(parser.add_subparsers(dest="command"), cli._client_opts)
    args = parser.parse_args(list(argv))
    return args.func(args)


def test_run_prints_the_step_table_and_exits_with_the_outcome(server, monkeypatch, tmp_path, capsys):
    path = tmp_path / "gate.json"
    path.write_text(definition(STEPS, [{"Name": "Go", "Type": "String", "DefaultValue": "yes"}]))
    name = f"cli-{uuid.uuid4().hex[:8]}"
    assert run(server, monkeypatch, "pipelines", "run", str(path), "--name", name, "--interval", "0.2",
               "--timeout", "60") == 0
    out = capsys.readouterr().out
    assert "Succeeded" in out and "outcome True" in out
    assert run(server, monkeypatch, "pipelines", "run", str(path), "--name", name, "--param", "Go=no",
               "--interval", "0.2", "--timeout", "60") == 1
    out = capsys.readouterr().out
    assert "go was not yes" in out and "Refuse" in out
    assert run(server, monkeypatch, "pipelines", "graph", name, "--json") == 0
    graph = json.loads(capsys.readouterr().out)
    assert graph["Steps"] == ["Check (Condition) Succeeded", "Refuse (Fail) Failed [if Check is False]  <- Check"]


PIPELINE_PY = """
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionEquals
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.parameters import ParameterString
from sagemaker.workflow.pipeline import Pipeline

go = ParameterString(name="Go", default_value="yes")
gate = ConditionStep(name="Gate", conditions=[ConditionEquals(left=go, right="yes")], if_steps=[],
                     else_steps=[FailStep(name="Halt", error_message="halted by the gate")])
pipeline = Pipeline(name="{name}", parameters=[go], steps=[gate])
"""


def test_run_a_python_file_that_builds_an_sdk_pipeline_then_retry(server, monkeypatch, tmp_path, capsys):
    from shipyard.testing.sdk import sdk_environment

    name = f"clipy-{uuid.uuid4().hex[:8]}"
    path = tmp_path / "my_pipeline.py"
    path.write_text(PIPELINE_PY.replace("{name}", name))
    with sdk_environment(server, tmp_path):
        assert run(server, monkeypatch, "pipelines", "run", str(path), "--param", "Go=no", "--interval", "0.2",
                   "--timeout", "60") == 1
    out = capsys.readouterr().out
    assert "halted by the gate" in out
    arn = next(w.rstrip(":") for line in out.splitlines() for w in line.split() if "/execution/" in w)
    assert arn.startswith("arn:aws:sagemaker:") and f"pipeline/{name}/execution/" in arn
    sm = server.client("sagemaker")

    def halt_started():
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        return next(s["StartTime"] for s in steps if s["StepName"] == "Halt")

    before = halt_started()
    # --retry resumes the failed execution: the Fail step runs again (and fails again, the parameter is fixed)
    assert run(server, monkeypatch, "pipelines", "run", "--retry", arn, "--interval", "0.2", "--timeout", "60") == 1
    assert "halted by the gate" in capsys.readouterr().out
    assert halt_started() > before
