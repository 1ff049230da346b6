"""A tuning job's trial is validated exactly like a user's CreateTrainingJob: both go through
:func:`shipyard.resources.training_job.create`, so they are refused by the same check, with the same words.

Real services in-process (SQLite metadata store, a folder object store), controllers not started: the
tuning controller's ``reconcile`` is called by hand, so each trial is created right here.
"""

import pytest

from shipyard.api import training as training_api
from shipyard.api import tuning as tuning_api
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.tuning import TuningController, child_request
from shipyard.domain.tuning_state import TuningState
from shipyard.errors import ValidationError

XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "trials-bucket"
TUNING = "hyper-parameter-tuning-job"


@pytest.fixture
def services(tmp_path):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    services.objects.create_bucket(BUCKET)
    try:
        yield services
    finally:
        services.meta.close()


def definition(static: dict, output: str = f"s3://{BUCKET}/out") -> dict:
    return {
        "StaticHyperParameters": static,
        "AlgorithmSpecification": {"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/r",
        "InputDataConfig": [{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/train"}}}],
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 60},
    }


def tuning_request(name: str, d: dict) -> dict:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2",
                                                            "MaxValue": "6"}]}},
        "TrainingJobDefinition": d,
    }


def user_request(name: str, d: dict, hyperparameters: dict) -> dict:
    req = {k: v for k, v in d.items() if k != "StaticHyperParameters"}
    return dict(req, TrainingJobName=name, HyperParameters=hyperparameters)


def test_a_bad_builtin_hyperparameter_is_refused_with_the_same_words(services):
    static = {"num_round": "3", "eta": "5"}  # xgboost's eta is in [0, 1]
    with pytest.raises(ValidationError) as users:
        training_api.create(services, user_request("user-job", definition(static), static))
    with pytest.raises(ValidationError) as tunings:
        tuning_api.create_hyper_parameter_tuning_job(services, tuning_request("bad-eta", definition(static)))
    assert "'eta'" in users.value.message and "[0, 1]" in users.value.message
    assert tunings.value.message == users.value.message
    assert services.meta.find("training-job", "user-job") is None and services.meta.find(TUNING, "bad-eta") is None


def test_a_trial_is_refused_by_create_training_job_exactly_as_a_users_job(services):
    # The output bucket does not exist: nothing at CreateHyperParameterTuningJob looks at buckets, so the
    # tuning job is accepted; each trial then meets CreateTrainingJob's own check.
    d = definition({"num_round": "3"}, output="s3://no-such-bucket/out")
    tuning_api.create_hyper_parameter_tuning_job(services, tuning_request("tj", d))
    TuningController(services).reconcile("tj")
    trials = TuningState.from_doc(services.meta.get(TUNING, "tj").doc).trials
    assert trials and all(t.launch_failed and t.status == "Failed" for t in trials)
    assert all(services.meta.find("training-job", t.name) is None for t in trials)

    first = trials[0]
    same = child_request("tj", "user-copy", d, first.params, "validation:rmse")
    with pytest.raises(ValidationError) as users:
        training_api.create(services, same)
    assert "no-such-bucket" in users.value.message and "does not exist" in users.value.message
    assert {t.reason for t in trials} == {users.value.message}


def test_a_valid_trial_is_stored_like_a_users_job(services):
    d = definition({"num_round": "3"})
    tuning_api.create_hyper_parameter_tuning_job(services, tuning_request("ok", d))
    TuningController(services).reconcile("ok")
    trial = TuningState.from_doc(services.meta.get(TUNING, "ok").doc).trials[0]
    child = services.meta.get("training-job", trial.name)
    training_api.create(services, child_request("ok", "user-twin", d, trial.params, "validation:rmse"))
    twin = services.meta.get("training-job", "user-twin")
    differs = {"TrainingJobName", "TrainingJobArn", "TuningJobArn", "SecondaryStatusTransitions"}
    assert child.parent.endswith(":hyper-parameter-tuning-job/ok") and child.doc["TuningJobArn"] == child.parent
    assert {k: v for k, v in child.doc.items() if k not in differs} == {
        k: v for k, v in twin.doc.items() if k not in differs}
