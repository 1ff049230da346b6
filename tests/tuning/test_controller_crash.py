"""The tuning controller in-process: a crash between recording a trial and creating its training job, and
MaxRuntimeInSeconds.

Real services (SQLite metastore, file object store), controllers not started (training jobs stay
InProgress); the crash is injected by making the first CreateTrainingJob call raise as a dying process would.
"""

import time

import pytest

import shipyard.resources.training_job as training_job
from shipyard.resources.tuning_job import create as create_hyper_parameter_tuning_job
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.tuning import TuningController

KIND = "hyper-parameter-tuning-job"


class Crash(BaseException):
    pass


def request(name, max_jobs=3, parallel=2, max_runtime=None):
    limits = {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel}
    if max_runtime:
        limits["MaxRuntimeInSeconds"] = max_runtime
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
            "ResourceLimits": limits,
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "9"}]}},
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"sagemaker_program": '"train.py"'},
            "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "objective", "Regex": "o=(.*)"}]},
            "RoleArn": "arn:aws:iam::123456789012:role/r",
            "OutputDataConfig": {"S3OutputPath": "s3://crash-bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}}}


@pytest.fixture
def services(tmp_path):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    services.objects.create_bucket("crash-bucket")
    try:
        yield services
    finally:
        services.meta.close()


def test_trial_recorded_before_the_crash_is_launched_after_restart(services, monkeypatch):
    create_hyper_parameter_tuning_job(services, request("crashy"))
    real = training_job.create

    def dies(*a, **kw):
        raise Crash()

    monkeypatch.setattr(training_job, "create", dies)
    with pytest.raises(Crash):
        TuningController(services).reconcile("crashy")
    doc = services.meta.get(KIND, "crashy").doc
    (trial,) = doc["_trials"]
    assert trial["launched"] is False
    assert services.meta.find("training-job", trial["name"]) is None

    monkeypatch.setattr(training_job, "create", real)
    TuningController(services).reconcile("crashy")  # a new controller: nothing in memory
    doc = services.meta.get(KIND, "crashy").doc
    names = [t["name"] for t in doc["_trials"]]
    assert names[0] == trial["name"] and len(names) == 2  # the recorded one, then one more up to 2 parallel
    assert all(t["launched"] for t in doc["_trials"])
    child = services.meta.get("training-job", trial["name"])
    assert child.doc["HyperParameters"]["n"] == trial["params"]["n"]
    assert child.doc["TuningJobArn"].endswith("hyper-parameter-tuning-job/crashy")
    assert doc["TrainingJobStatusCounters"]["InProgress"] == 2


def test_max_runtime_stops_children_and_launches_no_more(services):
    create_hyper_parameter_tuning_job(services, request("timed", max_jobs=10, parallel=2, max_runtime=120))
    controller = TuningController(services)
    controller.reconcile("timed")
    assert len(services.meta.get(KIND, "timed").doc["_trials"]) == 2
    # pretend the job started 121 s ago
    services.meta.update(KIND, "timed", {"CreationTime": time.time() - 121})
    controller.reconcile("timed")
    res = services.meta.get(KIND, "timed")
    assert len(res.doc["_trials"]) == 2  # nothing new launched
    for t in res.doc["_trials"]:
        assert services.meta.get("training-job", t["name"]).status == "Stopping"
    # once the children have stopped, the tuning job completes
    for t in res.doc["_trials"]:
        services.meta.update("training-job", t["name"], {}, status="Stopped")
    controller.reconcile("timed")
    res = services.meta.get(KIND, "timed")
    assert res.status == "Completed" and res.doc["TrainingJobStatusCounters"]["Stopped"] == 2
    assert res.doc["HyperParameterTuningEndTime"] >= res.doc["CreationTime"]


def test_children_refused_at_creation_fail_the_tuning_job_fast(services):
    req = request("refused", max_jobs=50, parallel=3)
    req["TrainingJobDefinition"]["OutputDataConfig"]["S3OutputPath"] = "s3://no-such-bucket/out"
    create_hyper_parameter_tuning_job(services, req)
    TuningController(services).reconcile("refused")
    res = services.meta.get(KIND, "refused")
    assert res.status == "Failed" and len(res.doc["_trials"]) == 3
    assert res.doc["FailureReason"].startswith("All training jobs failed.")
    assert "no-such-bucket" in res.doc["FailureReason"]
    assert res.doc["TrainingJobStatusCounters"]["NonRetryableError"] == 3
