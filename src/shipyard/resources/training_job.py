"""The training-job resource: validate, create, describe, list, stop and delete a training job.

The server has already checked each request against botocore's model; here go the checks SageMaker makes on
top, *before* anything runs: the image must name a built-in algorithm or a framework (script mode), a
built-in's hyperparameters must pass its declared rules, channel and output URIs must be ``s3://`` in
buckets that exist. The stored document is the DescribeTrainingJob response plus private ``_`` keys the
controller uses (typed in :class:`shipyard.domain.training_state.TrainingState`); :func:`public` strips them.

Callers: :mod:`shipyard.api.training` (the wire adapters of CreateTrainingJob & co.) and the tuning
controller, which launches its trials through :func:`create` (with ``parent`` set, so Describe shows
``TuningJobArn``) and stops them through :func:`stop`: a trial is validated exactly like a user's job.
"""

from __future__ import annotations

import re
import shutil
import time
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..domain.status import TRAINING_TERMINAL
from ..domain.training_state import TrainingState
from ..errors import ConflictError, MissingResource, ValidationError
from ..kms import jobs as kms_jobs
from ..metastore.base import Resource
from ..training.metric_matcher import validate_pattern
from ..usage.budgets import check_budget
from . import debug_rules, job_events
from .job_listing import list_jobs_page

KIND = "training-job"
DEFAULT_MAX_RUNTIME = 86400
NOT_FOUND = "Requested resource not found."
DEFAULT_RESOURCE_CONFIG = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30}
# request members stored as given when present (the rest of the document is built below)
_OPTIONAL = ("VpcConfig", "CheckpointConfig", "DebugHookConfig", "ExperimentConfig", "Environment",
             "RetryStrategy", "TensorBoardOutputConfig", "ProfilerConfig", "DebugRuleConfigurations",
             "InfraCheckConfig", "RemoteDebugConfig", "ProfilerRuleConfigurations")


