"""The processing-job resource: validate, create, describe, list and stop a processing job.

The server has already checked each request against botocore's model; here go the rules the model cannot
express, checked *before* anything runs: every ``LocalPath`` lies under ``/opt/ml/processing/`` (and is not
used twice), input and output names are unique, each input's S3 objects exist, ``S3CompressionType=Gzip``
comes with Pipe mode (AWS's rule), the image names a program Shipyard can run (:mod:`shipyard.processing.program`).
The stored document is the DescribeProcessingJob response (defaults filled in as AWS shows them) plus the
private keys of :class:`~shipyard.domain.processing_state.ProcessingState`.

Callers: :mod:`shipyard.api.processing` (the wire adapters) and, later, a pipeline's Processing steps, which
create their jobs through :func:`create` so that a step is validated exactly as a user's request is.
"""

from __future__ import annotations

import posixpath
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..domain.processing_state import ProcessingState
from ..errors import ConflictError, MissingResource, ResourceNotFound, ValidationError
from ..kms import jobs as kms_jobs
from ..metastore.base import Resource
from ..usage.budgets import check_budget
from . import job_events
from .job_listing import list_jobs_page
from .training_job import check_s3_uri, public

KIND = "processing-job"
DEFAULT_MAX_RUNTIME = 86400
PROCESSING_ROOT = "/opt/ml/processing"
# request members stored as given when present (the rest of the document is built below)
_OPTIONAL = ("StoppingCondition", "Environment", "NetworkConfig", "ExperimentConfig")


def get(services: Services, name: str) -> Resource:
    """The stored processing job ``name`` (or ARN); a missing one is ResourceNotFound."""
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ResourceNotFound(f"Processing job {name_from(name)!r} does not exist: check the name "
                               "(ListProcessingJobs shows the jobs there are).") from None


def local_path(path: str | None, what: str) -> str:
    """``path`` normalized; a ValidationError unless it is an absolute path strictly under /opt/ml/processing/."""
    if not path or not path.startswith("/"):
        raise ValidationError(f"{what} {path!r} must be an absolute path under {PROCESSING_ROOT}/.")
    norm = posixpath.normpath(path)
    if not norm.startswith(PROCESSING_ROOT + "/") or "\x00" in norm:
        raise ValidationError(f"{what} {path!r} is not under {PROCESSING_ROOT}/: a processing job's inputs and "
                              f"outputs live in folders below {PROCESSING_ROOT}/ (for example "
                              f"{PROCESSING_ROOT}/input/data).")
    return norm


def _objects_exist(services: Services, uri: str) -> bool:
    from ..objectstore.base import parse_s3_uri

    bucket, prefix = parse_s3_uri(uri)
    for info in services.objects.iter_keys(bucket, prefix):
        if not info.key.endswith("/"):
            return True
    return False


@dataclass(frozen=True)
class _ChannelKind:
    """What differs between processing inputs and outputs in the checks they share (names in the messages)."""

    noun: str              # "input" / "output"
    container: str         # the request member holding the list
    name_key: str          # InputName / OutputName
    s3_key: str            # S3Input / S3Output
    unsupported: str       # the non-S3 source Shipyard refuses
    unsupported_text: str


_INPUTS = _ChannelKind("input", "ProcessingInputs", "InputName", "S3Input", "DatasetDefinition",
                       "DatasetDefinition (Athena/Redshift) inputs are not supported by Shipyard")
_OUTPUTS = _ChannelKind("output", "ProcessingOutputConfig", "OutputName", "S3Output", "FeatureStoreOutput",
                        "FeatureStoreOutput is not supported by Shipyard")


def _s3_channels(items: list[dict], kind: _ChannelKind) -> Iterator[tuple[dict, str, dict]]:
    """``(item, name, copy of its S3 member)`` for each input or output, after the rules both share: unique
    names, an S3 source (not the unsupported kind), a LocalPath under /opt/ml/processing/ that no other
    input (or output) uses."""
    names: set[str] = set()
    paths: dict[str, str] = {}
    for item in items:
        name = item[kind.name_key]
        if name in names:
            raise ValidationError(f"{kind.container}: the {kind.name_key} {name!r} appears more than once; "
                                  f"{kind.noun} names must be unique.")
        names.add(name)
        label = f"Processing{kind.noun.capitalize()} {name!r}"
        if item.get(kind.unsupported):
            raise ValidationError(f"{label}: {kind.unsupported_text}; give an {kind.s3_key}.")
        s3 = dict(item.get(kind.s3_key) or {})
        if not s3:
            raise ValidationError(f"{label} must have an {kind.s3_key}.")
        where = local_path(s3.get("LocalPath"), f"{label} LocalPath")
        if where in paths:
            raise ValidationError(f"{label}: LocalPath {where!r} is already the LocalPath of {kind.noun} "
                                  f"{paths[where]!r}; each {kind.noun} needs a folder of its own.")
        paths[where] = name
        yield item, name, s3


