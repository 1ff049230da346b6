"""The pipeline controller in-process: a crash between recording a step's job and creating it. Real services
(SQLite metastore, file object store), controllers not started; the crash is injected by making the first
CreateTrainingJob call raise as a dying process would."""

from __future__ import annotations

import pytest

import shipyard.resources.training_job as training_job
from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.controllers.pipeline import PipelineController
from shipyard.resources import pipeline

from .helpers import ROLE, definition, training_args, training_step


class Crash(BaseException):
    pass


@pytest.fixture
def services(tmp_path):
    services = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    services.objects.create_bucket("crash-bucket")
    try:
        yield services
    finally:
        services.meta.close()


def test_a_step_recorded_before_the_crash_is_created_once_after_restart(services, tmp_path, monkeypatch):
    (tmp_path / "train.py").write_text("print('hi')\n")
    pipeline.create(services, {"PipelineName": "crashy", "RoleArn": ROLE, "PipelineDefinition": definition(
        [training_step("Train", training_args(str(tmp_path), "crash-bucket"))])})
    arn = pipeline.start(services, {"PipelineName": "crashy"})["PipelineExecutionArn"]
    exec_id = arn.rsplit("/", 1)[1]
    real = training_job.create

    def dies(*a, **kw):
        raise Crash()

    monkeypatch.setattr(training_job, "create", dies)
    with pytest.raises(Crash):
        PipelineController(services).reconcile(services.meta.get("pipeline-execution", exec_id))
    step = services.meta.get("pipeline-execution", exec_id).doc["_steps"]["Train"]
    assert step["status"] == "Starting" and step["created"] is False
    assert services.meta.find("training-job", step["job"]) is None

    monkeypatch.setattr(training_job, "create", real)
    controller = PipelineController(services)  # a new controller: nothing in memory
    controller.reconcile(services.meta.get("pipeline-execution", exec_id))
    after = services.meta.get("pipeline-execution", exec_id).doc["_steps"]["Train"]
    assert after["job"] == step["job"] and after["status"] == "Executing" and after["attempt"] == 1
    assert services.meta.get("training-job", step["job"]).status == "InProgress"
    controller.reconcile(services.meta.get("pipeline-execution", exec_id))  # idempotent: no second job
    jobs = services.meta.list_in_status("training-job", ("InProgress",))
    assert [j.name for j in jobs] == [step["job"]]
    listed = pipeline.list_steps(services, {"PipelineExecutionArn": arn})["PipelineExecutionSteps"]
    assert listed[0]["Metadata"] == {"TrainingJob": {"Arn": services.arn("training-job", step["job"])}}
