"""Experiments made by jobs that make jobs, as SageMaker makes them.

- A pipeline execution whose definition carries the SDK's ``PipelineExperimentConfig`` (by default
  ``{ExperimentName: Execution.PipelineName, TrialName: Execution.PipelineExecutionId}``) creates that experiment
  and trial, and each job step's trial component joins the trial; the step's job is tagged
  ``sagemaker:pipeline-execution-arn``, which the SDK's lineage classes read. With
  ``pipeline_experiment_config=None`` (the SDK emits null) nothing is created.
- A tuning job's training jobs land in experiment ``<tuning job>-aws-tuning-job``, one trial per training job.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "pipelines_api"))
from helpers import ROLE, SCRIPT, training_args, training_step, wait_execution  # noqa: E402

from shipyard.testing.sdk import sdk_environment, sdk_session  # noqa: E402

pytestmark = [pytest.mark.timeout(180)]
EXECUTION_TAG = "sagemaker:pipeline-execution-arn"


@pytest.fixture(scope="module")
def env(server, tmp_path_factory, quick_sagemaker_sdk):
    code = tmp_path_factory.mktemp("auto-exp-code")
    (code / "train.py").write_text(SCRIPT)
    bucket = f"auto-exp-{uuid.uuid4().hex[:8]}"
    server.client("s3").create_bucket(Bucket=bucket)
    with sdk_environment(server, tmp_path_factory.mktemp("auto-exp-sdk")):
        yield {"sm": server.client("sagemaker"), "code": str(code), "bucket": bucket, "session": sdk_session()}


def _definition(steps: list[dict], experiment_config: dict | None, parameters: list | None = None) -> str:
    """A definition as the SDK's ``Pipeline.definition()`` lays it out, PipelineExperimentConfig included."""
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Parameters": parameters or [],
                       "PipelineExperimentConfig": experiment_config, "Steps": steps})


def _sdk_default_config() -> dict:
    from sagemaker.workflow.execution_variables import ExecutionVariables
    from sagemaker.workflow.pipeline_experiment_config import PipelineExperimentConfig

    request = PipelineExperimentConfig(ExecutionVariables.PIPELINE_NAME,
                                       ExecutionVariables.PIPELINE_EXECUTION_ID).to_request()
    return {key: value.expr for key, value in request.items()}  # as Pipeline.definition() serializes them


def _run(env, definition: str) -> tuple[str, dict]:
    sm = env["sm"]
    name = f"autoexp-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition)
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    d = wait_execution(sm, arn)
    assert d["PipelineExecutionStatus"] == "Succeeded", d.get("FailureReason")
    return name, d


def _job_of(sm, execution_arn: str, step: str) -> str:
    steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution_arn)["PipelineExecutionSteps"]
    found = next(s for s in steps if s["StepName"] == step)
    return found["Metadata"]["TrainingJob"]["Arn"].rsplit("/", 1)[1]


def _wait_component_in(sm, trial: str, component: str, timeout: float = 10.0) -> list[str]:
    """The trial's component names, once ``component`` is among them (the job listener runs as the job saves)."""
    deadline = time.monotonic() + timeout
    names: list[str] = []
    while time.monotonic() < deadline:
        names = [c["TrialComponentName"] for c in sm.list_trial_components(TrialName=trial)["TrialComponentSummaries"]]
        if component in names:
            return names
        time.sleep(0.1)
    raise AssertionError(f"{component} never joined trial {trial}: {names}")


