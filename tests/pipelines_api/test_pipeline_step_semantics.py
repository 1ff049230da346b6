"""The pipeline controller in-process, over real services (SQLite metastore, file object store; controllers not
started, so each reconcile is one tick we drive): job-name execution variables, the default retry of service
faults, and a RegisterModel step that a crash between CreateModelPackage and the step's record must not register
twice."""

from __future__ import annotations

import time

import pytest

import shipyard.resources.model_package as model_package
import shipyard.resources.training_job as training_job
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.pipeline import PipelineController
from shipyard.errors import ServiceUnavailable
from shipyard.resources import pipeline

from .helpers import ROLE, definition, training_args, training_step

BUCKET = "semantics-bucket"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


class Crash(BaseException):
    """A dying process: not an Exception, so nothing on the way catches it."""


@pytest.fixture
def services(tmp_path):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    services.objects.create_bucket(BUCKET)
    try:
        yield services
    finally:
        services.meta.close()


def _start(services, name: str, steps: list[dict]) -> str:
    pipeline.create(services, {"PipelineName": name, "RoleArn": ROLE, "PipelineDefinition": definition(steps)})
    return pipeline.start(services, {"PipelineName": name})["PipelineExecutionArn"].rsplit("/", 1)[1]


def _tick(services, controller: PipelineController, exec_id: str) -> dict:
    controller.reconcile(services.meta.get("pipeline-execution", exec_id))
    return services.meta.get("pipeline-execution", exec_id).doc["_steps"]


def test_training_job_name_variable_is_the_steps_own_job_and_refused_elsewhere(services, tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    args = training_args(str(tmp_path), BUCKET, tag={"Get": "Execution.TrainingJobName"})
    steps = [training_step("Train", args),
             {"Name": "Explain", "Type": "Fail", "DependsOn": ["Train"], "Arguments": {
                 "ErrorMessage": {"Std:Join": {"On": " ", "Values": ["job", {"Get": "Execution.TrainingJobName"}]}}}}]
    exec_id = _start(services, "jobname", steps)
    train = _tick(services, PipelineController(services), exec_id)["Train"]
    job = services.meta.get("training-job", train["job"])
    assert job.doc["HyperParameters"]["tag"] == train["job"]

    only_fail = _start(services, "jobname-elsewhere", [steps[1] | {"DependsOn": []}])
    failed = _tick(services, PipelineController(services), only_fail)["Explain"]
    assert failed["status"] == "Failed"
    assert "TrainingJobName" in failed["failure"] and "Training step" in failed["failure"]


def test_a_service_fault_is_retried_without_a_retry_policy(services, tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text("print('hi')\n")
    exec_id = _start(services, "faulty", [training_step("Train", training_args(str(tmp_path), BUCKET))])
    real, calls = training_job.create, []

    def unavailable_once(*a, **kw):
        calls.append(1)
        if len(calls) == 1:
            raise ServiceUnavailable("the job service is briefly unavailable")
        return real(*a, **kw)

    monkeypatch.setattr(training_job, "create", unavailable_once)
    controller = PipelineController(services)
    rec = _tick(services, controller, exec_id)["Train"]
    assert rec["status"] == "Executing" and rec.get("retry_at") and "unavailable" in rec["failure"]
    deadline = time.monotonic() + 10
    while rec.get("retry_at") and time.monotonic() < deadline:
        time.sleep(0.2)
        rec = _tick(services, controller, exec_id)["Train"]
    assert rec["attempt"] == 2 and rec["created"] is True and len(calls) == 2
    assert services.meta.get("training-job", rec["job"]).status == "InProgress"


def test_a_register_step_that_dies_after_registering_keeps_one_package(services, monkeypatch):
    services.objects.put_object(BUCKET, "model/model.tar.gz", b"not really a model")
    register = {"Name": "Reg", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "crash-group", "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {"Containers": [{"Image": SKLEARN_IMAGE,
                                                    "ModelDataUrl": f"s3://{BUCKET}/model/model.tar.gz"}],
                                   "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}}
    exec_id = _start(services, "registers", [register])
    real = model_package.create

    def registers_then_dies(*a, **kw):
        real(*a, **kw)
        raise Crash()

    monkeypatch.setattr(model_package, "create", registers_then_dies)
    with pytest.raises(Crash):
        _tick(services, PipelineController(services), exec_id)
    assert "Reg" not in (services.meta.get("pipeline-execution", exec_id).doc.get("_steps") or {})

    monkeypatch.setattr(model_package, "create", real)
    rec = _tick(services, PipelineController(services), exec_id)["Reg"]  # after the restart
    assert rec["status"] == "Succeeded"
    assert rec["metadata"]["RegisterModel"]["Arn"].endswith("model-package/crash-group/1")
    packages = model_package.list_packages(services, {"ModelPackageGroupName": "crash-group"})
    assert [p["ModelPackageVersion"] for p in packages["ModelPackageSummaryList"]] == [1]
    described = model_package.describe(model_package.get(services, "crash-group/1"))
    assert described["MetadataProperties"]["GeneratedBy"].endswith(f"/execution/{exec_id}")

    again = _start(services, "registers-again", [register])  # another execution registers a new version
    rec = _tick(services, PipelineController(services), again)["Reg"]
    assert rec["metadata"]["RegisterModel"]["Arn"].endswith("model-package/crash-group/2")
