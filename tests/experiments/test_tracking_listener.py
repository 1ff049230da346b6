"""The job listener (shipyard.experiments.tracking) over real services (SQLite store, no server): a processing
job's component (inputs, outputs, instance settings, outcome), a trial component created once even if the
creation event is replayed, and an ExperimentConfig naming a trial that does not exist in no experiment."""

from __future__ import annotations

import pytest

from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.experiments import tracking
from shipyard.resources import trial_component

ARN = "arn:aws:sagemaker:us-east-1:123456789012:processing-job/prep"


@pytest.fixture
def services(tmp_path):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    try:
        yield services
    finally:
        services.meta.close()


def _processing(services, config=None):
    doc = {"ProcessingJobName": "prep", "ProcessingJobArn": ARN,
           "AppSpecification": {"ImageUri": "sklearn:1.2"},
           "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2,
                                                     "VolumeSizeInGB": 5}},
           "ProcessingInputs": [{"InputName": "raw", "S3Input": {"S3Uri": "s3://b/raw"}}],
           "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/train"}}]}}
    if config:
        doc["ExperimentConfig"] = config
    return services.meta.create("processing-job", "prep", ARN, "InProgress", doc)


def test_processing_job_component(services):
    job = _processing(services, {"ExperimentName": "prep-exp", "TrialName": "prep-trial"})
    tracking.on_job(services, "created", "processing-job", job)
    tracking.on_job(services, "created", "processing-job", job)  # replayed: still one component
    done = services.meta.update("processing-job", "prep", {"FailureReason": "bad input"}, status="Failed")
    tracking.on_job(services, "finished", "processing-job", done)
    r = trial_component.get(services, "prep-aws-processing-job")
    d = trial_component.describe(services, r)
    assert d["Source"] == {"SourceArn": ARN, "SourceType": "SageMakerProcessingJob"}
    assert d["Status"] == {"PrimaryStatus": "Failed", "Message": "bad input"}
    assert d["Parameters"] == {"SageMaker.ImageUri": {"StringValue": "sklearn:1.2"},
                               "SageMaker.InstanceType": {"StringValue": "ml.m5.large"},
                               "SageMaker.InstanceCount": {"NumberValue": 2.0}}
    assert d["InputArtifacts"] == {"raw": {"Value": "s3://b/raw"}}
    assert d["OutputArtifacts"] == {"train": {"Value": "s3://b/train"}}
    assert trial_component.trials_of(r) == ["prep-trial"]
    assert services.meta.get("experiment-trial", "prep-trial").doc["ExperimentName"] == "prep-exp"


def test_unknown_trial_without_experiment_leaves_the_component_unplaced(services):
    job = _processing(services, {"TrialName": "nowhere"})
    tracking.on_job(services, "created", "processing-job", job)
    r = trial_component.get(services, "prep-aws-processing-job")
    assert trial_component.trials_of(r) == []
    assert services.meta.find("experiment-trial", "nowhere") is None


def test_other_kinds_are_ignored(services):
    job = services.meta.create("endpoint", "ep", "arn:aws:sagemaker:us-east-1:123456789012:endpoint/ep",
                               "InService", {})
    tracking.on_job(services, "created", "endpoint", job)
    assert services.meta.find(trial_component.KIND, "ep-aws-endpoint") is None
