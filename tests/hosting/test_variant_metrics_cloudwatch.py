"""Endpoint variant metrics in CloudWatch (namespace AWS/SageMaker, dimensions EndpointName + VariantName).

Reproduces AWS's A/B testing notebook (examples/aws/ab_testing.py): traffic split over two variants, then
``get_metric_statistics(Namespace="AWS/SageMaker", MetricName="Invocations", Period=60, Statistics=["Sum"],
...)`` over the last hour for each variant, joined into one DataFrame; the sums must equal the requests each
variant answered. Every other endpoint metric (InvocationsPerInstance, Invocation4XXErrors/5XXErrors,
ModelLatency, OverheadLatency) is read with both GetMetricStatistics and GetMetricData.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest
from botocore.exceptions import ClientError

from shipyard.serving.metrics import SECOND_RETENTION, Series

from feature_helpers import ROW, delete, deploy, make_model, variant

NS = "AWS/SageMaker"
METRICS = ("Invocations", "InvocationsPerInstance", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency",
           "OverheadLatency")
STATS = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")


def test_series_buckets_by_second_and_folds_old_seconds_into_minutes():
    s = Series("ep", "v")
    t0 = 1_800_000_000  # a whole minute
    s.add(t0 + 0.2, 200, 0.010, 0.001, 0.5)
    s.add(t0 + 0.7, 404, 0.030, 0.002, 0.5)
    s.add(t0 + 59.9, 500, 0.020, 0.001, 1.0)
    s.add(t0 + 60.0, 200, 0.040, 0.001, 1.0)
    secs, mins = s.buckets()
    assert sorted(secs) == [t0, t0 + 59, t0 + 60] and not mins
    assert secs[t0][:3] == [2, 1, 0] and secs[t0][6:9] == pytest.approx([0.04, 0.01, 0.03])
    s.add(t0 + SECOND_RETENTION + 125, 200, 0.01, 0.001, 1.0)  # an hour later: the first two minutes fold
    secs, mins = s.buckets()
    assert sorted(secs) == [t0 + SECOND_RETENTION + 125]
    assert sorted(mins) == [t0, t0 + 60]
    assert mins[t0][:3] == [3, 1, 1] and mins[t0][3:6] == [2.0, 0.5, 1.0] and mins[t0 + 60][0] == 1


@pytest.fixture
def utc_clock(monkeypatch):
    """The notebook passes naive ``datetime.now()``, which botocore sends as UTC: on a SageMaker notebook
    instance the clock is UTC. Make it so here too."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _notebook_metrics(cw, endpoint_name: str, variants: list[str]):
    """examples/aws/ab_testing.py's get_invocation_metrics_for_endpoint_variant/plot_endpoint_metrics, verbatim."""
    import pandas as pd

    def get_invocation_metrics_for_endpoint_variant(endpoint_name, variant_name, start_time, end_time):
        metrics = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            StartTime=start_time,
            EndTime=end_time,
            Period=60,
            Statistics=["Sum"],
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint_name},
                {"Name": "VariantName", "Value": variant_name},
            ],
        )
        return (
            pd.DataFrame(metrics["Datapoints"])
            .sort_values("Timestamp")
            .set_index("Timestamp")
            .drop("Unit", axis=1)
            .rename(columns={"Sum": variant_name})
        )

    start_time = datetime.now() - timedelta(minutes=60)
    end_time = datetime.now()
    metrics_variant1 = get_invocation_metrics_for_endpoint_variant(endpoint_name, variants[0], start_time, end_time)
    metrics_variant2 = get_invocation_metrics_for_endpoint_variant(endpoint_name, variants[1], start_time, end_time)
    return metrics_variant1.join(metrics_variant2, how="outer")


def _dims(endpoint: str, variant_name: str) -> list[dict]:
    return [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant_name}]


