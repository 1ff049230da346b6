"""Search over trial components' metric summaries (``Metrics.<name>.<stat>``), as the SDK's ExperimentAnalytics
sorts by them: summaries of points sent with BatchPutMetrics are searchable as soon as the call returns (also
when many writers send to one component at once, with exact counts, extremes and averages), and a training
job's component is searchable by the job's metrics once the job has ended."""

from __future__ import annotations

import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from training_helpers import script_job, wait_status  # noqa: E402

pytestmark = [pytest.mark.timeout(180)]

BUCKET = "search-metrics"
TRAIN = """
    import os
    for i in range({epochs}):
        print(f"loss={{{scale} / (i + 1):.4f}}", flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")
"""


@pytest.fixture(scope="module")
def clients(server):
    return server.client("sagemaker"), server.client("sagemaker-metrics")


def _search(sm, filters: list[dict], sort_by: str, order: str = "Ascending") -> list[str]:
    out = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": filters}, SortBy=sort_by,
                    SortOrder=order)
    return [r["TrialComponent"]["TrialComponentName"] for r in out["Results"]]


def _put(metrics, component: str, name: str, values: list[float], start: float) -> None:
    for i in range(0, len(values), 10):
        data = [{"MetricName": name, "Value": v, "Step": i + j, "Timestamp": start + i + j}
                for j, v in enumerate(values[i:i + 10])]
        assert metrics.batch_put_metrics(TrialComponentName=component, MetricData=data).get("Errors") in (None, [])


def test_sort_and_filter_by_batch_put_metrics(clients):
    sm, metrics = clients
    metric = f"acc_{uuid.uuid4().hex[:8]}"
    now = time.time() - 600
    best = {f"tc-{uuid.uuid4().hex[:8]}": top for top in (0.7, 0.9, 0.8)}
    for name, top in best.items():
        sm.create_trial_component(TrialComponentName=name)
        _put(metrics, name, metric, [top / 2, top, top / 3], now)
    ranked = sorted(best, key=best.__getitem__)
    assert _search(sm, [{"Name": f"Metrics.{metric}.Max", "Operator": "Exists"}], f"Metrics.{metric}.Max") == ranked
    assert _search(sm, [{"Name": f"Metrics.{metric}.Max", "Operator": "Exists"}], f"Metrics.{metric}.Max",
                   "Descending") == ranked[::-1]
    above = _search(sm, [{"Name": f"Metrics.{metric}.Max", "Operator": "GreaterThan", "Value": "0.75"}],
                    f"Metrics.{metric}.Last")
    assert above == [n for n in sorted(best, key=lambda n: best[n] / 3) if best[n] > 0.75]
    hit = sm.search(Resource="ExperimentTrialComponent", SearchExpression={"Filters": [
        {"Name": f"Metrics.{metric}.Count", "Operator": "Equals", "Value": "3"},
        {"Name": f"Metrics.{metric}.Min", "Operator": "LessThan", "Value": "0.25"}]})["Results"]
    assert [r["TrialComponent"]["TrialComponentName"] for r in hit] == [ranked[0]]
    (summary,) = hit[0]["TrialComponent"]["Metrics"]  # the record is Describe's, from the series
    assert (summary["Count"], summary["Max"], summary["Last"]) == (3, 0.7, 0.7 / 3)


