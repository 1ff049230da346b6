"""Shipyard Studio's tuning and experiment pages, and the training job Clone action, in a real browser.

The data is made as a user would: a small Random-strategy tuning job (4 script-mode trials, 2 at a time, each
printing its score) through boto3, an experiment of three runs through the SageMaker SDK's ``Run``
(``log_parameter`` / ``log_metric``). The charts are checked as drawn (uPlot's canvas has a size inside the
chart box) and their JSON routes as holding the points, not only that the HTML is there.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import pytest

from shipyard.ui.pages import clone_request
from shipyard.ui.pages_experiments import run_label, shown
from shipyard.ui.pages_tuning import _scatter, objective_over_time

pytestmark = pytest.mark.timeout(180)

# As in test_console.py: screenshots go to a temporary folder unless SHIPYARD_SCREENSHOTS names one (docs/images).
IMAGES = Path(os.environ.get("SHIPYARD_SCREENSHOTS") or tempfile.mkdtemp(prefix="shipyard-studio-shots-"))

SCRIPT = """\
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--level", type=float); p.add_argument("--kind"); p.add_argument("--sleep", type=float, default=0)
a, _ = p.parse_known_args()
time.sleep(a.sleep)
bonus = {"a": 0.0, "b": 0.1, "c": 0.2}[a.kind]
print(f"score={(a.level - 0.3) ** 2 + bonus:.6f}", flush=True)
"""
TRIALS = 4
RUNS = {"first": {"lr": 0.1, "optimizer": "adam", "epochs": 3},
        "second": {"lr": 0.01, "optimizer": "adam", "epochs": 3},
        "third": {"lr": 0.01, "optimizer": "sgd", "epochs": 3}}
LOSSES = {"first": [0.9, 0.6, 0.4], "second": [0.8, 0.5, 0.3], "third": [1.0, 0.9, 0.7]}


def _tuning_request(name: str, code: str, bucket: str, max_jobs: int = TRIALS, parallel: int = 2,
                    sleep: float = 0.0) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random", "RandomSeed": 5,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "level", "MinValue": "0", "MaxValue": "1"}],
                "CategoricalParameterRanges": [{"Name": "kind", "Values": ["a", "b", "c"]}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                      "sagemaker_submit_directory": json.dumps(code), "sleep": str(sleep)},
            "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "score", "Regex": r"score=([-0-9.eE+]+)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/studio",
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 120}},
    }


def _wait_tuning(sm, name: str, statuses=("Completed", "Failed", "Stopped"), timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    desc: dict = {}
    while time.monotonic() < deadline:
        desc = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if desc["HyperParameterTuningJobStatus"] in statuses:
            return desc
        time.sleep(0.3)
    raise AssertionError(f"tuning job {name} still {desc.get('HyperParameterTuningJobStatus')} after {timeout} s")


@pytest.fixture(scope="module")
def setup(server, tmp_path_factory):
    code = tmp_path_factory.mktemp("studio-tuning-code")
    (code / "train.py").write_text(SCRIPT)
    bucket = f"studio-tuning-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    return {"code": str(code), "bucket": bucket}


@pytest.fixture(scope="module")
def tuning(server, setup):
    """A finished 4-trial tuning job: its name, description and trial summaries."""
    sm = server.client("sagemaker")
    name = f"studio-tune-{uuid.uuid4().hex[:6]}"
    sm.create_hyper_parameter_tuning_job(**_tuning_request(name, setup["code"], setup["bucket"]))
    desc = _wait_tuning(sm, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    jobs = sm.list_training_jobs_for_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    return {"name": name, "desc": desc, "jobs": jobs["TrainingJobSummaries"]}


@pytest.fixture(scope="module")
def experiment(server, tmp_path_factory, quick_sagemaker_sdk):
    """An experiment of three SDK runs, each with parameters and a three-step loss curve."""
    from shipyard.testing.sdk import sdk_environment, sdk_session

    bucket = f"studio-exp-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    name = f"studio-exp-{uuid.uuid4().hex[:8]}"
    with sdk_environment(server, tmp_path_factory.mktemp("studio-exp"), bucket=bucket):
        from sagemaker.experiments.run import Run  # imported here: the environment quiets the SDK's notices

        session = sdk_session(bucket=bucket)
        for run_name, params in RUNS.items():
            with Run(experiment_name=name, run_name=run_name, sagemaker_session=session) as run:
                run.log_parameters(params)
                for step, loss in enumerate(LOSSES[run_name]):
                    run.log_metric("loss", loss, step=step)
    return name


def _canvas_sizes(page, selector: str) -> list[dict]:
    return page.evaluate("""sel => Array.from(document.querySelectorAll(sel + ' canvas')).map(c => {
        const r = c.getBoundingClientRect(); return {w: r.width, h: r.height, cw: c.width, ch: c.height}; })""",
                         selector)


def test_tuning_job_list_and_filters(page, tuning):
    name = tuning["name"]
    page.goto("/studio/tuning-jobs")
    page.fill("input[name=name]", name)
    page.select_option("select[name=status]", "Completed")
    page.click("form.filters button[type=submit]")
    rows = page.locator("#jobs-table tbody tr")
    assert rows.count() == 1
    cells = rows.first.locator("td").all_inner_texts()
    assert cells[:4] == [name, "Completed", "Random", str(TRIALS)], cells
    page.goto(f"/studio/tuning-jobs?status=Failed&name={name}")
    assert "No tuning jobs match" in page.locator("#jobs-table").inner_text()
    page.goto("/studio/tuning-jobs?status=Bogus")
    assert "Status must be one of" in page.locator("#error").inner_text()


def test_tuning_job_detail_leaderboard_and_charts(page, tuning):
    name, desc = tuning["name"], tuning["desc"]
    page.goto("/studio/tuning-jobs")
    page.fill("input[name=name]", name)
    page.click("form.filters button[type=submit]")
    page.click(f"#jobs-table a:text-is('{name}')")
    page.wait_for_url(re.compile(rf".*/studio/tuning-jobs/{name}$"))
    assert page.locator("#tuning-status").inner_text() == "Completed"
    assert page.locator("#objective").inner_text() == "Minimize score"
    assert page.locator("#counters").inner_text().startswith(f"{TRIALS} completed, 0 in progress")
    assert page.locator("#stop-tuning-job").count() == 0  # nothing to stop once it ended
    ranges = page.locator("#ranges").inner_text()
    assert "level" in ranges and "Continuous" in ranges and "a, b, c" in ranges
    # The leaderboard: every trial, smallest score first (Minimize), with its tuned hyperparameters.
    values = {j["TrainingJobName"]: j["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for j in tuning["jobs"]}
    rows = page.locator("#leaderboard tbody tr")
    assert rows.count() == TRIALS
    order = [rows.nth(i).get_attribute("data-job") for i in range(TRIALS)]
    assert order == sorted(values, key=values.get)
    shown = [float(rows.nth(i).locator(".objective-value").inner_text()) for i in range(TRIALS)]
    assert shown == sorted(shown)
    first = next(j for j in tuning["jobs"] if j["TrainingJobName"] == order[0])
    assert first["TunedHyperParameters"]["kind"] in rows.first.inner_text()
    header = page.locator("#leaderboard thead").inner_text()
    assert "level" in header and "kind" in header and "score" in header
    # The best job links to its training job page.
    best = desc["BestTrainingJob"]["TrainingJobName"]
    assert best == order[0] and page.locator("#leaderboard tbody tr.best").get_attribute("data-job") == best
    page.click(f"#best-job a:text-is('{best}')")
    page.wait_for_url(re.compile(rf".*/studio/training-jobs/{best}$"))
    assert page.locator("#job-status").inner_text() == "Completed"

    # The charts: objective over time, and one scatter per tuned hyperparameter, drawn by uPlot.
    page.goto(f"/studio/tuning-jobs/{name}")
    page.wait_for_selector("#tuning-charts[data-rendered='3']", timeout=10_000)
    assert page.locator("#tuning-charts figure[data-chart='objective-time']").count() == 1
    assert sorted(page.locator("#tuning-charts figure[data-chart='param']").evaluate_all(
        "fs => fs.map(f => f.dataset.param)")) == ["kind", "level"]
    sizes = _canvas_sizes(page, "#tuning-charts")
    assert len(sizes) == 3 and all(s["w"] > 100 and s["h"] > 50 and s["cw"] > 0 for s in sizes), sizes
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-tuning-job.png"), full_page=True)
    data = page.request.get(f"/studio/tuning-jobs/{name}/trials.json").json()
    assert data["objective"] == {"MetricName": "score", "Type": "Minimize"} and data["live"] is False
    timeline = data["time"]
    assert len(timeline["t"]) == TRIALS and sorted(timeline["v"]) == sorted(values.values())
    assert timeline["t"] == sorted(timeline["t"])
    assert timeline["best"] == [min(timeline["v"][:i + 1]) for i in range(TRIALS)]
    params = {p["name"]: p for p in data["params"]}
    assert params["level"]["labels"] is None and len(params["level"]["x"]) == TRIALS
    assert params["level"]["x"] == sorted(params["level"]["x"]) and all(0 <= x <= 1 for x in params["level"]["x"])
    assert params["kind"]["labels"] == ["a", "b", "c"]
    assert sorted(params["kind"]["x"]) == sorted(
        float("abc".index(j["TunedHyperParameters"]["kind"])) for j in tuning["jobs"])


def test_stop_a_running_tuning_job(page, server, setup):
    sm = server.client("sagemaker")
    name = f"studio-stop-{uuid.uuid4().hex[:6]}"
    sm.create_hyper_parameter_tuning_job(**_tuning_request(name, setup["code"], setup["bucket"], max_jobs=2,
                                                           parallel=1, sleep=60))
    page.goto(f"/studio/tuning-jobs/{name}")
    assert page.locator("#tuning-status").inner_text() == "InProgress"
    # The live part polls itself (htmx) while the job runs.
    assert page.locator("#tuning-live").get_attribute("hx-trigger") == "every 3s"
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#stop-tuning-job")
    page.wait_for_url(re.compile(rf".*/studio/tuning-jobs/{name}$"))
    assert page.locator("#tuning-status").inner_text() in ("Stopping", "Stopped")
    # The page follows the job to Stopped by itself (htmx), then stops polling and offers no Stop button.
    page.wait_for_function("() => document.querySelector('#tuning-status').innerText === 'Stopped'", timeout=30_000)
    assert page.locator("#tuning-live").get_attribute("hx-trigger") is None
    assert page.locator("#stop-tuning-job").count() == 0
    assert sm.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"] == "Stopped"


def test_experiment_runs_table_and_comparison(page, experiment):
    page.goto("/studio/experiments")
    page.click(f"#experiments-table a:text-is('{experiment}')")
    page.wait_for_url(re.compile(rf".*/studio/experiments/{experiment}$"))
    rows = page.locator("#runs-table tbody tr")
    assert rows.count() == 3
    names = [rows.nth(i).get_attribute("data-run") for i in range(3)]
    assert names == [f"{experiment}-{r}" for r in RUNS]
    second = page.locator(f"#runs-table tr[data-run='{experiment}-second']")
    assert "Completed" in second.inner_text() and "lr=0.01" in second.inner_text()
    assert second.locator("td.metric[data-metric='loss']").inner_text() == "0.3"  # the last value logged
    assert page.locator("#comparison").count() == 0

    # Choose two runs: the choice goes to the query string, the charts overlay one series per run.
    page.check(f"input[name=run][value='{experiment}-first']")
    page.check(f"input[name=run][value='{experiment}-second']")
    page.click("#compare-runs")
    page.wait_for_url(re.compile(r".*[?&]run=.*run=.*"))
    assert page.locator("input[name=run]:checked").count() == 2
    page.wait_for_selector("#run-charts[data-rendered='1']", timeout=10_000)
    figure = page.locator("#run-charts figure[data-metric='loss']")
    assert figure.get_attribute("data-series") == "2"
    sizes = _canvas_sizes(page, "#run-charts")
    assert sizes and all(s["w"] > 100 and s["h"] > 50 and s["cw"] > 0 for s in sizes), sizes
    legend = page.locator("#run-charts .u-legend").inner_text()
    assert "first" in legend and "second" in legend and "third" not in legend
    src = page.locator("#run-charts").get_attribute("data-src")
    data = page.request.get(src).json()["metrics"]["loss"]
    assert data["x"] == [0, 1, 2]
    assert {s["run"]: s["v"] for s in data["series"]} == {"first": pytest.approx(LOSSES["first"]),
                                                           "second": pytest.approx(LOSSES["second"])}
    # Only the parameters that differ between the chosen runs: lr (optimizer and epochs are the same).
    table = page.locator("#differing-parameters")
    assert table.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.parameter)") == ["lr"]
    assert "0.1" in table.inner_text() and "0.01" in table.inner_text()

    # All three: optimizer differs too now; epochs never does.
    page.check(f"input[name=run][value='{experiment}-third']")
    page.click("#compare-runs")
    page.wait_for_selector("#run-charts[data-rendered='1']", timeout=10_000)
    assert page.locator("#run-charts figure[data-metric='loss']").get_attribute("data-series") == "3"
    params = page.locator("#differing-parameters tbody tr").evaluate_all("rs => rs.map(r => r.dataset.parameter)")
    assert params == ["lr", "optimizer"]
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-experiment.png"), full_page=True)


def test_clone_a_finished_training_job_with_a_changed_hyperparameter(page, server, tuning):
    sm = server.client("sagemaker")
    source = tuning["desc"]["BestTrainingJob"]["TrainingJobName"]
    page.goto(f"/studio/training-jobs/{source}")
    page.click("#clone summary")
    new_name = page.locator("input[name=new_name]").input_value()
    assert new_name == f"{source}-clone-1"
    level = page.locator("input[name='hp:level']")
    assert level.input_value() == sm.describe_training_job(TrainingJobName=source)["HyperParameters"]["level"]
    level.fill("0.5")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "studio-training-job-clone.png"), full_page=True)
    page.click("#clone-job")
    page.wait_for_url(re.compile(rf".*/studio/training-jobs/{new_name}$"))
    assert page.locator("h1").inner_text().startswith(new_name)
    clone = sm.describe_training_job(TrainingJobName=new_name)
    original = sm.describe_training_job(TrainingJobName=source)
    assert clone["HyperParameters"]["level"] == "0.5"
    assert {k: v for k, v in clone["HyperParameters"].items() if k != "level"} == {
        k: v for k, v in original["HyperParameters"].items() if k != "level"}
    for field in ("AlgorithmSpecification", "RoleArn", "OutputDataConfig", "ResourceConfig", "StoppingCondition"):
        assert clone[field] == original[field], field
    assert "TuningJobArn" not in clone  # a clone is a job of its own, not the tuning job's trial
    # The clone runs as its source did, with its own value.
    deadline = time.monotonic() + 60
    while clone["TrainingJobStatus"] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.2)
        clone = sm.describe_training_job(TrainingJobName=new_name)
    assert clone["TrainingJobStatus"] == "Completed", clone.get("FailureReason")
    assert clone["FinalMetricDataList"][0]["Value"] == pytest.approx((0.5 - 0.3) ** 2 + {"a": 0, "b": 0.1, "c": 0.2}[
        clone["HyperParameters"]["kind"].strip('"')], abs=1e-6)
    # The next clone of the same job is offered the next number.
    page.goto(f"/studio/training-jobs/{source}")
    assert page.locator("input[name=new_name]").input_value() == f"{source}-clone-2"
    # A name the API refuses comes back as the API's error, saying why; nothing is created.
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    r = page.request.post(f"/studio/training-jobs/{source}/clone", max_redirects=0,
                          form={"csrf_token": token, "new_name": "not_a_valid name", "hp:level": "0.1"})
    assert r.status == 400 and "ValidationException" in r.text()
    r = page.request.post(f"/studio/training-jobs/{source}/clone", max_redirects=0, form={"csrf_token": token})
    assert r.status == 400 and "Give the clone a name" in r.text()


def test_new_routes_need_a_session(server):
    for method, path in (("GET", "/studio/tuning-jobs"), ("GET", "/studio/tuning-jobs/x/trials.json"),
                         ("POST", "/studio/tuning-jobs/x/stop"), ("GET", "/studio/experiments/x"),
                         ("GET", "/studio/experiments/x/metrics.json?run=a"),
                         ("POST", "/studio/training-jobs/x/clone")):
        r = httpx.request(method, server.url + path, follow_redirects=False)
        assert r.status_code == 401, (method, path, r.status_code)


def test_missing_resources_answer_the_api_error(page):
    """An unknown tuning job or experiment is the API's 4xx with its reason, on the page and on the JSON routes."""
    for path in ("/studio/tuning-jobs/no-such-tuning-job", "/studio/experiments/no-such-experiment",
                 "/studio/tuning-jobs/no-such-tuning-job/trials.json",
                 "/studio/experiments/no-such-experiment/metrics.json?run=x"):
        r = page.request.get(path)  # the API's code: SageMaker says ValidationException for a tuning job
        assert r.status == 400 and re.search(r"ResourceNotFound|Could not find", r.text()), (path, r.status)