def test_pipeline_execution_creates_its_experiment_and_trial(env):
    sm = env["sm"]
    args = training_args(env["code"], env["bucket"])
    args["ExperimentConfig"] = {"TrialComponentDisplayName": "train-step"}  # what the SDK's TrainingStep keeps
    name, d = _run(env, _definition([training_step("Train", args)], _sdk_default_config()))
    exec_arn = d["PipelineExecutionArn"]
    exec_id = exec_arn.rsplit("/", 1)[1]
    assert d["PipelineExperimentConfig"] == {"ExperimentName": name, "TrialName": exec_id}
    assert sm.describe_experiment(ExperimentName=name)["ExperimentName"] == name
    assert sm.describe_trial(TrialName=exec_id)["ExperimentName"] == name
    job = _job_of(sm, exec_arn, "Train")
    described = sm.describe_training_job(TrainingJobName=job)
    assert described["ExperimentConfig"] == {"ExperimentName": name, "TrialName": exec_id,
                                             "TrialComponentDisplayName": "train-step"}
    component = f"{job}-aws-training-job"
    assert _wait_component_in(sm, exec_id, component) == [component]
    assert sm.describe_trial_component(TrialComponentName=component)["DisplayName"] == "train-step"
    tags = sm.list_tags(ResourceArn=described["TrainingJobArn"])["Tags"]
    assert {"Key": EXECUTION_TAG, "Value": exec_arn} in tags

    from sagemaker.lineage.lineage_trial_component import LineageTrialComponent

    tc = LineageTrialComponent.load(trial_component_name=component, sagemaker_session=env["session"])
    assert tc.pipeline_execution_arn() == exec_arn


def test_pipeline_experiment_config_from_parameters_and_none(env):
    sm = env["sm"]
    exp = f"chosen-{uuid.uuid4().hex[:8]}"
    params = [{"Name": "Exp", "Type": "String", "DefaultValue": exp}]
    config = {"ExperimentName": {"Get": "Parameters.Exp"}, "TrialName": {"Get": "Execution.PipelineExecutionId"}}
    _, d = _run(env, _definition([training_step("Train", training_args(env["code"], env["bucket"]))], config,
                                 params))
    exec_id = d["PipelineExecutionArn"].rsplit("/", 1)[1]
    assert sm.describe_trial(TrialName=exec_id)["ExperimentName"] == exp
    _wait_component_in(sm, exec_id, f"{_job_of(sm, d['PipelineExecutionArn'], 'Train')}-aws-training-job")

    name, d = _run(env, _definition([training_step("Train", training_args(env["code"], env["bucket"]))], None))
    exec_id = d["PipelineExecutionArn"].rsplit("/", 1)[1]
    for call, kw in ((sm.describe_experiment, {"ExperimentName": name}), (sm.describe_trial, {"TrialName": exec_id})):
        with pytest.raises(ClientError) as e:
            call(**kw)
        assert e.value.response["Error"]["Code"] == "ResourceNotFound"
    assert "ExperimentConfig" not in sm.describe_training_job(
        TrainingJobName=_job_of(sm, d["PipelineExecutionArn"], "Train"))


def test_tuning_job_training_jobs_get_an_experiment_and_trials(env):
    sm = env["sm"]
    tuning = f"ae-{uuid.uuid4().hex[:8]}"
    definition = training_args(env["code"], env["bucket"])
    definition["StaticHyperParameters"] = {k: v for k, v in definition.pop("HyperParameters").items()
                                           if k != "tag"}
    tuning_arn = sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning, TrainingJobDefinition=definition,
        HyperParameterTuningJobConfig={
            "Strategy": "Grid", "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {"CategoricalParameterRanges": [{"Name": "tag", "Values": ["a", "b"]}]}},
    )["HyperParameterTuningJobArn"]
    deadline = time.monotonic() + 120
    d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
    while d["HyperParameterTuningJobStatus"] not in ("Completed", "Failed", "Stopped") and time.monotonic() < deadline:
        time.sleep(0.3)
        d = sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning)
    assert d["HyperParameterTuningJobStatus"] == "Completed", d.get("FailureReason")
    experiment = f"{tuning}-aws-tuning-job"
    described = sm.describe_experiment(ExperimentName=experiment)
    assert described["Source"] == {"SourceArn": tuning_arn, "SourceType": "SageMakerHyperParameterTuningJob"}
    children = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning)["TrainingJobSummaries"]
    assert len(children) == 2
    trials = {t["TrialName"] for t in sm.list_trials(ExperimentName=experiment)["TrialSummaries"]}
    assert trials == {f"{c['TrainingJobName']}-aws-training-job" for c in children}
    for child in children:
        component = f"{child['TrainingJobName']}-aws-training-job"
        trial = sm.describe_trial(TrialName=component)
        assert trial["Source"] == {"SourceArn": child["TrainingJobArn"], "SourceType": "SageMakerTrainingJob"}
        assert _wait_component_in(sm, component, component) == [component]
