"""PutMetricData's series live in the metadata store (``shipyard.resources.custom_metrics``): after a kill -9
and restart of the server every sample is still there, with its unit, its statistics (a StatisticValues set
exactly as given), ListMetrics lists the series, and bad sample sets are refused with AWS's error code."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

NS = "Shipyard/Test"
DIMS = [{"Name": "Feature", "Value": "age"}, {"Name": "Endpoint", "Value": "ep"}]


def _stats(cw, metric: str, t0: float, **extra):
    return cw.get_metric_statistics(Namespace=NS, MetricName=metric, Dimensions=DIMS, StartTime=t0 - 60,
                                     EndTime=t0 + 120, Period=300, **extra)["Datapoints"]


def test_custom_metrics_survive_a_server_crash(server_factory):
    server = server_factory()
    cw = server.client("cloudwatch")
    t0 = float(int(time.time()))
    cw.put_metric_data(Namespace=NS, MetricData=[
        {"MetricName": "drift", "Dimensions": DIMS, "Timestamp": t0, "Value": 0.5, "Unit": "None"},
        {"MetricName": "drift", "Dimensions": DIMS, "Timestamp": t0 + 1, "Values": [1.0, 3.0], "Counts": [2, 1]},
        {"MetricName": "latency", "Dimensions": DIMS, "Timestamp": t0, "Unit": "Milliseconds",
         "StatisticValues": {"SampleCount": 2.5, "Sum": 10.0, "Minimum": 1.0, "Maximum": 6.0}},
    ])
    server.kill9()
    server.start()
    cw = server.client("cloudwatch")
    [drift] = _stats(cw, "drift", t0, Statistics=["SampleCount", "Sum", "Minimum", "Maximum", "Average"])
    assert (drift["SampleCount"], drift["Sum"], drift["Minimum"], drift["Maximum"]) == (4.0, 5.5, 0.5, 3.0)
    assert drift["Average"] == pytest.approx(5.5 / 4)
    [p50] = _stats(cw, "drift", t0, ExtendedStatistics=["p50"])
    assert p50["ExtendedStatistics"]["p50"] == 1.0  # samples 0.5, 1, 1, 3: CloudWatch's nearest rank
    [latency] = _stats(cw, "latency", t0, Statistics=["SampleCount", "Sum", "Minimum", "Maximum"])
    assert (latency["SampleCount"], latency["Sum"], latency["Minimum"], latency["Maximum"]) == (2.5, 10.0, 1.0, 6.0)
    assert latency["Unit"] == "Milliseconds"
    assert _stats(cw, "latency", t0, Statistics=["Sum"], Unit="Seconds") == []  # not the metric's own unit
    listed = cw.list_metrics(Namespace=NS)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["drift", "latency"]
    assert all(sorted(m["Dimensions"], key=lambda d: d["Name"]) == sorted(DIMS, key=lambda d: d["Name"])
               for m in listed)


@pytest.mark.parametrize("item", [
    {"MetricName": "m", "Value": 1.0, "Values": [1.0]},
    {"MetricName": "m", "Values": [1.0, 2.0], "Counts": [1.0]},
    {"MetricName": "m", "Values": [1.0], "Counts": [0.0]},
    {"MetricName": "m", "StatisticValues": {"SampleCount": 0.0, "Sum": 0.0, "Minimum": 0.0, "Maximum": 0.0}},
    {"MetricName": "m", "StatisticValues": {"SampleCount": 1.0, "Sum": 1.0, "Minimum": 2.0, "Maximum": 1.0}},
])
def test_bad_sample_sets_are_refused_and_store_nothing(server, item):
    cw = server.client("cloudwatch")
    with pytest.raises(ClientError) as e:
        cw.put_metric_data(Namespace="Shipyard/Bad", MetricData=[
            {"MetricName": "m", "Value": 1.0}, item])
    assert e.value.response["Error"]["Code"] in ("InvalidParameterValue", "InvalidParameterCombination")
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert cw.list_metrics(Namespace="Shipyard/Bad")["Metrics"] == []
