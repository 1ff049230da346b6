"""Tuning jobs end to end: boto3 against a real server, children are real script-mode training jobs.

The objective is Branin computed by a tiny script that prints ``objective: <value>`` lines, matched by the
definition's MetricDefinitions.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest
from botocore.exceptions import ClientError

from shipyard.tuning.testfunctions import branin

SCRIPT = r'''
import argparse, math, os, sys, time
p = argparse.ArgumentParser()
p.add_argument("--x1", type=float); p.add_argument("--x2", type=float)
p.add_argument("--sleep", type=float, default=0.0); p.add_argument("--epochs", type=int, default=3)
p.add_argument("--sleep_if_above", type=float, default=-1e9)
a, _ = p.parse_known_args()
v = (a.x2 - 5.1 / (4 * math.pi ** 2) * a.x1 ** 2 + 5 / math.pi * a.x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a.x1) + 10
for e in range(a.epochs):
    print(f"epoch {e} objective: {v * (1 + (a.epochs - 1 - e) * 0.1):.6f}", flush=True)
    time.sleep(a.sleep / max(1, a.epochs) if v > a.sleep_if_above else 0)
print(f"final objective: {v:.6f}", flush=True)
print(f"x1sq: {a.x1 ** 2:.6f}", flush=True)
'''

ROLE = "arn:aws:iam::123456789012:role/tuning"
METRICS = [{"Name": "objective", "Regex": r"objective: ([-0-9.eE+]+)"}]


@pytest.fixture(scope="module")
def setup(server, tmp_path_factory):
    code = tmp_path_factory.mktemp("tuning-code")
    (code / "train.py").write_text(SCRIPT)
    bucket = f"tuning-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    return {"code": str(code), "bucket": bucket}


def definition(setup, sleep=0.0, ranges=None, metrics=METRICS, static=None):
    return {
        "StaticHyperParameters": {"sagemaker_program": '"train.py"',
                                  "sagemaker_submit_directory": f'"{setup["code"]}"', "sleep": str(sleep),
                                  **(static or {})},
        "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                   "MetricDefinitions": metrics},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{setup['bucket']}/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 120},
        **({"HyperParameterRanges": ranges} if ranges is not None else {}),
    }


BRANIN = {"ContinuousParameterRanges": [
    {"Name": "x1", "MinValue": "-5", "MaxValue": "10", "ScalingType": "Linear"},
    {"Name": "x2", "MinValue": "0", "MaxValue": "15", "ScalingType": "Linear"}]}


def config(strategy="Bayesian", max_jobs=6, parallel=2, ranges=BRANIN, **extra):
    return {"Strategy": strategy,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": ranges, "RandomSeed": 7, **extra}


def wait(sm, name, statuses=("Completed", "Failed", "Stopped"), timeout=90.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["HyperParameterTuningJobStatus"] in statuses:
            return d
        time.sleep(0.3)
    raise AssertionError(f"tuning job {name} still {d['HyperParameterTuningJobStatus']}: {d}")


def all_children(sm, name, **kw):
    rows, token = [], None
    for _ in range(50):
        page = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=2, **({"NextToken": token} if token else {}), **kw)
        rows += page["TrainingJobSummaries"]
        token = page.get("NextToken")
        if not token:
            return rows
    raise AssertionError("pagination did not end")


def test_bayesian_tuning_job_runs_children_and_reports_the_best(server, setup):
    sm = server.client("sagemaker")
    name = f"tj-{uuid.uuid4().hex[:8]}"
    arn = sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(),
        TrainingJobDefinition=definition(setup))["HyperParameterTuningJobArn"]
    assert arn.endswith(f"hyper-parameter-tuning-job/{name}")
    d = wait(sm, name)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    assert d["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    rows = all_children(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Ascending")
    assert len(rows) == 6 and len({r["TrainingJobName"] for r in rows}) == 6
    values = [r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for r in rows]
    assert values == sorted(values)
    for r in rows:
        assert re.fullmatch(rf"{name}-\d{{3}}-[0-9a-f]{{8}}", r["TrainingJobName"])
        hp = r["TunedHyperParameters"]
        assert set(hp) == {"x1", "x2"}
        # the value is what the script computed from the hyperparameters it was given
        assert r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == pytest.approx(
            branin(float(hp["x1"]), float(hp["x2"])), abs=1e-4)
    best = d["BestTrainingJob"]
    assert best["TrainingJobName"] == rows[0]["TrainingJobName"]
    assert best["FinalHyperParameterTuningJobObjectiveMetric"] == {
        "Type": "Minimize", "MetricName": "objective", "Value": values[0]}
    child = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    assert child["TuningJobArn"] == arn
    assert child["HyperParameters"]["_tuning_objective_metric"] == "objective"
    assert child["HyperParameters"]["sleep"] == "0.0" and child["HyperParameters"]["x1"] == best["TunedHyperParameters"]["x1"]
    listed = sm.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [s["HyperParameterTuningJobName"] for s in listed] == [name]
    assert listed[0]["Strategy"] == "Bayesian" and listed[0]["TrainingJobStatusCounters"]["Completed"] == 6
    desc_rows = all_children(sm, name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert [r["TrainingJobName"] for r in desc_rows] == [r["TrainingJobName"] for r in reversed(rows)]

    # warm start: a child tuning job starts from the parent's observations and reports the overall best
    child_name = f"{name}-ws"
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=child_name, HyperParameterTuningJobConfig=config(max_jobs=2),
        TrainingJobDefinition=definition(setup),
        WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": name}],
                         "WarmStartType": "IdenticalDataAndAlgorithm"})
    w = wait(sm, child_name)
    assert w["HyperParameterTuningJobStatus"] == "Completed"
    assert w["TrainingJobStatusCounters"]["Completed"] == 2
    overall = w["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert overall == min(values[0], w["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])

    sm.delete_hyper_parameter_tuning_job(HyperParameterTuningJobName=child_name)
    with pytest.raises(ClientError) as e:
        sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=child_name)
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_grid_runs_every_combination(server, setup):
    sm = server.client("sagemaker")
    name = f"grid-{uuid.uuid4().hex[:8]}"
    grid = {"CategoricalParameterRanges": [{"Name": "x1", "Values": ["-3", "3"]},
                                           {"Name": "x2", "Values": ["1", "2", "3"]}]}
    cfg = config("Grid", ranges=grid, parallel=3)
    del cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                         TrainingJobDefinition=definition(setup))
    d = wait(sm, name)
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    combos = {(r["TunedHyperParameters"]["x1"], r["TunedHyperParameters"]["x2"]) for r in all_children(sm, name)}
    assert combos == {(a, b) for a in ("-3", "3") for b in ("1", "2", "3")}
    # listing tuning jobs: filters and pagination
    assert sm.list_hyper_parameter_tuning_jobs(NameContains=name, StatusEquals="InProgress")[
        "HyperParameterTuningJobSummaries"] == []
    seen, token = [], None
    for _ in range(20):
        page = sm.list_hyper_parameter_tuning_jobs(MaxResults=1, SortBy="Name", SortOrder="Ascending",
                                                   StatusEquals="Completed", **({"NextToken": token} if token else {}))
        seen += [s["HyperParameterTuningJobName"] for s in page["HyperParameterTuningJobSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    assert name in seen and seen == sorted(seen, key=str.lower) and len(seen) == len(set(seen))


@pytest.mark.parametrize("change,needle", [
    (lambda c, d: d["AlgorithmSpecification"].update(MetricDefinitions=[]), "is not emitted"),
    (lambda c, d: c.update(Strategy="Grid"), "Grid strategy supports only CategoricalParameterRanges"),
    (lambda c, d: c["ParameterRanges"]["ContinuousParameterRanges"][0].update(
        ScalingType="Logarithmic"), "needs MinValue > 0"),
    (lambda c, d: c.update(Strategy="Hyperband", TrainingJobEarlyStoppingType="Auto"), "must be Off"),
    (lambda c, d: c["ParameterRanges"]["ContinuousParameterRanges"][0].update(MinValue="20"), "greater than"),
    (lambda c, d: d["StaticHyperParameters"].update(x1="1"), "both static and tuned"),
])
def test_validation_errors_before_any_job_starts(server, setup, change, needle):
    sm = server.client("sagemaker")
    cfg, d = config(), definition(setup)
    cfg["ParameterRanges"] = {"ContinuousParameterRanges": [dict(r) for r in BRANIN["ContinuousParameterRanges"]]}
    change(cfg, d)
    name = f"bad-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                             TrainingJobDefinition=d)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert needle in e.value.response["Error"]["Message"]
    assert not sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


def test_missing_parent_and_duplicate_name(server, setup):
    sm = server.client("sagemaker")
    name = f"dup-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(max_jobs=1),
            TrainingJobDefinition=definition(setup),
            WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "nope"}],
                             "WarmStartType": "TransferLearning"})
    assert "Could not find" in e.value.response["Error"]["Message"]
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(
        max_jobs=1, parallel=1), TrainingJobDefinition=definition(setup))
    with pytest.raises(ClientError) as e:
        sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(
            max_jobs=1), TrainingJobDefinition=definition(setup))
    assert e.value.response["Error"]["Code"] == "ResourceInUse"
    wait(sm, name)
    with pytest.raises(ClientError, match="must be 'gp' or 'tpe'"):
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=f"{name}-e", HyperParameterTuningJobConfig=config(max_jobs=1),
            TrainingJobDefinition=definition(setup), Tags=[{"Key": "shipyard:bayesian-engine", "Value": "cma"}])


def test_stop_stops_children(server, setup):
    sm = server.client("sagemaker")
    name = f"stop-{uuid.uuid4().hex[:8]}"
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(
        max_jobs=10, parallel=2), TrainingJobDefinition=definition(setup, sleep=60))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if sm.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name)["TrainingJobStatusCounters"]["InProgress"] == 2:
            break
        time.sleep(0.2)
    sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
    d = wait(sm, name, timeout=60)
    assert d["HyperParameterTuningJobStatus"] == "Stopped"
    rows = all_children(sm, name)
    assert len(rows) == 2 and {r["TrainingJobStatus"] for r in rows} == {"Stopped"}
    with pytest.raises(ClientError):
        sm.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


def test_restart_mid_tuning_resumes(server_factory, tmp_path):
    srv = server_factory()
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text(SCRIPT)
    srv.client("s3").create_bucket(Bucket="restart-bucket")
    setup = {"code": str(code), "bucket": "restart-bucket"}
    sm = srv.client("sagemaker")
    name = "restart-tuning"
    # Bayesian with the TPE engine: its Optuna study lives in memory and must be rebuilt from the stored state
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=config(
        "Bayesian", max_jobs=5, parallel=1), TrainingJobDefinition=definition(setup, sleep=1.0),
        Tags=[{"Key": "shipyard:bayesian-engine", "Value": "tpe"}])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)
        if d["TrainingJobStatusCounters"]["Completed"] >= 2:
            break
        time.sleep(0.2)
    srv.kill9()
    srv.start()
    sm = srv.client("sagemaker")
    d = wait(sm, name, timeout=90)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d
    assert d["TrainingJobStatusCounters"]["Completed"] == 5
    rows = all_children(sm, name)
    assert len({r["TrainingJobName"] for r in rows}) == 5
    assert len({(r["TunedHyperParameters"]["x1"], r["TunedHyperParameters"]["x2"]) for r in rows}) == 5
    assert d["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(
        r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for r in rows)


def test_early_stopping_auto_stops_a_job_worse_than_the_median(server, setup):
    """Three good jobs finish at once; the fourth is far worse and slow, so the median rule stops it."""
    sm = server.client("sagemaker")
    name = f"es-{uuid.uuid4().hex[:8]}"
    grid = {"CategoricalParameterRanges": [{"Name": "x1", "Values": ["3.14"]},
                                           {"Name": "x2", "Values": ["2.0", "2.5", "3.0", "15"]}]}
    cfg = config("Grid", ranges=grid, parallel=1, TrainingJobEarlyStoppingType="Auto")
    del cfg["ResourceLimits"]["MaxNumberOfTrainingJobs"]
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
        TrainingJobDefinition=definition(setup, sleep=60, static={"epochs": "20", "sleep_if_above": "50"}))
    d = wait(sm, name, timeout=60)
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    assert d["TrainingJobStatusCounters"]["Completed"] == 3 and d["TrainingJobStatusCounters"]["Stopped"] == 1
    stopped = [r for r in all_children(sm, name) if r["TrainingJobStatus"] == "Stopped"]
    assert stopped[0]["TunedHyperParameters"]["x2"] == "15"
    assert d["BestTrainingJob"]["TunedHyperParameters"]["x2"] in ("2.0", "2.5", "3.0")


def test_hyperband_promotes_with_more_resource(server, setup):
    sm = server.client("sagemaker")
    name = f"hb-{uuid.uuid4().hex[:8]}"
    cfg = config("Hyperband", max_jobs=6, parallel=3,
                 StrategyConfig={"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}})
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                         TrainingJobDefinition=definition(setup, static={"epochs": "3"}))
    d = wait(sm, name)
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    rows = all_children(sm, name, SortBy="CreationTime", SortOrder="Ascending")
    epochs = [sm.describe_training_job(TrainingJobName=r["TrainingJobName"])["HyperParameters"]["epochs"]
              for r in rows]
    # bracket s=1: three configurations at 1 epoch, the best of them again at 3; bracket s=0: two at 3
    assert epochs[:3] == ["1", "1", "1"] and epochs[3:] == ["3", "3", "3"]
    first = {r["TrainingJobName"]: r for r in rows[:3]}
    best_first = min(first.values(), key=lambda r: r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    promoted = [r for r in rows[3:] if (r["TunedHyperParameters"]["x1"], r["TunedHyperParameters"]["x2"]) == (
        best_first["TunedHyperParameters"]["x1"], best_first["TunedHyperParameters"]["x2"])]
    assert len(promoted) == 1


def test_target_objective_completes_early(server, setup):
    sm = server.client("sagemaker")
    name = f"tgt-{uuid.uuid4().hex[:8]}"
    cfg = config("Random", max_jobs=30, parallel=1,
                 TuningJobCompletionCriteria={"TargetObjectiveMetricValue": 60.0})
    sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                         TrainingJobDefinition=definition(setup))
    d = wait(sm, name)
    rows = all_children(sm, name, SortBy="CreationTime", SortOrder="Ascending")
    values = [r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for r in rows]
    assert d["HyperParameterTuningJobStatus"] == "Completed"
    # it stopped launching at the first job that reached the target, long before 30 jobs
    first_hit = next(i for i, v in enumerate(values) if v <= 60.0)
    assert len(rows) == first_hit + 1 < 30
    assert d["TuningJobCompletionDetails"]["NumberOfTrainingJobsObjectiveNotImproving"] == 0


def test_several_definitions_and_the_pareto_extension(server, setup):
    """Two TrainingJobDefinitions take turns; a tag adds a second objective and the front is reported."""
    sm = server.client("sagemaker")
    name = f"mo-{uuid.uuid4().hex[:8]}"
    metrics = METRICS + [{"Name": "x1sq", "Regex": r"x1sq: ([-0-9.eE+]+)"}]
    defs = [dict(definition(setup, metrics=metrics, ranges=BRANIN), DefinitionName=n) for n in ("a", "b")]
    cfg = config(max_jobs=6, parallel=2)
    del cfg["ParameterRanges"]
    raw = {}
    sm.meta.events.register("after-call.sagemaker.DescribeHyperParameterTuningJob",
                            lambda http_response, **kw: raw.update(json.loads(http_response.content)))
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg, TrainingJobDefinitions=defs,
        Tags=[{"Key": "shipyard:secondary-objectives", "Value": "Minimize:x1sq"}])
    d = wait(sm, name)
    assert d["TrainingJobStatusCounters"]["Completed"] == 6
    rows = all_children(sm, name)
    assert sorted(r["TrainingJobDefinitionName"] for r in rows) == ["a", "a", "a", "b", "b", "b"]
    assert "ShipyardParetoFront" not in d  # boto3 keeps to the AWS shape
    front = raw["ShipyardParetoFront"]
    points = {r["TrainingJobName"]: (r["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                                     float(r["TunedHyperParameters"]["x1"]) ** 2) for r in rows}
    names = {f["TrainingJobName"] for f in front}
    for n, (o, q) in points.items():
        dominated = any(o2 <= o and q2 <= q and (o2, q2) != (o, q) for o2, q2 in points.values())
        assert (n in names) == (not dominated), (n, points, names)
    with pytest.raises(ClientError, match="Minimize:<metric>"):
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=f"{name}-bad", HyperParameterTuningJobConfig=cfg, TrainingJobDefinitions=defs,
            Tags=[{"Key": "shipyard:secondary-objectives", "Value": "Lowest:x1sq"}])


def test_builtin_algorithm_ranges_and_metrics_are_checked_up_front(server, setup):
    sm = server.client("sagemaker")
    d = definition(setup, metrics=[])
    d["AlgorithmSpecification"]["TrainingImage"] = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    d["StaticHyperParameters"] = {"num_round": "10"}
    cfg = config(ranges={"ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.1", "MaxValue": "2"}]})
    cfg["HyperParameterTuningJobObjective"]["MetricName"] = "validation:rmse"
    name = f"xgb-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError, match="'eta' has value '2', out of range"):
        sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                             TrainingJobDefinition=d)
    cfg["ParameterRanges"]["ContinuousParameterRanges"][0]["MaxValue"] = "0.5"
    cfg["HyperParameterTuningJobObjective"]["MetricName"] = "validation:nope"
    with pytest.raises(ClientError, match="metrics it emits: .*validation:rmse"):
        sm.create_hyper_parameter_tuning_job(HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=cfg,
                                             TrainingJobDefinition=d)