def test_concurrent_writers_keep_exact_summaries(clients):
    sm, metrics = clients
    name, metric = f"tc-{uuid.uuid4().hex[:8]}", f"loss_{uuid.uuid4().hex[:8]}"
    sm.create_trial_component(TrialComponentName=name)
    start = time.time() - 3600
    writers, batches = 6, 5
    sent: list[list[float]] = [[float(w * 100 + i) for i in range(batches * 10)] for w in range(writers)]
    failures: list[BaseException] = []

    def write(w: int) -> None:
        try:
            _put(metrics, name, metric, sent[w], start + w * 1000)
        except BaseException as e:  # noqa: BLE001 - reported below
            failures.append(e)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not failures and not any(t.is_alive() for t in threads)
    values = [v for series in sent for v in series]
    avg, std = statistics.fmean(values), statistics.stdev(values)
    last = sent[-1][-1]  # the latest timestamp: the last writer's last point
    exact = [{"Name": f"Metrics.{metric}.{stat}", "Operator": "Equals", "Value": str(value)}
             for stat, value in (("Count", len(values)), ("Min", min(values)), ("Max", max(values)),
                                 ("Last", last))]
    close = [{"Name": f"Metrics.{metric}.{stat}", "Operator": op, "Value": repr(value + delta)}
             for stat, value in (("Avg", avg), ("StdDev", std))
             for op, delta in (("GreaterThan", -1e-6), ("LessThan", 1e-6))]
    assert _search(sm, exact + close, f"Metrics.{metric}.Avg") == [name]
    (summary,) = sm.describe_trial_component(TrialComponentName=name)["Metrics"]
    assert summary["Count"] == len(values) and summary["Last"] == last


def test_training_job_metrics_are_searchable(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    tag = uuid.uuid4().hex[:6]
    metric = f"train_loss_{tag}"
    jobs = {f"sm-{tag}-{i}": scale for i, scale in enumerate((3.0, 1.0))}
    for job, scale in jobs.items():
        params = script_job(s3, BUCKET, job, TRAIN.format(epochs=4, scale=scale), hps={"epochs": "4"},
                            metrics=[{"Name": metric, "Regex": r"loss=([0-9.]+)"}], channels={"train": b"1,2\n"})
        params["ExperimentConfig"] = {"ExperimentName": f"exp-{tag}", "TrialName": f"trial-{job}"}
        sm.create_training_job(**params)
    for job in jobs:
        assert wait_status(sm, job, timeout=90)["TrainingJobStatus"] == "Completed"
    components = {f"{job}-aws-training-job": scale for job, scale in jobs.items()}
    deadline = time.monotonic() + 10  # the job's end is recorded as its status is saved; allow a tick
    found: list[str] = []
    while time.monotonic() < deadline:
        found = _search(sm, [{"Name": f"Metrics.{metric}.Count", "Operator": "Equals", "Value": "4"},
                             {"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": f"exp-{tag}"}],
                        f"Metrics.{metric}.Last")
        if len(found) == len(components):
            break
        time.sleep(0.2)
    assert found == sorted(components, key=components.__getitem__)
    low = _search(sm, [{"Name": f"Metrics.{metric}.Max", "Operator": "LessThanOrEqualTo", "Value": "1.0"}],
                  f"Metrics.{metric}.Max")
    assert low == [f"sm-{tag}-1-aws-training-job"]


@pytest.fixture(scope="module")
def sdk(server, tmp_path_factory):
    from shipyard.testing.sdk import sdk_environment, sdk_session

    bucket = f"search-metrics-sdk-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with sdk_environment(server, tmp_path_factory.mktemp("search-metrics-sdk"), bucket=bucket):
        yield sdk_session(bucket=bucket)


@pytest.mark.usefixtures("quick_sagemaker_sdk")
def test_experiment_analytics_sorts_by_a_metric(sdk):
    from sagemaker.analytics import ExperimentAnalytics
    from sagemaker.experiments.run import Run

    exp = f"exp-{uuid.uuid4().hex[:8]}"
    finals = {"a": 0.4, "b": 0.1, "c": 0.3}
    for run_name, final in finals.items():
        with Run(experiment_name=exp, run_name=run_name, sagemaker_session=sdk) as run:
            for step, loss in enumerate([0.9, 0.5, final]):
                run.log_metric("loss", loss, step=step)
    frame = ExperimentAnalytics(experiment_name=exp, sort_by="Metrics.loss.Min", sort_order="Ascending",
                                sagemaker_session=sdk).dataframe()
    assert list(frame["TrialComponentName"]) == [f"{exp}-{r}" for r in sorted(finals, key=finals.__getitem__)]
    assert list(frame["loss - Min"]) == sorted(finals.values())
