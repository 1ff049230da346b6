"""Model Monitor's per-feature metrics reach CloudWatch: the analyzer writes them to
``/opt/ml/output/metrics/cloudwatch/cloudwatch_metrics.jsonl`` and the processing executor publishes them with
the job's own key when the job ends (shipyard.processing.job_metrics), batched and best effort.

The end-to-end test runs a NOW schedule over a capturing endpoint (test_monitor_cli_report's
``analyzed_schedule``); the others drive the publisher with a recording client."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from monitoring_helpers import wait_until
from test_monitor_cli_report import FEATURES, analyzed_schedule

from shipyard.processing import job_metrics

NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"
LOG_GROUP = "/aws/sagemaker/ProcessingJobs"


class Recorder:
    """A CloudWatch client that records PutMetricData calls (or fails them, for the best-effort path)."""

    def __init__(self, fail: bool = False):
        self.calls: list[dict] = []
        self.fail = fail

    def put_metric_data(self, **kwargs):
        if self.fail:
            raise ConnectionError("server unreachable")
        self.calls.append(kwargs)


def _write(opt_ml: Path, *lines: str) -> None:
    folder = opt_ml / job_metrics.METRICS_FOLDER
    folder.mkdir(parents=True)
    (folder / "cloudwatch_metrics.jsonl").write_text("\n".join(lines) + "\n")


def test_batches_by_aws_limit_and_skips_bad_lines(tmp_path):
    dims = [{"Name": "Endpoint", "Value": "ep"}, {"Name": "MonitoringSchedule", "Value": "s"}]
    data = [{"MetricName": f"feature_non_null_f{i}", "Timestamp": "2026-01-02T03:04:05Z", "Dimensions": dims,
             "Value": 1.0, "Extra": "dropped"} for i in range(1500)]
    _write(tmp_path, json.dumps({"Namespace": NAMESPACE, "MetricData": data}), "not json", "",
           json.dumps({"MetricData": data[:2]}))
    notes: list[str] = []
    client = Recorder()
    assert job_metrics.publish(tmp_path, {}, "us-east-1", notes.append, client=client) == 1502
    assert [len(c["MetricData"]) for c in client.calls] == [1000, 500, 2]
    assert [c["Namespace"] for c in client.calls] == [NAMESPACE, NAMESPACE, job_metrics.DEFAULT_NAMESPACE]
    first = client.calls[0]["MetricData"][0]
    assert "Extra" not in first and first["Timestamp"].year == 2026 and first["Timestamp"].tzinfo is not None
    assert any("line 2" in n for n in notes) and "published 1502" in notes[-1]


def test_a_failure_is_logged_never_raised(tmp_path):
    _write(tmp_path, json.dumps({"MetricData": [{"MetricName": "m", "Value": 1.0}]}))
    notes: list[str] = []
    assert job_metrics.publish(tmp_path, {}, "us-east-1", notes.append, client=Recorder(fail=True)) == 0
    assert "publishing the job's CloudWatch metrics failed" in notes[-1] and "server unreachable" in notes[-1]
    assert job_metrics.publish(tmp_path / "none", {}, "us-east-1", notes.append) == 0  # no file: nothing


@pytest.fixture(scope="module")
def published(mon_server, tmp_path_factory):
    return analyzed_schedule(mon_server, tmp_path_factory.mktemp("cw-published"), "cwpub")


def _job_log(server, job: str) -> str:
    logs = server.client("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    return "\n".join(e["message"] for s in streams for e in logs.get_log_events(
        logGroupName=LOG_GROUP, logStreamName=s["logStreamName"], startFromHead=True)["events"])


@pytest.mark.integration
def test_feature_metrics_reach_cloudwatch(mon_server, published):
    sm = mon_server.client("sagemaker")
    last = sm.describe_monitoring_schedule(MonitoringScheduleName=published["schedule"])[
        "LastMonitoringExecutionSummary"]
    job = last["ProcessingJobArn"].rsplit("/", 1)[-1]
    # the executor publishes before the job ends (its key is revoked then): the log says so either way
    seen = {"log": ""}

    def logged():
        seen["log"] = _job_log(mon_server, job)
        return "CloudWatch metric" in seen["log"]

    try:
        wait_until(logged, 20, "the job's log line about its CloudWatch metrics")
    except AssertionError as e:
        raise AssertionError(f"{e}; the job's log:\n{seen['log'][-3000:]}") from None
    text = seen["log"]
    assert "published" in text, text
    cw = mon_server.client("cloudwatch")
    listed = cw.list_metrics(Namespace=NAMESPACE, Dimensions=[
        {"Name": "MonitoringSchedule", "Value": published["schedule"]}])["Metrics"]
    names = {m["MetricName"] for m in listed}
    for feature in FEATURES:
        assert f"feature_non_null_{feature}" in names, sorted(names)
    assert any(n.startswith("feature_baseline_drift_") for n in names), sorted(names)
    drift = next(m for m in listed if m["MetricName"].startswith("feature_baseline_drift_"))
    dims = {d["Name"]: d["Value"] for d in drift["Dimensions"]}
    assert dims["Endpoint"] == published["endpoint"] and dims["MonitoringSchedule"] == published["schedule"]
    now = dt.datetime.now(dt.timezone.utc)
    points = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName=drift["MetricName"],
                                      Dimensions=drift["Dimensions"], StartTime=now - dt.timedelta(hours=1),
                                      EndTime=now + dt.timedelta(minutes=5), Period=3600,
                                      Statistics=["Maximum"])["Datapoints"]
    assert points and points[0]["Maximum"] > 0
