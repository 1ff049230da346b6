"""Training metrics read back through CloudWatch as time series, one data point per period.

A script-mode job prints a metric every 0.5 s for about 6 s; GetMetricStatistics and GetMetricData with a
short Period answer one point per period that holds data, each stamped at its period's boundary, and
the SageMaker SDK's ``TrainingJobAnalytics(job, period=...).dataframe()`` gets the same series (rows at
elapsed seconds 0, period, 2 x period, ...), not one averaged point.
"""

from __future__ import annotations

import datetime as dt
import math
import sys
import textwrap
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from training_helpers import script_job, unique, wait_status  # noqa: E402

NAMESPACE = "/aws/sagemaker/TrainingJobs"
BUCKET = "cw-series"
STEPS = 12
EMIT = """
    import time
    for i in range({steps}):
        print(f"step={{i}} loss={{1.0 / (i + 1):.6f}}", flush=True)
        time.sleep(0.5)
"""


@pytest.fixture(scope="module")
def metric_job(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    name = unique("cw-series")
    params = script_job(s3, BUCKET, name, EMIT.format(steps=STEPS),
                        metrics=[{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}])
    sm.create_training_job(**params)
    desc = wait_status(sm, name, timeout=90)
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return name, desc


def test_get_metric_statistics_one_point_per_period(server, metric_job):
    name, desc = metric_job
    cw = server.client("cloudwatch")
    dims = [{"Name": "TrainingJobName", "Value": name}]
    start = desc["TrainingStartTime"].replace(microsecond=0) - dt.timedelta(seconds=7)
    start -= dt.timedelta(seconds=(int(start.timestamp()) % 5) - 3 + (5 if int(start.timestamp()) % 5 < 3 else 0))
    assert int(start.timestamp()) % 5 == 3  # not on a period boundary: CloudWatch rounds it down
    end = desc["TrainingEndTime"] + dt.timedelta(minutes=1)
    for period in (1, 5):
        out = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dims,
                                       StartTime=start, EndTime=end, Period=period,
                                       Statistics=["SampleCount", "Average", "Minimum", "Maximum"])
        points = sorted(out["Datapoints"], key=lambda p: p["Timestamp"])
        assert sum(p["SampleCount"] for p in points) == STEPS, points
        stamps = [p["Timestamp"].timestamp() for p in points]
        assert all(s % period == 0 for s in stamps), stamps  # at period boundaries
        assert len(set(stamps)) == len(stamps)
        # 12 points over ~6 s: one per period that holds data
        assert len(points) >= math.floor(5.0 / period), (period, len(points))
        averages = [p["Average"] for p in points]
        assert averages == sorted(averages, reverse=True), averages  # the loss falls over time
        assert points[0]["Maximum"] == pytest.approx(1.0) and points[-1]["Minimum"] == pytest.approx(1 / STEPS, abs=1e-6)

    minute = cw.get_metric_statistics(Namespace=NAMESPACE, MetricName="train:loss", Dimensions=dims,
                                      StartTime=start, EndTime=end, Period=60, Statistics=["SampleCount"])
    assert sum(p["SampleCount"] for p in minute["Datapoints"]) == STEPS
    assert all(p["Timestamp"].second == 0 for p in minute["Datapoints"])
    assert len(minute["Datapoints"]) <= 2

    data = cw.get_metric_data(StartTime=start, EndTime=end, ScanBy="TimestampAscending", MetricDataQueries=[
        {"Id": "loss", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "train:loss",
                                                 "Dimensions": dims}, "Period": 1, "Stat": "Average"}},
        {"Id": "count", "MetricStat": {"Metric": {"Namespace": NAMESPACE, "MetricName": "train:loss",
                                                  "Dimensions": dims}, "Period": 1, "Stat": "SampleCount"}}])
    loss, count = data["MetricDataResults"]
    assert sum(count["Values"]) == STEPS
    stamps = [t.timestamp() for t in loss["Timestamps"]]
    assert stamps == sorted(stamps) and len(stamps) >= 5 and all(s == int(s) for s in stamps), stamps
    assert loss["Values"] == sorted(loss["Values"], reverse=True)


def test_training_job_analytics_dataframe_is_a_series(server, metric_job, monkeypatch):
    import boto3
    import sagemaker
    from sagemaker.analytics import TrainingJobAnalytics

    name, _ = metric_job
    for key, value in server.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    boto_session = boto3.Session(region_name="us-east-1")
    session = sagemaker.Session(boto_session=boto_session, sagemaker_client=boto_session.client("sagemaker"))
    df = TrainingJobAnalytics(name, sagemaker_session=session, period=1).dataframe()
    assert set(df["metric_name"]) == {"train:loss"}
    assert len(df) >= 5, df
    elapsed = list(df["timestamp"])
    assert elapsed[0] == 0 and elapsed == sorted(elapsed) and elapsed[-1] >= 4, elapsed
    values = list(df["value"])
    assert values == sorted(values, reverse=True) and values[0] > values[-1], values