# --- the pages' pure parts -----------------------------------------------------------------------------------
def _trial(name: str, end: float | None, value: float | None, **tuned: str) -> dict:
    out: dict = {"TrainingJobName": name, "TunedHyperParameters": tuned}
    if end is not None:
        out["TrainingEndTime"] = end
    if value is not None:
        out["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": "m", "Value": value}
    return out


def test_objective_over_time_keeps_the_running_best_for_either_direction():
    trials = [_trial("c", 30.0, 0.5), _trial("a", 10.0, 0.7), _trial("b", 20.0, 0.9), _trial("d", None, 0.1)]
    low = objective_over_time(trials, maximize=False)
    assert low == {"t": [10.0, 20.0, 30.0], "v": [0.7, 0.9, 0.5], "best": [0.7, 0.7, 0.5], "names": ["a", "b", "c"]}
    assert objective_over_time(trials, maximize=True)["best"] == [0.7, 0.9, 0.9]


def test_scatter_axes_for_numbers_log_ranges_and_categories():
    trials = [_trial("a", 1, 3.0, lr="0.1", opt="sgd"), _trial("b", 2, 1.0, lr="0.001", opt="adam"),
              _trial("c", 3, 2.0, lr="0.01", opt="sgd")]
    lr = _scatter({"name": "lr", "kind": "Continuous", "scaling": "Logarithmic", "values": []}, trials)
    assert (lr["x"], lr["v"], lr["labels"], lr["log"]) == ([0.001, 0.01, 0.1], [1.0, 2.0, 3.0], None, True)
    opt = _scatter({"name": "opt", "kind": "Categorical", "scaling": "", "values": ["adam", "sgd", "rms"]}, trials)
    assert opt["labels"] == ["adam", "sgd", "rms"] and opt["x"] == [0.0, 1.0, 1.0] and opt["v"] == [1.0, 2.0, 3.0]


