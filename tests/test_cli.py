"""The ``shipyard`` command line, run as a real subprocess against a real server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from shipyard.testing.server import free_port


def run_cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "shipyard.cli", *args], env=base, capture_output=True,
                          text=True, timeout=timeout)


def _one_clean_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("shipyard: ")
    return lines[0]


def test_env_prints_exports_from_home(tmp_path):
    home = tmp_path / "home"
    r = run_cli("env", "--home", str(home), "--port", "7171")
    assert r.returncode == 0, r.stderr
    creds = json.loads((home / "credentials.json").read_text())
    lines = r.stdout.strip().splitlines()
    assert lines == [
        "export AWS_ENDPOINT_URL=http://127.0.0.1:7171",
        f"export AWS_ACCESS_KEY_ID={creds['access_key_id']}",
        f"export AWS_SECRET_ACCESS_KEY={creds['secret_access_key']}",
        "export AWS_DEFAULT_REGION=us-east-1",
        f"export SAGEMAKER_USER_CONFIG_OVERRIDE={home / 'sagemaker-config.yaml'}",
    ]
    # the variables override the stored keys; values are shell-quoted
    r = run_cli("env", "--home", str(home), env={"SHIPYARD_ACCESS_KEY_ID": "AKIAOVERRIDE",
                                                 "SHIPYARD_SECRET_ACCESS_KEY": "s3cret with space"})
    assert "export AWS_ACCESS_KEY_ID=AKIAOVERRIDE" in r.stdout
    assert "export AWS_SECRET_ACCESS_KEY='s3cret with space'" in r.stdout
    assert "export AWS_ENDPOINT_URL=http://127.0.0.1:7070" in r.stdout


def test_unreachable_server_is_one_line_exit_2():
    port = free_port()
    env = {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "y", "AWS_DEFAULT_REGION": "us-east-1"}
    r = run_cli("jobs", "list", "--endpoint-url", f"http://127.0.0.1:{port}", env=env)
    assert r.returncode == 2
    assert "cannot reach the server" in _one_clean_line(r.stderr)


def test_missing_credentials_is_one_line_exit_2():
    r = run_cli("endpoints", "list", "--endpoint-url", "http://127.0.0.1:9")
    assert r.returncode == 2
    assert "shipyard env" in _one_clean_line(r.stderr)


def test_bad_usage_exits_2():
    r = run_cli("jobs", "frobnicate")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr


def test_server_errors_are_one_line_exit_1(server):
    r = run_cli("jobs", "describe", "no-such-job", env=server.env())
    assert r.returncode == 1
    line = _one_clean_line(r.stderr)
    # SageMaker answers only "Requested resource not found."; the CLI names what it asked for
    assert line == ("shipyard: Could not find training job 'no-such-job' "
                    "(ValidationException: Requested resource not found.)")
    for args, noun in ((("endpoints", "describe", "no-ep"), "endpoint"), (("models", "describe", "no-m"), "model"),
                       (("transform", "describe", "no-t"), "transform job"), (("models", "delete", "no-m"), "model")):
        r = run_cli(*args, env=server.env())
        assert r.returncode == 1
        assert _one_clean_line(r.stderr).startswith(f"shipyard: Could not find {noun} '{args[-1]}' ("), r.stderr
    r = run_cli("endpoints", "invoke", "no-such-endpoint", "--body", "1,2", env=server.env())
    assert r.returncode == 1
    assert "no-such-endpoint" in _one_clean_line(r.stderr)
    r = run_cli("endpoints", "logs", "no-such-endpoint", env=server.env())
    assert r.returncode == 1
    assert "no logs for endpoint 'no-such-endpoint'" in _one_clean_line(r.stderr)


def _wait_job(sm, name, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        time.sleep(0.3)
    pytest.fail(f"job {name} still {desc['TrainingJobStatus']} after {timeout} s")


def _tiny_xgboost_job(server, name, rounds=5):
    s3 = server.client("s3")
    if "cli-tests" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.create_bucket(Bucket="cli-tests")
    rows = "\n".join(f"{i % 2},{(i % 2) + 0.1 * (i % 7)},{i % 5}" for i in range(200))
    s3.put_object(Bucket="cli-tests", Key="train/train.csv", Body=rows.encode())
    server.client("sagemaker").create_training_job(
        TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Shipyard",
        AlgorithmSpecification={"TrainingImage": "xgboost", "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": str(rounds)},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://cli-tests/train/", "S3DataDistributionType": "FullyReplicated"}}}],
        OutputDataConfig={"S3OutputPath": "s3://cli-tests/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})


def test_jobs_and_endpoints_commands(server):
    env = server.env()
    sm = server.client("sagemaker")
    _tiny_xgboost_job(server, "cli-job-1")
    r = run_cli("logs", "cli-job-1", "--follow", "--timeout", "120", env=env, timeout=150)
    assert r.returncode == 0, r.stderr
    assert "[4]" in r.stdout  # the last boosting round's log line
    assert "\ttrain-" in r.stdout and "#011" not in r.stdout  # tabs, not syslog's #011
    assert r.stdout.splitlines()[-1] == "==> cli-job-1: Completed"  # the outcome comes after the last log line
    desc = _wait_job(sm, "cli-job-1")
    assert desc["TrainingJobStatus"] == "Completed"

    r = run_cli("jobs", "list", env=env)
    assert r.returncode == 0, r.stderr
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "CREATED", "DURATION"]
    row = next(line for line in rows if line.startswith("cli-job-1 "))
    assert row.split()[1] == "Completed"
    assert header.index("STATUS") == row.index("Completed")  # columns are aligned

    r = run_cli("jobs", "list", "--json", env=env)
    jobs = json.loads(r.stdout)
    assert any(j["TrainingJobName"] == "cli-job-1" and j["TrainingJobStatus"] == "Completed" for j in jobs)

    r = run_cli("jobs", "describe", "cli-job-1", "--json", env=env)
    assert json.loads(r.stdout)["ModelArtifacts"]["S3ModelArtifacts"] == desc["ModelArtifacts"]["S3ModelArtifacts"]
    r = run_cli("jobs", "describe", "cli-job-1", env=env)
    assert any(line.split()[:2] == ["TrainingJobStatus", "Completed"] for line in r.stdout.splitlines())

    r = run_cli("jobs", "logs", "cli-job-1", env=env)
    assert r.returncode == 0 and "[4]" in r.stdout

    # stop: a long job is stopped through the CLI
    _tiny_xgboost_job(server, "cli-job-long", rounds=100000)
    r = run_cli("jobs", "stop", "cli-job-long", env=env)
    assert r.returncode == 0, r.stderr
    assert _wait_job(sm, "cli-job-long")["TrainingJobStatus"] == "Stopped"

    # endpoints: host the model, invoke it, list, describe, delete
    sm.create_model(ModelName="cli-model", ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": "xgboost", "ModelDataUrl": desc["ModelArtifacts"]["S3ModelArtifacts"]})
    sm.create_endpoint_config(EndpointConfigName="cli-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "cli-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="cli-endpoint", EndpointConfigName="cli-config")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="cli-endpoint",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})

    r = run_cli("endpoints", "list", env=env)
    header, *rows = r.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "CREATED", "MODIFIED"]
    assert any(line.split()[:2] == ["cli-endpoint", "InService"] for line in rows)
    r = run_cli("endpoints", "describe", "cli-endpoint", "--json", env=env)
    assert json.loads(r.stdout)["EndpointConfigName"] == "cli-config"
    r = run_cli("endpoints", "invoke", "cli-endpoint", "--body", "1.1,3\n0.2,4", env=env)
    assert r.returncode == 0, r.stderr
    scores = [float(v) for v in r.stdout.replace(",", "\n").split()]
    assert len(scores) == 2 and all(0 <= s <= 1 for s in scores)

    r = run_cli("endpoints", "delete", "cli-endpoint", env=env)
    assert r.returncode == 0, r.stderr
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        names = [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
        if "cli-endpoint" not in names:
            break
        time.sleep(0.25)
    assert "cli-endpoint" not in names
    r = run_cli("endpoints", "describe", "cli-endpoint", env=env)
    assert r.returncode == 1


def test_server_command_and_env_round_trip(tmp_path):
    """`shipyard server` serves; `eval "$(shipyard env)"` with the same home and port reaches it."""
    import signal
    import urllib.request

    home, port = tmp_path / "home", free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    proc = subprocess.Popen([sys.executable, "-m", "shipyard.cli", "server", "--home", str(home), "--port", str(port)],
                            env=base, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert proc.poll() is None, "server exited during start-up"
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/shipyard/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("server not healthy within 30 s")

        r = run_cli("env", "--home", str(home), "--port", str(port))
        env = dict(line.removeprefix("export ").split("=", 1) for line in r.stdout.splitlines())
        r = run_cli("endpoints", "list", "--json", env=env)
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout) == []
        r = run_cli("jobs", "list", env={**env, "AWS_SECRET_ACCESS_KEY": "wrong"})
        assert r.returncode == 1
        assert "Signature" in _one_clean_line(r.stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    assert proc.returncode is not None