def public(doc: dict) -> dict:
    """A stored document without its private (``_``-prefixed) top-level keys: what Describe* returns."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def get(services: Services, name: str) -> Resource:
    """The stored training job ``name`` (or ARN); SageMaker answers a missing one with a ValidationException."""
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ValidationError(NOT_FOUND) from None


def check_s3_uri(services: Services, uri: str, what: str, must_exist: bool = True) -> None:
    """``uri`` must be an S3 URI naming a bucket (that exists, unless ``must_exist`` is false)."""
    from ..objectstore.base import is_s3_uri, parse_s3_uri

    if not is_s3_uri(uri):
        raise ValidationError(f"{what} {uri!r} is not a valid S3 URI: it must start with s3:// (or be an S3 "
                              "https URL).")
    bucket = uri[5:].split("/", 1)[0] if uri.startswith("s3://") else parse_s3_uri(uri)[0]
    if not bucket:
        raise ValidationError(f"{what} {uri!r} names no bucket.")
    if must_exist and not services.objects.bucket_exists(bucket):
        raise ValidationError(f"{what} {uri!r}: the bucket {bucket!r} does not exist.")


# AWS's pattern for ChannelName (botocore's model: [A-Za-z0-9\.\-_]+, 1-64 characters). The wire layer checks the
# pattern too; here it is checked again (a tuning job's trials come through here as well), and the two names the
# pattern allows that are not folder names, "." and "..", are refused: a channel is the folder input/data/<name>.
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9.\-_]{1,64}")


def _check_channels(services: Services, channels: list[dict], job_input_mode: str = "File") -> None:
    seen = set()
    for ch in channels:
        name = ch["ChannelName"]
        if not isinstance(name, str) or not _CHANNEL_NAME.fullmatch(name) or name in (".", ".."):
            raise ValidationError(f"Invalid ChannelName {name!r}: a channel name is 1-64 letters, digits, '.', '-' "
                                  "or '_', and not '.' or '..'.")
        if name in seen:
            raise ValidationError(f"Channel names must be unique; {name!r} appears more than once.")
        seen.add(name)
        source = ch.get("DataSource") or {}
        s3 = source.get("S3DataSource")
        if s3 is None:
            raise ValidationError(f"Channel {name!r}: Shipyard supports S3DataSource channels only "
                                  "(FileSystemDataSource needs EFS/FSx).")
        if s3.get("S3DataType") == "AugmentedManifestFile":
            if (ch.get("InputMode") or job_input_mode or "File") != "Pipe":
                raise ValidationError(f"Channel {name!r}: AugmentedManifestFile can only be used with Pipe input "
                                      "mode (set the channel's InputMode or the job's TrainingInputMode to Pipe).")
            if not s3.get("AttributeNames"):
                raise ValidationError(f"Channel {name!r}: an AugmentedManifestFile channel needs AttributeNames "
                                      "(e.g. [\"source-ref\", \"class\"]): the attributes to send, in order.")
        check_s3_uri(services, s3.get("S3Uri", ""), f"Channel {name!r} S3Uri")


def program_of(spec: dict, hyperparameters: dict, environment: dict, channels: list[dict]
               ) -> tuple[dict, list[dict]]:
    """Which program runs, and the metric definitions to apply: (program, metric definitions). Raises
    ValidationError for what SageMaker refuses up front (a built-in's bad hyperparameter, a bad regex...)."""
    from ..algorithms.registry import FRAMEWORK_REPOS, repository, resolve

    image = spec.get("TrainingImage") or spec.get("AlgorithmName") or ""
    if not image:
        raise ValidationError("AlgorithmSpecification must name a TrainingImage or an AlgorithmName.")
    kind, algo = resolve(image, hyperparameters, environment)
    user_metrics = list(spec.get("MetricDefinitions") or [])
    for m in user_metrics:
        why = validate_pattern(m.get("Regex", ""))
        if why:
            raise ValidationError(f"MetricDefinitions: metric {m.get('Name')!r}: {why}.")
    if kind == "container":  # bring-your-own: `train` in the image, on the container engine
        from ..containers.images import ImageUnavailable, engine_for_jobs

        try:
            engine_for_jobs()
        except ImageUnavailable as e:
            raise ValidationError(f"TrainingImage {image!r}: {e}") from None
        # The image as named: an ECR URI becomes the local registry's reference when the job runs (the
        # registry's port is known then), see containers/images.engine_reference.
        return {"kind": "container", "image": image}, user_metrics
    if algo is not None:  # a built-in algorithm ("builtin"); script mode has none
        algo.check_installed()
        algo.validate(hyperparameters)
        modes = {spec.get("TrainingInputMode") or "File"} | {ch.get("InputMode") for ch in channels
                                                            if ch.get("InputMode")}
        if "Pipe" in modes and not algo.supports_pipe:
            raise ValidationError(f"The {algo.name} algorithm does not support Pipe input mode; use File.")
        builtin = [{"Name": n, "Regex": rx} for n, (rx, _) in algo.metrics.items()]
        names = {m["Name"] for m in user_metrics}
        return ({"kind": "builtin", "algorithm": algo.name, "module": algo.training_module, "image": image},
                user_metrics + [m for m in builtin if m["Name"] not in names])
    framework = FRAMEWORK_REPOS.get(repository(image), repository(image))
    return {"kind": "script", "framework": framework}, user_metrics


def create(services: Services, params: dict, parent: str = "", extra: dict | None = None) -> dict:
    """Validate and store a training job (a CreateTrainingJob request); the controller starts it.
    ``parent`` is the ARN of the tuning job that launched it; ``extra`` adds private keys."""
    name = params["TrainingJobName"]
    resources = params.get("ResourceConfig") or {}
    if not resources.get("InstanceGroups") and "InstanceCount" in resources and resources["InstanceCount"] < 1:
        raise ValidationError("ResourceConfig.InstanceCount must be at least 1 when no InstanceGroups are given.")
    spec = dict(params.get("AlgorithmSpecification") or {})
    hps = {k: str(v) for k, v in (params.get("HyperParameters") or {}).items()}
    environment = dict(params.get("Environment") or {})
    channels = params.get("InputDataConfig") or []
    program, metric_defs = program_of(spec, hps, environment, channels)
    spec.setdefault("TrainingInputMode", "File")
    _check_channels(services, channels, spec["TrainingInputMode"])
    output = dict(params["OutputDataConfig"])
    check_s3_uri(services, output.get("S3OutputPath", ""), "OutputDataConfig.S3OutputPath")
    checkpoint = params.get("CheckpointConfig")
    if checkpoint:
        check_s3_uri(services, checkpoint.get("S3Uri", ""), "CheckpointConfig.S3Uri", must_exist=False)
        if checkpoint.get("LocalPath"):  # a folder of the job's /opt/ml (the job folder), never the host's
            from ..domain.paths import under_opt_ml

            under_opt_ml(checkpoint["LocalPath"], "CheckpointConfig.LocalPath")
    debug_rules.validate(services, params)  # Debugger hook, rules and profiler (each message names the field)
    from ..controllers.training_admission import check_fits

    check_fits(services.runner, resources)  # a job that could never be placed
    stopping = dict(params.get("StoppingCondition") or {})
    stopping.setdefault("MaxRuntimeInSeconds", DEFAULT_MAX_RUNTIME)
    now = time.time()
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {
        "TrainingJobName": name,
        "TrainingJobArn": arn,
        "AlgorithmSpecification": spec,
        "RoleArn": params["RoleArn"],
        "InputDataConfig": channels,
        "OutputDataConfig": output,
        "ResourceConfig": params.get("ResourceConfig") or dict(DEFAULT_RESOURCE_CONFIG),
        "StoppingCondition": stopping,
        "SecondaryStatus": "Starting",
        "SecondaryStatusTransitions": [{"Status": "Starting", "StartTime": now,
                                        "StatusMessage": "Launching requested ML instances"}],
        "EnableNetworkIsolation": bool(params.get("EnableNetworkIsolation", False)),
        "EnableInterContainerTrafficEncryption": bool(params.get("EnableInterContainerTrafficEncryption", False)),
        "EnableManagedSpotTraining": bool(params.get("EnableManagedSpotTraining", False)),
    }
    if hps:
        doc["HyperParameters"] = hps
    for key in _OPTIONAL:
        if params.get(key):
            doc[key] = params[key]
    doc.update(debug_rules.initial_statuses(params, now))  # rules InProgress until their jobs report
    if parent:
        doc["TuningJobArn"] = parent
    state = TrainingState(program=program, metric_definitions=metric_defs,
                          tags=list(params["Tags"]) if params.get("Tags") else None)
    doc.update(state.to_doc())
    doc.update(extra or {})
    check_budget(services, params.get("Tags"))  # a spent budget for these tags refuses new work (shipyard.usage)
    kms_jobs.training_job(services, params)  # KmsKeyId fields: checked; the output folder encrypted under its key
    created = services.meta.create(KIND, name, arn, "InProgress", stamp(doc), parent=parent)
    job_events.job_created(services, KIND, created)
    services.wake(KIND)
    return {"TrainingJobArn": arn}


def describe(resource: Resource) -> dict:
    """The DescribeTrainingJob view of a stored job (before the SDK defaults the wire adapter adds)."""
    out = public(resource.doc)
    out["TrainingJobStatus"] = resource.status
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    if resource.parent and "TuningJobArn" not in out:
        out["TuningJobArn"] = resource.parent
    return out


def list_jobs(services: Services, params: dict) -> dict:
    """A ListTrainingJobs page (filters, sort, pagination as every List*Jobs: :mod:`.job_listing`)."""
    return list_jobs_page(services, KIND, params, "TrainingJobSummaries", summary)


def summary(r: Resource) -> dict:
    """One ListTrainingJobs entry."""
    item = {"TrainingJobName": r.name, "TrainingJobArn": r.arn, "CreationTime": r.created,
            "LastModifiedTime": r.modified, "TrainingJobStatus": r.status,
            "SecondaryStatus": r.doc.get("SecondaryStatus")}
    if r.doc.get("TrainingEndTime"):
        item["TrainingEndTime"] = r.doc["TrainingEndTime"]
    return item


def stop(services: Services, name: str) -> None:
    """StopTrainingJob: an InProgress job becomes Stopping (the controller stops its hosts); stopping a job
    that is already Stopping is a no-op."""
    r = get(services, name)
    if r.status == "Stopping":
        return
    if r.status != "InProgress":
        raise ValidationError(f"The request was rejected because the training job is in status {r.status}.")
    changes = {"SecondaryStatus": "Stopping", **TrainingState().changes(stop_requested=time.time())}
    try:
        services.meta.update(KIND, r.name, changes, status="Stopping", expect_status={"InProgress"})
    except ConflictError:
        now = services.meta.get(KIND, r.name)
        if now.status != "Stopping":
            raise ValidationError(
                f"The request was rejected because the training job is in status {now.status}.") from None
    services.wake(KIND)


def delete(services: Services, name: str) -> None:
    """DeleteTrainingJob: only a finished job, with its job folder."""
    r = get(services, name)
    if r.status not in TRAINING_TERMINAL:
        raise ValidationError(f"Training job {r.name} is in status {r.status}; only a Completed, Failed or "
                              "Stopped training job can be deleted.")
    services.meta.delete(KIND, r.name)
    shutil.rmtree(services.settings.home / "runs" / "training" / r.name, ignore_errors=True)
