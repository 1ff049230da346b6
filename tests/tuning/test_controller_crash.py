"""The tuning controller survives a crash between recording a trial and creating its training job.

Real services (SQLite metastore, file object store) in-process, controllers not started; the crash is
injected by making the first CreateTrainingJob call raise as a dying process would.
"""

import pytest

import shipyard.api.training as training_api
from shipyard.api.tuning import create_hyper_parameter_tuning_job
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.tuning import TuningController


class Crash(BaseException):
    pass


def test_trial_recorded_before_the_crash_is_launched_after_restart(tmp_path, monkeypatch):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    try:
        services.objects.create_bucket("crash-bucket")
        req = {
            "HyperParameterTuningJobName": "crashy",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Random",
                "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "objective"},
                "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 2},
                "ParameterRanges": {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "9"}]}},
            "TrainingJobDefinition": {
                "StaticHyperParameters": {"sagemaker_program": '"train.py"'},
                "AlgorithmSpecification": {"TrainingImage": "python:3.11", "TrainingInputMode": "File",
                                           "MetricDefinitions": [{"Name": "objective", "Regex": "o=(.*)"}]},
                "RoleArn": "arn:aws:iam::123456789012:role/r",
                "OutputDataConfig": {"S3OutputPath": "s3://crash-bucket/out"},
                "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                "StoppingCondition": {"MaxRuntimeInSeconds": 60}}}
        create_hyper_parameter_tuning_job(services, req)
        real = training_api.create_training_job

        def dies(*a, **kw):
            raise Crash()

        monkeypatch.setattr(training_api, "create_training_job", dies)
        with pytest.raises(Crash):
            TuningController(services).reconcile("crashy")
        doc = services.meta.get("hyper-parameter-tuning-job", "crashy").doc
        (trial,) = doc["_trials"]
        assert trial["launched"] is False
        assert services.meta.find("training-job", trial["name"]) is None

        monkeypatch.setattr(training_api, "create_training_job", real)
        TuningController(services).reconcile("crashy")  # a new controller: nothing in memory
        doc = services.meta.get("hyper-parameter-tuning-job", "crashy").doc
        names = [t["name"] for t in doc["_trials"]]
        assert names[0] == trial["name"] and len(names) == 2  # the recorded one, then one more up to 2 parallel
        assert all(t["launched"] for t in doc["_trials"])
        child = services.meta.get("training-job", trial["name"])
        assert child.doc["HyperParameters"]["n"] == trial["params"]["n"]
        assert child.doc["TuningJobArn"].endswith("hyper-parameter-tuning-job/crashy")
        # both children count as running
        assert doc["TrainingJobStatusCounters"]["InProgress"] == 2
    finally:
        services.meta.close()
