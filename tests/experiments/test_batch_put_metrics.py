"""BatchPutMetrics (the sagemaker-metrics service, REST-JSON on the same port) through boto3: points from several
threads at once all land in the trial component's series, DescribeTrialComponent's metric summaries are computed
from them exactly, refused points come back in Errors by index while the others are stored, and an unknown
trial component is ResourceNotFound."""

from __future__ import annotations

import statistics
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

pytestmark = [pytest.mark.timeout(120)]

WRITERS = 8
BATCHES = 10  # per writer, 10 points each (the service's maximum per call)


@pytest.fixture(scope="module")
def clients(server):
    return server.client("sagemaker"), server.client("sagemaker-metrics")


def _tc(sm) -> str:
    name = f"tc-{uuid.uuid4().hex[:8]}"
    sm.create_trial_component(TrialComponentName=name)
    return name


def test_concurrent_writers_and_summaries(clients):
    sm, metrics = clients
    name = _tc(sm)
    now = time.time()
    sent: dict[str, list[float]] = {"loss": [], "acc": []}
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for b in range(BATCHES):
                data = []
                for i in range(10):
                    metric = "loss" if i % 2 else "acc"
                    value = (w * 1000 + b * 10 + i) / 7.0
                    data.append({"MetricName": metric, "Value": value, "Step": b * 10 + i,
                                 "Timestamp": now - 600 + w * 60 + b * 5 + i * 0.1})
                    with lock:
                        sent[metric].append(value)
                answer = metrics.batch_put_metrics(TrialComponentName=name, MetricData=data)
                assert not answer.get("Errors"), answer
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not failures, failures
    summaries = {m["MetricName"]: m for m in sm.describe_trial_component(TrialComponentName=name)["Metrics"]}
    assert set(summaries) == {"loss", "acc"}
    for metric, values in sent.items():
        s = summaries[metric]
        assert s["Count"] == len(values) == WRITERS * BATCHES * 5
        assert s["Max"] == pytest.approx(max(values)) and s["Min"] == pytest.approx(min(values))
        assert s["Avg"] == pytest.approx(statistics.fmean(values))
        assert s["StdDev"] == pytest.approx(statistics.stdev(values))
        # the latest timestamp belongs to the last writer's last batch
        assert s["Last"] == pytest.approx(max(values))
        assert s["SourceArn"].endswith(f":experiment-trial-component/{name}")


def test_refused_points_are_reported_by_index(clients):
    sm, metrics = clients
    name = _tc(sm)
    now = time.time()
    answer = metrics.batch_put_metrics(TrialComponentName=name, MetricData=[
        {"MetricName": "m", "Value": 1.0, "Timestamp": now},
        {"MetricName": "m", "Value": 2.0, "Timestamp": now - 30 * 24 * 3600},  # older than two weeks
        {"MetricName": "m", "Value": 3.0, "Timestamp": now + 1, "Step": 2},
        {"MetricName": "m", "Value": 4.0, "Timestamp": now + 24 * 3600},  # more than two hours ahead
    ])
    assert answer["Errors"] == [{"Code": "VALIDATION_ERROR", "MetricIndex": 1},
                                {"Code": "VALIDATION_ERROR", "MetricIndex": 3}]
    (m,) = sm.describe_trial_component(TrialComponentName=name)["Metrics"]
    assert (m["Count"], m["Min"], m["Max"], m["Last"]) == (2, 1.0, 3.0, 3.0)


def test_unknown_component_and_bad_shapes(clients):
    _, metrics = clients
    with pytest.raises(ClientError) as e:
        metrics.batch_put_metrics(TrialComponentName="no-such-tc",
                                  MetricData=[{"MetricName": "m", "Value": 1.0, "Timestamp": time.time()}])
    assert e.value.response["Error"]["Code"] == "ResourceNotFound" and "no-such-tc" in str(e.value)
    with pytest.raises(ClientError) as e:  # 11 points: the model allows 10
        metrics.batch_put_metrics(TrialComponentName="x", MetricData=[
            {"MetricName": "m", "Value": 1.0, "Timestamp": time.time()}] * 11)
    assert e.value.response["Error"]["Code"] == "ValidationException" and "metricData" in str(e.value)


def test_batch_get_metrics_curves(clients):
    sm, metrics = clients
    name = _tc(sm)
    now = time.time()
    metrics.batch_put_metrics(TrialComponentName=name, MetricData=[
        {"MetricName": "loss", "Value": v, "Step": step, "Timestamp": now - 5 + i}
        for i, (step, v) in enumerate([(0, 1.0), (0, 3.0), (1, 0.5), (2, 0.25)])])
    arn = sm.describe_trial_component(TrialComponentName=name)["TrialComponentArn"]
    query = {"MetricName": "loss", "ResourceArn": arn, "Period": "IterationNumber", "XAxisType": "IterationNumber"}
    avg, last, unknown = metrics.batch_get_metrics(MetricQueries=[
        {**query, "MetricStat": "Avg"}, {**query, "MetricStat": "Last"},
        {**query, "MetricStat": "Avg", "ResourceArn": arn.replace(name, "no-such-tc")}])["MetricQueryResults"]
    assert (avg["Status"], avg["XAxisValues"], avg["MetricValues"]) == ("Complete", [0, 1, 2], [2.0, 0.5, 0.25])
    assert last["MetricValues"] == [3.0, 0.5, 0.25]
    assert unknown["Status"] == "ValidationError" and "no-such-tc" in unknown["Message"]