def _check_inputs(services: Services, inputs: list[dict]) -> list[dict]:
    """The inputs with AWS's defaults filled in; ValidationError for what AWS refuses."""
    out = []
    for item, name, s3 in _s3_channels(inputs, _INPUTS):
        s3.setdefault("S3InputMode", "File")
        s3.setdefault("S3DataDistributionType", "FullyReplicated")
        s3.setdefault("S3CompressionType", "None")
        if s3["S3CompressionType"] == "Gzip" and s3["S3InputMode"] != "Pipe":
            raise ValidationError(f"ProcessingInput {name!r}: S3CompressionType Gzip can only be used with "
                                  "S3InputMode Pipe.")
        uri = s3.get("S3Uri", "")
        check_s3_uri(services, uri, f"ProcessingInput {name!r} S3Uri")
        if not _objects_exist(services, uri):
            raise ValidationError(f"ProcessingInput {name!r}: no S3 objects found under {uri!r}; upload the input "
                                  "first (or fix the URI).")
        out.append({**item, "S3Input": s3})
    return out


def _check_outputs(services: Services, config: dict | None) -> dict | None:
    if not config:
        return None
    outputs = []
    for item, name, s3 in _s3_channels(config.get("Outputs") or [], _OUTPUTS):
        check_s3_uri(services, s3.get("S3Uri", ""), f"ProcessingOutput {name!r} S3Uri")  # as S3OutputPath
        outputs.append({**item, "S3Output": s3})
    return {**config, "Outputs": outputs}


def create(services: Services, params: dict, extra: dict | None = None) -> dict:
    """Validate and store a processing job (a CreateProcessingJob request); the controller starts it."""
    from ..processing.program import program_for

    name = params["ProcessingJobName"]
    app = dict(params["AppSpecification"])
    program = program_for(app.get("ImageUri", ""))
    if program["kind"] == "script" and not app.get("ContainerEntrypoint"):
        raise ValidationError(f"AppSpecification.ContainerEntrypoint is required for the framework image "
                              f"{app['ImageUri']!r}: Shipyard runs it as a command (for example [\"python3\", "
                              "\"/opt/ml/processing/input/code/preprocess.py\"]), as the SageMaker SDK's "
                              "processors send it.")
    inputs = _check_inputs(services, list(params.get("ProcessingInputs") or []))
    outputs = _check_outputs(services, params.get("ProcessingOutputConfig"))
    cluster = dict((params.get("ProcessingResources") or {}).get("ClusterConfig") or {})
    cluster.setdefault("InstanceCount", 1)
    cluster.setdefault("InstanceType", "ml.m5.large")
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {
        "ProcessingJobName": name,
        "ProcessingJobArn": arn,
        "ProcessingResources": {**(params.get("ProcessingResources") or {}), "ClusterConfig": cluster},
        "AppSpecification": app,
        "RoleArn": params["RoleArn"],
    }
    if inputs:
        doc["ProcessingInputs"] = inputs
    if outputs:
        doc["ProcessingOutputConfig"] = outputs
    for key in _OPTIONAL:
        if params.get(key):
            doc[key] = params[key]
    state = ProcessingState(program=program, tags=list(params["Tags"]) if params.get("Tags") else None)
    doc.update(state.to_doc())
    doc.update(extra or {})
    check_budget(services, params.get("Tags"))  # a spent budget for these tags refuses new work (shipyard.usage)
    kms_jobs.processing_job(services, params)  # KmsKeyId fields: checked; the outputs encrypted under the key
    job_events.job_created(services, KIND, services.meta.create(KIND, name, arn, "InProgress", stamp(doc)))
    services.wake(KIND)
    return {"ProcessingJobArn": arn}


def describe(resource: Resource) -> dict:
    """The DescribeProcessingJob view of a stored job."""
    out = public(resource.doc)
    out["ProcessingJobStatus"] = resource.status
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    return out


def summary(r: Resource) -> dict:
    """One ListProcessingJobs entry."""
    item = {"ProcessingJobName": r.name, "ProcessingJobArn": r.arn, "CreationTime": r.created,
            "LastModifiedTime": r.modified, "ProcessingJobStatus": r.status}
    for key in ("ProcessingEndTime", "FailureReason", "ExitMessage"):
        if r.doc.get(key):
            item[key] = r.doc[key]
    return item


def list_jobs(services: Services, params: dict) -> dict:
    """A ListProcessingJobs page (filters, sort, pagination as every List*Jobs: :mod:`.job_listing`)."""
    return list_jobs_page(services, KIND, params, "ProcessingJobSummaries", summary)


def stop(services: Services, name: str) -> None:
    """StopProcessingJob: an InProgress job becomes Stopping (the controller stops its hosts, then records
    Stopped); stopping a job that is already Stopping is a no-op, a finished one a ValidationException."""
    r = get(services, name)
    if r.status == "Stopping":
        return
    if r.status != "InProgress":
        raise ValidationError(f"Processing job {r.name} is in status {r.status}: only an InProgress job can be "
                              "stopped.")
    changes = ProcessingState().changes(stop_requested=time.time())
    try:
        services.meta.update(KIND, r.name, changes, status="Stopping", expect_status={"InProgress"})
    except ConflictError:
        now = services.meta.get(KIND, r.name)
        if now.status != "Stopping":
            raise ValidationError(f"Processing job {r.name} is in status {now.status}: only an InProgress job "
                                  "can be stopped.") from None
    services.wake(KIND)
