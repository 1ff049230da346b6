"""Automatic tracking: every training, processing and transform job gets its trial component, as on AWS.

A job listener (:mod:`shipyard.resources.job_events`). When a job is created it gets the component
``<job>-aws-training-job`` (``-aws-processing-job``, ``-aws-transform-job``) with ``Source`` naming the job,
its hyperparameters (and instance settings) as ``Parameters`` and its channels or inputs as ``InputArtifacts``;
when it ends the component gets the job's status, end time and outputs (the model artifact, the transform or
processing outputs). Its metric summaries come from the job's own metric series, read on Describe.

The job's ``ExperimentConfig`` places the component: ``ExperimentName`` (created if missing) and ``TrialName``
(created in that experiment if missing; without one, a trial named after the component). The SDK's ``Run``
passes ``{ExperimentName, TrialName: its run group, RunName: its trial component}``, creating the experiment and
run group first; ``load_run()`` inside the job then finds the run from ``RunName`` (see ``docs/experiments.md``).

Jobs that make jobs: a tuning job's training job (no ExperimentConfig of its own) joins experiment
``<tuning job>-aws-tuning-job`` in a trial named after its component, both with a ``Source`` naming their job;
a pipeline execution passes its ``PipelineExperimentConfig`` to its steps' jobs
(:mod:`shipyard.controllers.pipeline`), which :func:`ensure_trial` serves too.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..errors import ShipyardError
from ..metastore.base import Resource
from ..resources import experiment, trial, trial_component

log = logging.getLogger("shipyard.experiments.tracking")


@dataclass(frozen=True)
class JobKind:
    suffix: str         # the component's name is "<job>-<suffix>"
    source_type: str    # Source.SourceType


KINDS = {
    "training-job": JobKind("aws-training-job", "SageMakerTrainingJob"),
    "processing-job": JobKind("aws-processing-job", "SageMakerProcessingJob"),
    "transform-job": JobKind("aws-transform-job", "SageMakerTransformJob"),
}


def component_name(kind: str, job_name: str) -> str:
    return f"{job_name}-{KINDS[kind].suffix}"


def _parameter(value: Any) -> dict[str, Any]:
    """A hyperparameter as a trial component parameter: a number where it reads as one (the SDK sends them as
    JSON text: ``"0.1"``, ``"\\"train.py\\""``), else its string."""
    text = str(value)
    try:
        decoded = json.loads(text)
    except ValueError:
        decoded = text
    if isinstance(decoded, (int, float)) and not isinstance(decoded, bool):
        return {"NumberValue": float(decoded)}
    return {"StringValue": decoded if isinstance(decoded, str) else text}


def _artifact(uri: str, media_type: str | None = None) -> dict[str, str]:
    out = {"Value": uri}
    if media_type:
        out["MediaType"] = media_type
    return out


def _training_inputs(doc: dict) -> tuple[dict, dict]:
    params = {k: _parameter(v) for k, v in (doc.get("HyperParameters") or {}).items()}
    algo = doc.get("AlgorithmSpecification") or {}
    res = doc.get("ResourceConfig") or {}
    for key, value in (("SageMaker.ImageUri", algo.get("TrainingImage")),
                       ("SageMaker.AlgorithmName", algo.get("AlgorithmName")),
                       ("SageMaker.InstanceType", res.get("InstanceType")),
                       ("SageMaker.InstanceCount", res.get("InstanceCount"))):
        if value is not None:
            params[key] = {"NumberValue": float(value)} if isinstance(value, int) else {"StringValue": str(value)}
    inputs = {}
    for channel in doc.get("InputDataConfig") or []:
        uri = ((channel.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
        if uri:
            inputs[channel["ChannelName"]] = _artifact(uri, channel.get("ContentType"))
    return params, inputs


def _processing_inputs(doc: dict) -> tuple[dict, dict]:
    app = doc.get("AppSpecification") or {}
    cluster = (doc.get("ProcessingResources") or {}).get("ClusterConfig") or {}
    params: dict[str, dict[str, Any]] = {}
    for key, value in (("SageMaker.ImageUri", app.get("ImageUri")), ("SageMaker.InstanceType",
                                                                     cluster.get("InstanceType"))):
        if value:
            params[key] = {"StringValue": str(value)}
    if cluster.get("InstanceCount"):
        params["SageMaker.InstanceCount"] = {"NumberValue": float(cluster["InstanceCount"])}
    inputs = {}
    for item in doc.get("ProcessingInputs") or []:
        uri = (item.get("S3Input") or {}).get("S3Uri")
        if uri:
            inputs[item.get("InputName") or uri] = _artifact(uri)
    return params, inputs


def _transform_inputs(doc: dict) -> tuple[dict, dict]:
    res = doc.get("TransformResources") or {}
    params: dict[str, dict[str, Any]] = {}
    for key, value in (("SageMaker.ModelName", doc.get("ModelName")), ("SageMaker.InstanceType",
                                                                      res.get("InstanceType")),
                       ("BatchStrategy", doc.get("BatchStrategy"))):
        if value:
            params[key] = {"StringValue": str(value)}
    if res.get("InstanceCount"):
        params["SageMaker.InstanceCount"] = {"NumberValue": float(res["InstanceCount"])}
    tin = doc.get("TransformInput") or {}
    uri = ((tin.get("DataSource") or {}).get("S3DataSource") or {}).get("S3Uri")
    inputs = {"SageMaker.TransformInput": _artifact(uri, tin.get("ContentType"))} if uri else {}
    return params, inputs


def _outputs(kind: str, doc: dict) -> dict:
    if kind == "training-job":
        model = (doc.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
        return {"SageMaker.ModelArtifact": _artifact(model)} if model else {}
    if kind == "transform-job":
        out = (doc.get("TransformOutput") or {}).get("S3OutputPath")
        return {"SageMaker.TransformOutput": _artifact(out)} if out else {}
    outputs = {}
    for item in (doc.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        uri = (item.get("S3Output") or {}).get("S3Uri")
        if uri:
            outputs[item.get("OutputName") or uri] = _artifact(uri)
    return outputs


_INPUTS = {"training-job": _training_inputs, "processing-job": _processing_inputs,
           "transform-job": _transform_inputs}


def _ensure_component(services: Services, kind: str, job: Resource) -> Resource:
    name = component_name(kind, job.name)
    found = services.meta.find(trial_component.KIND, name)
    if found is not None:
        return found
    params, inputs = _INPUTS[kind](job.doc)
    display = (job.doc.get("ExperimentConfig") or {}).get("TrialComponentDisplayName") or name
    request = {"TrialComponentName": name, "DisplayName": display, "Status": {"PrimaryStatus": "InProgress"},
               "StartTime": job.created, "Parameters": params, "InputArtifacts": inputs}
    try:
        trial_component.create(services, request, source={"SourceArn": job.arn,
                                                          "SourceType": KINDS[kind].source_type},
                               metrics_job=job.name)
    except ShipyardError:
        pass  # created meanwhile (a restart replaying an event): the one stored wins
    _place(services, kind, job, name)
    return trial_component.get(services, name)


def _exists(services: Services, kind: str, name: str) -> bool:
    return services.meta.find(kind, name) is not None


TUNING_EXPERIMENT_SUFFIX = "aws-tuning-job"


def tuning_experiment_name(tuning_job: str) -> str:
    """The experiment a tuning job's training jobs are recorded in: ``<tuning job>-aws-tuning-job``."""
    return f"{tuning_job}-{TUNING_EXPERIMENT_SUFFIX}"


