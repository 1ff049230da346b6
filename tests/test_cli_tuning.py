"""``shipyard tuning ...`` run as real subprocesses against a real server, after a small real tuning job."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid

import pytest

pytestmark = pytest.mark.timeout(180)

SCRIPT = """\
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--level", type=float); p.add_argument("--width", type=int); p.add_argument("--sleep", type=float)
a, _ = p.parse_known_args()
time.sleep(a.sleep)
print(f"score={(a.level - 0.3) ** 2 + a.width / 100:.6f}", flush=True)
"""

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_cli(*args: str, env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    base.update(env)
    return subprocess.run([sys.executable, "-m", "shipyard.cli", *args], env=base, capture_output=True,
                          text=True, timeout=timeout)


def _tuning_request(name: str, code: str, bucket: str, sleep: float, max_jobs: int) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "RandomSeed": 3,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "level", "MinValue": "0", "MaxValue": "1"}],
                "IntegerParameterRanges": [{"Name": "width", "MinValue": "1", "MaxValue": "9"}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                      "sagemaker_submit_directory": json.dumps(code), "sleep": str(sleep)},
            "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "score", "Regex": r"score=([-0-9.eE+]+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/cli",
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120}},
    }


def _wait(sm, name: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if desc["HyperParameterTuningJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        time.sleep(0.3)
    pytest.fail(f"tuning job {name} still {desc['HyperParameterTuningJobStatus']} after {timeout} s")


@pytest.fixture(scope="module")
def finished(server, tmp_path_factory):
    """A 5-job tuning job that has completed: (name, its description, its training job summaries)."""
    code = tmp_path_factory.mktemp("cli-tuning-code")
    (code / "train.py").write_text(SCRIPT)
    bucket = f"cli-tuning-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    sm = server.client("sagemaker")
    name = f"cli-tune-{uuid.uuid4().hex[:6]}"
    sm.create_hyper_parameter_tuning_job(**_tuning_request(name, str(code), bucket, 0.0, 5))
    desc = _wait(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return {"name": name, "desc": desc, "jobs": jobs["TrainingJobSummaries"], "code": str(code), "bucket": bucket}


def test_list_and_describe(server, finished):
    env, name = server.env(), finished["name"]
    r = run_cli("tuning", "list", env=env)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "STRATEGY", "COMPLETED", "RUNNING", "FAILED", "STOPPED",
                              "CREATED", "DURATION"]
    row = next(line for line in rows if line.startswith(name + " "))
    assert row.split()[1:7] == ["Completed", "Random", "5", "0", "0", "0"]
    assert header.index("STATUS") == row.index("Completed")

    r = run_cli("tuning", "list", "--json", env=env)
    listed = {j["HyperParameterTuningJobName"]: j for j in json.loads(r.stdout)}
    assert listed[name]["TrainingJobStatusCounters"]["Completed"] == 5

    best = finished["desc"]["BestTrainingJob"]
    r = run_cli("tuning", "describe", name, env=env)
    assert r.returncode == 0, r.stderr
    facts = {line.split("  ", 1)[0]: line.split("  ", 1)[1].strip() for line in r.stdout.splitlines()}
    assert facts["Status"] == "Completed" and facts["Objective"] == "Minimize score"
    assert facts["Training jobs"].startswith("5 completed, 0 in progress, 0 failed, 0 stopped (at most 5, 2 at")
    assert facts["Best training job"].startswith(best["TrainingJobName"] + " (score = ")
    assert f"width={best['TunedHyperParameters']['width']}" in facts["Best hyperparameters"]

    r = run_cli("tuning", "describe", name, "--json", env=env)
    assert json.loads(r.stdout)["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]


def test_leaderboard_table_json_and_plot(server, finished, tmp_path):
    env, name = server.env(), finished["name"]
    values = {j["TrainingJobName"]: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
              for j in finished["jobs"]}
    expected = sorted(values, key=values.get)  # Minimize: smallest first

    r = run_cli("tuning", "leaderboard", name, env=env)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["RANK", "TRAINING", "JOB", "STATUS", "SCORE", "level", "width", "DURATION"]
    assert [line.split()[1] for line in rows] == expected
    assert [int(line.split()[0]) for line in rows] == [1, 2, 3, 4, 5]
    assert float(rows[0].split()[3]) == pytest.approx(values[expected[0]], rel=1e-5)

    out = tmp_path / "board.png"
    r = run_cli("tuning", "leaderboard", name, "--top", "2", "--json", "--plot", str(out), env=env)
    assert r.returncode == 0, r.stderr
    top = json.loads(r.stdout)  # stdout stays pure JSON; the plot note goes to stderr
    assert [t["TrainingJobName"] for t in top] == expected[:2] and [t["Rank"] for t in top] == [1, 2]
    assert isinstance(top[0]["width"], int) and 0 <= top[0]["level"] <= 1
    assert f"wrote {out}" in r.stderr
    data = out.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000  # a drawn figure, not an empty canvas
    import struct

    width, height = struct.unpack(">II", data[16:24])  # IHDR: 7 x 4 inches at 100 dpi
    assert (width, height) == (700, 400)

    r = run_cli("tuning", "leaderboard", name, "--top", "0", env=env)
    assert r.returncode == 1 and r.stderr.strip() == "shipyard: --top must be at least 1"


def test_stop_and_errors(server, finished):
    env, sm = server.env(), server.client("sagemaker")
    name = f"cli-stop-{uuid.uuid4().hex[:6]}"
    sm.create_hyper_parameter_tuning_job(**_tuning_request(name, finished["code"], finished["bucket"], 60.0, 10))
    deadline = time.monotonic() + 30
    while sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
            "TrainingJobStatusCounters"]["InProgress"] < 1:
        assert time.monotonic() < deadline, "no training job started"
        time.sleep(0.2)
    r = run_cli("tuning", "stop", name, "--json", env=env)
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"HyperParameterTuningJobName": name, "Stopping": True}
    desc = _wait(sm, name, timeout=60)
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 0

    r = run_cli("tuning", "stop", name, env=env)  # already stopped: the server's answer, one line
    assert r.returncode == 1
    assert r.stderr.startswith("shipyard: ValidationException: ") and len(r.stderr.strip().splitlines()) == 1
    r = run_cli("tuning", "describe", "no-such-tuning-job", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
    r = run_cli("tuning", "leaderboard", "no-such-tuning-job", env=env)
    assert r.returncode == 1 and "Traceback" not in r.stderr
