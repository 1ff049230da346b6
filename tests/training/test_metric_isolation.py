"""A job's MetricDefinitions regexes cannot stall the server: they run in a worker process with a time budget.

``(a+)+$`` against forty ``a`` then ``b`` backtracks for hours. Run in the server (``re`` holds the GIL), it froze
every request; now the matcher's worker overruns its budget, is killed and restarted, the pattern is disabled
for the job with a warning in the job's log, and the other metrics are still recorded.
"""

from __future__ import annotations

import io
import tarfile
import time

import pytest

from shipyard.controllers.joblog import MAX_EVENT_CHARS, cap_event
from shipyard.training.metric_matcher import MAX_LINE_CHARS, MetricMatcher, validate_pattern
from training_helpers import ensure_bucket, log_messages, script_job, unique

BUCKET = "metric-isolation-tests"
EVIL = r"(a+)+$"
EVIL_LINE = "a" * 40 + "b"


@pytest.fixture
def matcher():
    m = MetricMatcher(budget=0.5)
    try:
        yield m
    finally:
        m.close()


# --- the matcher on its own ---
@pytest.mark.integration  # starts the worker process
def test_overrunning_pattern_is_disabled_and_the_others_still_match(matcher):
    defs = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}, {"Name": "evil", "Regex": EVIL},
            {"Name": "acc", "Regex": r"acc:\s*([0-9.]+)"}]
    lines = ["loss=0.5 acc: 0.9", EVIL_LINE, "step\tacc: 0.7 loss=0.25"]
    started = time.monotonic()
    result = matcher.match(defs, lines)
    assert time.monotonic() - started < 10
    assert result.disabled == [EVIL]
    assert matcher.restarts == 1
    assert result.hits == [(0, 0, 0.5), (0, 2, 0.9), (2, 0, 0.25), (2, 2, 0.7)]
    # disabled patterns are skipped: no more overruns, the worker is not restarted again
    again = matcher.match(defs, lines + [EVIL_LINE], disabled=result.disabled)
    assert again.disabled == [] and matcher.restarts == 1
    assert again.hits == result.hits


@pytest.mark.integration
def test_a_worker_that_died_while_idle_blames_no_pattern(matcher):
    defs = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]
    assert matcher.match(defs, ["loss=1"]).hits == [(0, 0, 1.0)]
    matcher._proc.kill()  # noqa: SLF001 - as if the OOM killer took it between two batches
    matcher._proc.wait(timeout=10)  # noqa: SLF001
    result = matcher.match(defs, ["loss=2"])
    assert result.disabled == [] and result.hits == [(0, 0, 2.0)]