def test_clone_request_keeps_only_what_create_training_job_accepts():
    described = {
        "TrainingJobName": "old", "TrainingJobArn": "arn:aws:sagemaker:us-east-1:1:training-job/old",
        "TuningJobArn": "arn:x", "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed",
        "CreationTime": 1.0, "ModelArtifacts": {"S3ModelArtifacts": "s3://b/m.tar.gz"},
        "HyperParameters": {"a": "1"}, "RoleArn": "arn:aws:iam::1:role/r",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File", "MetricDefinitions": [],
                                   "EnableSageMakerMetricsTimeSeries": False},
        "OutputDataConfig": {"S3OutputPath": "s3://b/out", "KmsKeyId": ""},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "Environment": {"X": ""},
        "SecondaryStatusTransitions": [{"Status": "Starting"}], "FinalMetricDataList": [], "VpcConfig": {}}
    params = clone_request(described, "new", {"a": "2"})
    assert params == {
        "TrainingJobName": "new", "HyperParameters": {"a": "2"}, "RoleArn": "arn:aws:iam::1:role/r",
        "AlgorithmSpecification": {"TrainingImage": "img", "TrainingInputMode": "File",
                                   "EnableSageMakerMetricsTimeSeries": False},
        "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60}, "Environment": {"X": ""}}


def test_run_labels_and_parameter_values_read_as_people_wrote_them():
    assert run_label({"TrialComponentName": "exp-first"}, "exp") == "first"
    assert run_label({"TrialComponentName": "exp-first", "DisplayName": "exp-first"}, "exp") == "first"
    assert run_label({"TrialComponentName": "exp-first", "DisplayName": "Baseline"}, "exp") == "Baseline"
    assert run_label({"TrialComponentName": "job-aws-training-job"}, "exp") == "job-aws-training-job"
    assert (shown(3.0), shown(0.01), shown("adam"), shown(None)) == ("3", "0.01", "adam", "")