def _place(services: Services, kind: str, job: Resource, component: str) -> None:
    """Associate the component with the trial the job's ExperimentConfig names (creating what is missing).

    A tuning job's training job without one is placed as AWS's tuning jobs do ("a hyperparameter tuning job
    automatically creates Amazon SageMaker experiments, trials, and trial components for each training job that
    it runs"): experiment ``<tuning job>-aws-tuning-job``, one trial per training job named after its
    component."""
    config = job.doc.get("ExperimentConfig") or {}
    exp_name, trial_name = config.get("ExperimentName"), config.get("TrialName")
    tuning_arn = job.doc.get("TuningJobArn") if kind == "training-job" else None
    if not exp_name and not trial_name and tuning_arn:
        ensure_trial(services, tuning_experiment_name(str(tuning_arn).rsplit("/", 1)[-1]), component,
                     experiment_source={"SourceArn": tuning_arn, "SourceType": "SageMakerHyperParameterTuningJob"},
                     trial_source={"SourceArn": job.arn, "SourceType": KINDS[kind].source_type})
        trial_component.associate(services, component, component)
        return
    if not exp_name and not trial_name:
        return
    if not trial_name:
        trial_name = component
    if not exp_name:
        if not _exists(services, trial.KIND, trial_name):
            log.warning("%s %s names trial %s, which does not exist, and no experiment to create it in",
                        kind, job.name, trial_name)
            return
    else:
        ensure_trial(services, exp_name, trial_name)
    trial_component.associate(services, component, trial_name)


def ensure_trial(services: Services, experiment_name: str, trial_name: str, *,
                 experiment_source: dict | None = None, trial_source: dict | None = None) -> None:
    """Create the experiment and its trial where missing (a name that exists is kept as it is): what a job's
    ExperimentConfig, a tuning job and a pipeline execution (its ``PipelineExperimentConfig``) all need."""
    if not _exists(services, experiment.KIND, experiment_name):
        _create_quietly(experiment.create, services, {"ExperimentName": experiment_name}, experiment_source)
    if not _exists(services, trial.KIND, trial_name):
        _create_quietly(trial.create, services, {"TrialName": trial_name, "ExperimentName": experiment_name},
                        trial_source)


def _create_quietly(create, services: Services, params: dict, source: dict | None = None) -> None:
    try:
        create(services, params, source)
    except ShipyardError as e:
        if "already exists" not in str(e):
            raise


def on_job(services: Services, event: str, kind: str, resource: Resource) -> None:
    """The listener: ``created`` makes the component, ``finished`` records the outcome on it."""
    if kind not in KINDS:
        return
    component = _ensure_component(services, kind, resource)
    if event != "finished":
        return
    status: dict[str, Any] = {"PrimaryStatus": resource.status}
    reason = resource.doc.get("FailureReason")
    if reason:
        status["Message"] = str(reason)[:1024]
    request: dict[str, Any] = {"TrialComponentName": component.name, "Status": status,
                               "EndTime": resource.modified}
    outputs = _outputs(kind, resource.doc)
    if outputs:
        request["OutputArtifacts"] = outputs
    trial_component.update(services, request)
    trial_component.record_job_metrics(services, component.name)  # the job's final summaries, for Search