@pytest.mark.integration
def test_matching_follows_sagemaker_rendering_and_caps_long_lines(matcher):
    defs = [{"Name": "rmse", "Regex": r"#011validation-rmse:(\S+)"}, {"Name": "raw", "Regex": "\tx=([0-9]+)"},
            {"Name": "tail", "Regex": r"END=([0-9]+)$"}, {"Name": "nan", "Regex": r"v=(\S+)"},
            {"Name": "nogroup", "Regex": r"rmse"}]
    lines = ["[1]\ttrain-rmse:0.5\tvalidation-rmse:0.25", "a\tx=7", "pad " * (MAX_LINE_CHARS // 4) + "END=1",
             "END=2", "v=nan v=1", "v=abc"]
    result = matcher.match(defs, lines)
    assert result.disabled == []
    assert result.hits == [(0, 0, 0.25), (1, 1, 7.0), (3, 2, 2.0)]


@pytest.mark.integration
def test_many_lines_go_in_batches(matcher):
    lines = [f"loss={i}" for i in range(5000)]
    result = matcher.match([{"Name": "loss", "Regex": r"loss=([0-9]+)"}], lines)
    assert [v for _, _, v in result.hits] == [float(i) for i in range(5000)]


@pytest.mark.integration
def test_worker_interrupts_itself_when_no_one_kills_it():
    """A worker whose server died mid-match does not spin for hours: it stops itself soon after the budget."""
    import json
    import subprocess
    import sys

    from shipyard.training import metric_matcher

    proc = subprocess.Popen([sys.executable, "-I", "-S", metric_matcher.__file__], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert json.loads(proc.stdout.readline()) == {"ready": True}
        started = time.monotonic()
        proc.stdin.write(json.dumps({"patterns": [EVIL], "lines": [EVIL_LINE], "budget": 0.2}).encode() + b"\n")
        proc.stdin.close()
        assert json.loads(proc.stdout.readline()) == {"p": 0, "timeout": True}
        assert proc.wait(timeout=10) == 0
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait(timeout=10)


def test_validate_pattern():
    assert validate_pattern(r"loss=([0-9.]+)") is None
    assert "invalid" in validate_pattern("loss=([")
    assert "invalid" in validate_pattern("a{99999999999}")  # OverflowError, not re.error
    assert "longer" in validate_pattern("a" * 501)
    assert validate_pattern("") is not None


def test_log_events_are_capped():
    assert cap_event("short") == "short"
    capped = cap_event("x" * (MAX_EVENT_CHARS + 10))
    assert len(capped) == MAX_EVENT_CHARS and capped.endswith("[truncated by Shipyard]")


# --- through a real server ---
SCRIPT = """
    import sys, time
    print("epoch 0 loss=0.5 acc=0.75", flush=True)
    print("a" * 40 + "b", flush=True)
    time.sleep(1.5)
    print("epoch 1 loss=0.25 acc=0.875", flush=True)
    print("a" * 40 + "b", flush=True)
    time.sleep(1.0)
"""


XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _timed(fn, **kwargs) -> float:
    started = time.monotonic()
    fn(**kwargs)
    return time.monotonic() - started


def _endpoint(server, name: str) -> None:
    """A tiny XGBoost endpoint, InService (endpoint traffic must keep flowing too)."""
    import numpy as np
    import xgboost as xgb

    sm, s3 = server.client("sagemaker"), server.client("s3")
    x = np.random.default_rng(0).random((50, 2))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(x, x[:, 0]), 3)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        raw = bytes(booster.save_raw("ubj"))
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3.put_object(Bucket=BUCKET, Key=f"{name}/model.tar.gz", Body=buf.getvalue())
    sm.create_model(ModelName=name, PrimaryContainer={"Image": XGB_IMAGE,
                                                      "ModelDataUrl": f"s3://{BUCKET}/{name}/model.tar.gz"})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        status = sm.describe_endpoint(EndpointName=name)
        assert status["EndpointStatus"] != "Failed", status.get("FailureReason")
        if status["EndpointStatus"] == "InService":
            return
        time.sleep(0.2)
    raise AssertionError(f"endpoint {name} not InService after 90 s")


def test_pathological_metric_regex_does_not_stall_the_server(server):
    sm, s3, logs = server.client("sagemaker"), server.client("s3"), server.client("logs")
    runtime = server.client("sagemaker-runtime")
    name = unique("evil-metric")
    ensure_bucket(s3, BUCKET)
    _endpoint(server, name)
    try:
        metrics = [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}, {"Name": "evil", "Regex": EVIL},
                   {"Name": "acc", "Regex": r"acc=([0-9.]+)"}]
        sm.create_training_job(**script_job(s3, BUCKET, name, SCRIPT, metrics=metrics, max_runtime=120))
        slowest, calls, desc = 0.0, 0, {}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            started = time.monotonic()
            desc = sm.describe_training_job(TrainingJobName=name)
            slowest = max(slowest, time.monotonic() - started)
            slowest = max(slowest, _timed(sm.list_training_jobs, MaxResults=10))
            slowest = max(slowest, _timed(runtime.invoke_endpoint, EndpointName=name, ContentType="text/csv",
                                          Body=b"0.3,0.1"))
            calls += 3
            if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
                break
            time.sleep(0.05)
        assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
        assert calls >= 10
        assert slowest < 1.0, f"a request took {slowest:.2f} s while the job's metrics were matched"
        final = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList") or []}
        assert final == {"loss": 0.25, "acc": 0.875}
        messages = log_messages(logs, name)
        warnings = [m for m in messages if "was disabled for this job" in m]
        assert len(warnings) == 1 and "'evil'" in warnings[0]
        assert sum(m == EVIL_LINE for m in messages) == 2  # the lines themselves are still logged
    finally:
        sm.delete_endpoint(EndpointName=name)


def test_metric_regexes_that_cannot_compile_are_refused_at_create(server):
    """A repetition count past re's limit raises OverflowError, not re.error: it is still a 400 naming the
    metric, never a 500."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    ensure_bucket(s3, BUCKET)
    for regex in (r"a{99999999999}", r"loss=([0-9.]+", "x" * 501):
        name = unique("bad-regex")
        job = script_job(s3, BUCKET, name, SCRIPT, metrics=[{"Name": "loss", "Regex": regex}], max_runtime=60)
        with pytest.raises(sm.exceptions.ClientError) as err:
            sm.create_training_job(**job)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        message = err.value.response["Error"]["Message"]
        assert "'loss'" in message or "length less than or equal to 500" in message, message