def test_ab_testing_notebook_reads_invocations_per_variant(server, utc_clock):
    sm, rt, cw = server.client("sagemaker"), server.client("sagemaker-runtime"), server.client("cloudwatch")
    make_model(server, "cwab-1", 2.0)
    make_model(server, "cwab-2", 1.0)
    name = "cw-ab-test"
    deploy(server, name, [variant("Variant1", "cwab-1"), variant("Variant2", "cwab-2", count=2)])
    began = datetime.now(timezone.utc)
    sent: Counter = Counter()
    for _ in range(40):  # split by weight, as the notebook's traffic
        r = rt.invoke_endpoint(EndpointName=name, Body=ROW, ContentType="text/csv")
        r["Body"].read()
        sent[r["InvokedProductionVariant"]] += 1
    for _ in range(7):
        rt.invoke_endpoint(EndpointName=name, Body=ROW, ContentType="text/csv", TargetVariant="Variant1")
        sent["Variant1"] += 1
    for _ in range(5):  # the model answers 4xx: still invocations
        with pytest.raises(ClientError):
            rt.invoke_endpoint(EndpointName=name, Body=b"1,2", ContentType="text/csv", TargetVariant="Variant2")
        sent["Variant2"] += 1
    assert set(sent) == {"Variant1", "Variant2"}, sent
    time.sleep(1.1)  # the notebook's EndTime, datetime.now(), is sent to the second

    frame = _notebook_metrics(cw, name, ["Variant1", "Variant2"])
    assert frame["Variant1"].sum() == sent["Variant1"] and frame["Variant2"].sum() == sent["Variant2"], frame
    assert all(ts.second == 0 and ts.microsecond == 0 for ts in frame.index), frame  # minute boundaries

    start, end = began - timedelta(minutes=5), datetime.now(timezone.utc) + timedelta(minutes=1)
    bad = {"Variant1": 0, "Variant2": 5}
    instances = {"Variant1": 1, "Variant2": 2}
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": NS, "MetricName": m,
                                                          "Dimensions": _dims(name, v)},
                                               "Period": 60, "Stat": st}}
               for i, (v, m, st) in enumerate((v, m, st) for v in sent for m in METRICS for st in STATS)]
    data = cw.get_metric_data(MetricDataQueries=queries, StartTime=start, EndTime=end)["MetricDataResults"]
    by_id = {r["Id"]: r for r in data}
    for i, (v, m, st) in enumerate((v, m, st) for v in sent for m in METRICS for st in STATS):
        got = cw.get_metric_statistics(Namespace=NS, MetricName=m, Dimensions=_dims(name, v), StartTime=start,
                                       EndTime=end, Period=60, Statistics=[st])["Datapoints"]
        assert got, (v, m, st)
        assert {p["Unit"] for p in got} == {"Microseconds" if m.endswith("Latency") else "None"}
        mine = {p["Timestamp"]: p[st] for p in got}
        theirs = dict(zip(by_id[f"q{i}"]["Timestamps"], by_id[f"q{i}"]["Values"]))
        assert theirs == pytest.approx(mine), (v, m, st)  # both APIs give the same series
        total = sum(mine.values())
        if st == "SampleCount":
            assert total == sent[v], (v, m)  # one sample per request, whatever the metric
        elif (m, st) == ("Invocations", "Sum"):
            assert total == sent[v]
        elif (m, st) == ("InvocationsPerInstance", "Sum"):
            assert total == pytest.approx(sent[v] / instances[v])
        elif (m, st) == ("Invocation4XXErrors", "Sum"):
            assert total == bad[v]
        elif (m, st) == ("Invocation5XXErrors", "Sum"):
            assert total == 0
        elif m.endswith("Latency") and st in ("Minimum", "Average", "Maximum"):
            assert all(0 <= x < 10_000_000 for x in mine.values()), (v, m, st, mine)  # microseconds, < 10 s
    for v in sent:
        p = cw.get_metric_statistics(Namespace=NS, MetricName="ModelLatency", Dimensions=_dims(name, v),
                                     StartTime=start, EndTime=end, Period=3600, Statistics=list(STATS))["Datapoints"]
        assert len(p) == 1 and 0 < p[0]["Minimum"] <= p[0]["Average"] <= p[0]["Maximum"], p
        assert p[0]["Sum"] == pytest.approx(p[0]["Average"] * sent[v])
        assert p[0]["Average"] > 50, p  # microseconds: a model round trip takes more than 50 us
    # a unit that is not the metric's selects nothing (as on AWS); the metric's own unit, the same data
    args = dict(Namespace=NS, MetricName="ModelLatency", Dimensions=_dims(name, "Variant1"), StartTime=start,
                EndTime=end, Period=60, Statistics=["Sum"])
    assert cw.get_metric_statistics(**args, Unit="Seconds")["Datapoints"] == []
    assert sum(p["Sum"] for p in cw.get_metric_statistics(**args, Unit="Microseconds")["Datapoints"]) > 0
    # the dimensions must be exactly EndpointName + VariantName
    only_endpoint = cw.get_metric_statistics(Namespace=NS, MetricName="Invocations", StartTime=start, EndTime=end,
                                             Period=60, Statistics=["Sum"],
                                             Dimensions=[{"Name": "EndpointName", "Value": name}])
    assert only_endpoint["Datapoints"] == []

    listed = cw.list_metrics(Namespace=NS, Dimensions=[{"Name": "EndpointName", "Value": name}])["Metrics"]
    assert {(m["MetricName"], tuple(d["Value"] for d in m["Dimensions"])) for m in listed} == {
        (m, (name, v)) for m in METRICS for v in ("Variant1", "Variant2")}

    # the notebook's call again in Smithy RPC v2 CBOR, the protocol botocore picks when it ranks CBOR first
    import botocore.model

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(botocore.model, "PRIORITY_ORDERED_SUPPORTED_PROTOCOLS", ("smithy-rpc-v2-cbor", "json"))
        cbor_cw = server.client("cloudwatch")
        assert cbor_cw.meta.service_model.resolved_protocol == "smithy-rpc-v2-cbor"
        frame = _notebook_metrics(cbor_cw, name, ["Variant1", "Variant2"])
        assert frame["Variant1"].sum() == sent["Variant1"] and frame["Variant2"].sum() == sent["Variant2"], frame

    delete(server, name)  # CloudWatch keeps a deleted endpoint's metrics
    frame = _notebook_metrics(cw, name, ["Variant1", "Variant2"])
    assert frame["Variant1"].sum() == sent["Variant1"] and frame["Variant2"].sum() == sent["Variant2"], frame
    sm.delete_endpoint_config(EndpointConfigName=name)
