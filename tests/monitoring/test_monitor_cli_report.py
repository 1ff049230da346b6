"""``shipyard monitor list / executions / watch / report`` against a real server, on a schedule whose execution
has run the analyzer over drifted captured traffic; and the report's rendering (pure) on its own.

:func:`analyzed_schedule` is also what the console's monitoring test (tests/ui) sets up its data with."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service
from monitoring_helpers import ANALYZER, ROLE, wait_until
from test_monitoring_events_and_retrain import baseline_documents, clean_training_set

from shipyard.monitor.report import feature_charts, rebin, render_report

FEATURES = [f"_c{i}" for i in range(5)]  # the prediction, then the four inputs


def analyzed_schedule(server, tmp_path: Path, prefix: str) -> dict[str, str]:
    """An endpoint ``<prefix>-ep`` capturing drifted traffic, an analyzer baseline of the clean set and a NOW
    schedule ``<prefix>-schedule`` whose execution has ended. Returns the names."""
    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    bucket, endpoint, schedule = f"{prefix}-mon", f"{prefix}-ep", f"{prefix}-schedule"
    data, _ = model_tarball(2.0)
    url = upload(s3, bucket, "model/model.tar.gz", data)
    sm.create_model(ModelName=f"{prefix}-model", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(
        EndpointConfigName=endpoint,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": f"{prefix}-model", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{bucket}/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    sm.create_endpoint(EndpointName=endpoint, EndpointConfigName=endpoint)
    wait_in_service(sm, endpoint)
    rng = np.random.default_rng(4)
    for row in rng.random((30, 4)) * 10:  # ten times the baseline's range: drift
        rt.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv",
                           Body=",".join(f"{v:.3f}" for v in row).encode())
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{endpoint}/").get("KeyCount"), 30,
               "captured records in S3")
    statistics, constraints = baseline_documents(tmp_path, clean_training_set())
    s3.put_object(Bucket=bucket, Key="baseline/statistics.json", Body=statistics)
    s3.put_object(Bucket=bucket, Key="baseline/constraints.json", Body=constraints)
    sm.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "MonitoringJobDefinition": {
            "MonitoringInputs": [{"EndpointInput": {"EndpointName": endpoint,
                                                    "LocalPath": "/opt/ml/processing/input/endpoint"}}],
            "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                      "VolumeSizeInGB": 20}},
            "MonitoringAppSpecification": {"ImageUri": ANALYZER},
            "BaselineConfig": {"ConstraintsResource": {"S3Uri": f"s3://{bucket}/baseline/constraints.json"},
                               "StatisticsResource": {"S3Uri": f"s3://{bucket}/baseline/statistics.json"}},
            "RoleArn": ROLE},
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}})

    def ended():
        last = sm.describe_monitoring_schedule(MonitoringScheduleName=schedule).get(
            "LastMonitoringExecutionSummary") or {}
        return last if last.get("MonitoringExecutionStatus") not in (None, "Pending", "InProgress") else None

    last = wait_until(ended, 120, "the monitoring execution to end")
    assert last["MonitoringExecutionStatus"] == "CompletedWithViolations", last.get("FailureReason")
    return {"bucket": bucket, "endpoint": endpoint, "schedule": schedule}


@pytest.fixture(scope="module")
def analyzed(mon_server, tmp_path_factory):
    return analyzed_schedule(mon_server, tmp_path_factory.mktemp("cli-report"), "clirep")


def shipyard(server, *args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([sys.executable, "-m", "shipyard.cli", "monitor", *args], capture_output=True, text=True,
                          timeout=60, env={**os.environ, **server.env()})
    assert done.returncode == 0, done.stderr
    return done


@pytest.mark.integration
def test_list_executions_and_watch(mon_server, analyzed):
    listed = shipyard(mon_server, "list").stdout
    line = next(x for x in listed.splitlines() if x.startswith(analyzed["schedule"]))
    assert analyzed["endpoint"] in line and "CompletedWithViolations" in line
    rows = json.loads(shipyard(mon_server, "list", "--json").stdout)
    assert any(r["MonitoringScheduleName"] == analyzed["schedule"] and r["LastExecutionStatus"] ==
               "CompletedWithViolations" for r in rows)
    executions = shipyard(mon_server, "executions", analyzed["schedule"]).stdout.splitlines()
    assert executions[0].split()[:2] == ["SCHEDULED", "STATUS"] and "CompletedWithViolations" in executions[1]
    watched = shipyard(mon_server, "watch", "--once", "--schedule", analyzed["schedule"], "--json").stdout
    (event,) = [json.loads(x) for x in watched.splitlines()]
    assert event["detail"]["MonitoringExecutionStatus"] == "CompletedWithViolations"
    assert event["detail"]["ViolationCount"] >= 1
    plain = shipyard(mon_server, "watch", "--once", "--schedule", analyzed["schedule"]).stdout
    assert re.search(r"CompletedWithViolations  \d+ violation\(s\) ", plain)


@pytest.mark.integration
def test_report_has_a_chart_per_feature_and_the_violations(mon_server, analyzed, tmp_path):
    out = tmp_path / "report.html"
    assert f"wrote {out}" in shipyard(mon_server, "report", analyzed["schedule"], "--out", str(out)).stdout
    text = out.read_text()
    assert "<script" not in text and "http://" not in text.replace('xmlns="http://www.w3.org/2000/svg"', "")
    charts = re.findall(r'<div class="feature" data-feature="([^"]+)">.*?</div>', text, re.S)
    assert set(charts) >= set(FEATURES)
    assert text.count('<svg class="feature-chart"') >= len(FEATURES)
    assert 'class="baseline"' in text and 'class="current"' in text
    s3 = mon_server.client("s3")
    found = [k["Key"] for k in s3.list_objects_v2(Bucket=analyzed["bucket"], Prefix="reports/")["Contents"]
             if k["Key"].endswith("constraint_violations.json")]
    violations = json.loads(s3.get_object(Bucket=analyzed["bucket"], Key=found[-1])["Body"].read())["violations"]
    assert violations and f"<h2>Violations ({len(violations)})</h2>" in text
    for v in violations:
        assert v["constraint_check_type"] in text and v["feature_name"] in text


def test_rebin_shares_buckets_by_overlap():
    assert rebin([(0.0, 1.0, 10.0)], 0.0, 2.0, bins=2) == [1.0, 0.0]
    assert rebin([(0.0, 2.0, 4.0), (3.0, 3.0, 4.0)], 0.0, 4.0, bins=4) == [0.25, 0.25, 0.0, 0.5]


def test_report_draws_numbers_and_categories_and_escapes():
    def numeric(name, lo, hi):
        return {"name": name, "numerical_statistics": {"distribution": {"kll": {"buckets": [
            {"lower_bound": lo, "upper_bound": hi, "count": 10}]}}}}

    base = {"features": [numeric("x", 0, 1), {"name": "<c>", "string_statistics": {"distribution": {
        "categorical": {"buckets": [{"value": "a", "count": 3}, {"value": "b", "count": 1}]}}}}]}
    current = {"features": [numeric("x", 5, 6), {"name": "<c>", "string_statistics": {"distribution": {
        "categorical": {"buckets": [{"value": "z", "count": 2}]}}}}]}
    charts = {c.name: c for c in feature_charts(base, current, [{"feature_name": "x"}])}
    assert charts["x"].kind == "numeric" and charts["<c>"].kind == "categorical" and len(charts["x"].violations) == 1
    html = render_report("r <1>", {"Schedule": "s"}, base, current, [
        {"feature_name": "x", "constraint_check_type": "baseline_drift_check", "description": "<moved>"}])
    assert "&lt;moved&gt;" in html and "<moved>" not in html and "r &lt;1&gt;" in html
    assert html.count("<svg") == 2 and "No violations" not in html
    assert "No violations" in render_report("r", {}, base, None, [])
