"""What a monitoring execution's end tells the world: a "SageMaker Model Monitor Execution State Change" event, and
(Beyond SageMaker) the retraining pipeline a schedule asks for when violations fire.

The event
    When an execution ends (``Completed``, ``CompletedWithViolations``, ``Failed``, ``Stopped``) an EventBridge-
    shaped event (``source`` "aws.sagemaker", ``detail-type`` :data:`DETAIL_TYPE`) goes where the registry's go
    (:func:`shipyard.resources.model_package_events.emit`): one JSON line in the log group ``/shipyard/events``,
    stream :data:`LOG_STREAM` (``shipyard monitor watch`` follows it), and a POST to each ``webhooks`` URL. Its
    ``detail`` names the schedule, endpoint, status, processing job, scheduled time (epoch milliseconds, as
    EventBridge's SageMaker events), the first :data:`MAX_VIOLATIONS` violations of the job's
    ``constraint_violations.json`` with their total, where the report is (``ReportS3Uri``: the job's output
    folder; ``ReportUrl``: the console's schedule page) and the retraining pipeline execution it started, if any.

The retrain trigger: two tags on the schedule
    SageMaker's CreateMonitoringSchedule has no field for "start this when violations fire", and Shipyard keeps
    AWS's request shapes, so the option rides in the schedule's ``Tags`` (at create, or later with AddTags):

    - ``shipyard:on-violation-pipeline`` = the name of a pipeline (:data:`PIPELINE_TAG`);
    - ``shipyard:on-violation-parameters`` = a JSON object of its parameters, ``{"Name": value, ...}``
      (optional; a tag value holds at most 256 characters) (:data:`PARAMETERS_TAG`).

    :func:`check_retrain_tags` refuses, with a ValidationException naming the tag, a pipeline that does not
    exist, parameters that are not a JSON object, or parameters the pipeline does not declare or cannot parse.
    When an execution ends ``CompletedWithViolations``, :func:`on_execution_end` calls StartPipelineExecution
    with those parameters and a ``PipelineExecutionDescription`` naming the execution. It runs once per
    execution, restart-safe: the ClientRequestToken is derived from the execution, so a second attempt (the
    server stopped between starting the pipeline and recording the execution's end) finds the first pipeline
    execution instead of starting another, and the result is recorded on the execution (``_retrain``).

Delivery is at least once: the event is emitted before the execution's end is recorded, so a crash between the
two emits it again on restart; receivers key on ``detail.MonitoringExecutionName`` and status.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from ..context import Services
from ..errors import ShipyardError, ValidationError
from ..metastore.base import Resource
from ..objectstore.base import parse_s3_uri
from ..pipelines.parameters import bind_parameters
from . import pipeline
from .model_package_events import emit

LOG_STREAM = "monitoring-execution-state-change"
DETAIL_TYPE = "SageMaker Model Monitor Execution State Change"
PIPELINE_TAG = "shipyard:on-violation-pipeline"
PARAMETERS_TAG = "shipyard:on-violation-parameters"
ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")
MAX_VIOLATIONS = 20
VIOLATIONS_FILE = "constraint_violations.json"

log = logging.getLogger(__name__)


# ------------------------------------------------------------------ the retrain option
@dataclass(frozen=True)
class RetrainTarget:
    pipeline: str
    parameters: dict[str, str]

    def pipeline_parameters(self) -> list[dict[str, str]]:
        return [{"Name": k, "Value": v} for k, v in self.parameters.items()]


def _tag_map(tags: list[dict[str, Any]] | None) -> dict[str, str]:
    return {str(t.get("Key")): str(t.get("Value", "")) for t in tags or [] if isinstance(t, dict)}


def retrain_target(tags: list[dict[str, Any]] | None) -> RetrainTarget | None:
    """The schedule's retrain option from its tags (None without :data:`PIPELINE_TAG`); the parameters' JSON is
    parsed here, so a bad one is refused with the tag's name."""
    found = _tag_map(tags)
    name = found.get(PIPELINE_TAG, "").strip()
    raw = found.get(PARAMETERS_TAG)
    if not name:
        if raw is not None:
            raise ValidationError(f"Tag {PARAMETERS_TAG} needs the tag {PIPELINE_TAG} (the pipeline to start when "
                                  "violations fire) beside it.")
        return None
    parameters: dict[str, str] = {}
    if raw is not None and raw.strip():
        try:
            value = json.loads(raw)
        except ValueError as e:
            raise ValidationError(f"Tag {PARAMETERS_TAG} must be a JSON object of the pipeline's parameters, "
                                  f'such as {{"TrainData": "s3://bucket/fresh/"}}: {e}.') from None
        if not isinstance(value, dict):
            raise ValidationError(f"Tag {PARAMETERS_TAG} must be a JSON object of the pipeline's parameters "
                                  f"(name -> value); got {type(value).__name__}.")
        for key, v in value.items():
            if isinstance(v, (dict, list)) or v is None:
                raise ValidationError(f"Tag {PARAMETERS_TAG}: parameter {key!r} must be a string, number or "
                                      "boolean.")
            parameters[str(key)] = json.dumps(v) if isinstance(v, bool) else str(v)
    return RetrainTarget(name, parameters)


def check_retrain_tags(services: Services, tags: list[dict[str, Any]] | None) -> RetrainTarget | None:
    """Refuse a retrain option that could not start: the pipeline must exist and accept the parameters."""
    target = retrain_target(tags)
    if target is None:
        return None
    try:
        pipe = pipeline.get(services, target.pipeline)
    except ShipyardError:
        raise ValidationError(f"Tag {PIPELINE_TAG}: no pipeline named {target.pipeline!r} exists; create it "
                              "first (CreatePipeline) or name an existing one.") from None
    try:
        bind_parameters(pipeline.check_definition(pipe.doc["PipelineDefinition"]), target.pipeline_parameters())
    except ValidationError as e:
        raise ValidationError(f"Tag {PARAMETERS_TAG}: pipeline {pipe.name!r} would refuse these parameters: "
                              f"{e.message}") from None
    return target


def _token(execution: Resource) -> str:
    """StartPipelineExecution's ClientRequestToken for this execution (32-128 characters): the same on every try."""
    return hashlib.sha256(f"monitoring-retrain\n{execution.arn}".encode()).hexdigest()


def start_retrain(services: Services, execution: Resource, schedule: Resource | None) -> dict[str, Any] | None:
    """Start the schedule's retraining pipeline for this execution (once), returning what to record as
    ``_retrain``: ``{"PipelineName", "PipelineExecutionArn"}`` or ``{"PipelineName", "Error"}``."""
    if schedule is None:
        return None
    try:
        target = retrain_target(schedule.doc.get("_tags"))
    except ValidationError as e:
        return {"PipelineName": "", "Error": e.message}
    if target is None:
        return None
    request = {"PipelineName": target.pipeline, "PipelineParameters": target.pipeline_parameters(),
               "ClientRequestToken": _token(execution),
               "PipelineExecutionDisplayName": f"retrain-{execution.name}"[:82],
               "PipelineExecutionDescription": (f"Started by Model Monitor: execution {execution.name} of schedule "
                                                f"{schedule.name} (endpoint {execution.doc.get('EndpointName')}) "
                                                "ended CompletedWithViolations.")}
    try:
        out = pipeline.start(services, request)
    except ShipyardError as e:
        log.warning("monitoring: retrain pipeline %s for %s did not start: %s", target.pipeline, execution.name, e)
        return {"PipelineName": target.pipeline, "Error": str(getattr(e, "message", "") or e)[:1024]}
    return {"PipelineName": target.pipeline, "PipelineExecutionArn": out["PipelineExecutionArn"]}


# ------------------------------------------------------------------ the event
def report_uri(job_doc: dict[str, Any] | None) -> str:
    """The execution's output folder (where statistics.json and constraint_violations.json are)."""
    outputs = ((job_doc or {}).get("ProcessingOutputConfig") or {}).get("Outputs") or []
    for out in outputs:
        uri = (out.get("S3Output") or {}).get("S3Uri")
        if uri:
            return str(uri).rstrip("/")
    return ""


def read_violations(services: Services, folder: str) -> list[dict[str, Any]]:
    """The ``violations`` of ``<folder>/constraint_violations.json`` ([] when there is none or it is unreadable:
    an event still goes out for a job that wrote nothing)."""
    if not folder:
        return []
    try:
        bucket, prefix = parse_s3_uri(folder)
        doc = json.loads(services.objects.get_bytes(bucket, f"{prefix.strip('/')}/{VIOLATIONS_FILE}"))
    except (ShipyardError, ValueError, OSError):
        return []
    found = doc.get("violations") if isinstance(doc, dict) else None
    return [v for v in found if isinstance(v, dict)] if isinstance(found, list) else []


def build_event(services: Services, execution: Resource, status: str, job_doc: dict[str, Any] | None,
                failure: str | None, retrain: dict[str, Any] | None) -> dict[str, Any]:
    folder = report_uri(job_doc)
    violations = read_violations(services, folder) if status in ("Completed", "CompletedWithViolations") else []
    schedule_name = execution.doc["MonitoringScheduleName"]
    detail: dict[str, Any] = {
        "MonitoringScheduleName": schedule_name, "MonitoringScheduleArn": execution.parent,
        "MonitoringExecutionName": execution.name, "MonitoringExecutionStatus": status,
        "EndpointName": execution.doc.get("EndpointName"), "MonitoringType": execution.doc.get("MonitoringType"),
        "ScheduledTime": int(float(execution.doc["ScheduledTime"]) * 1000),
        "ProcessingJobArn": (job_doc or {}).get("ProcessingJobArn") or execution.doc.get("ProcessingJobArn"),
        "ViolationCount": len(violations), "Violations": violations[:MAX_VIOLATIONS],
        "ReportS3Uri": folder or None,
        "ReportUrl": f"{services.settings.endpoint_url}/studio/monitoring/{schedule_name}",
    }
    if failure:
        detail["FailureReason"] = failure
    if retrain:
        detail["RetrainPipelineName"] = retrain.get("PipelineName")
        if retrain.get("PipelineExecutionArn"):
            detail["RetrainPipelineExecutionArn"] = retrain["PipelineExecutionArn"]
        if retrain.get("Error"):
            detail["RetrainError"] = retrain["Error"]
    detail = {k: v for k, v in detail.items() if v is not None}
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": DETAIL_TYPE, "source": "aws.sagemaker",
        "account": services.account, "region": services.region,
        "time": datetime.fromtimestamp(time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "resources": [r for r in (execution.parent, detail.get("ProcessingJobArn")) if r],
        "detail": detail,
    }


def on_execution_end(services: Services, execution: Resource, status: str, job_doc: dict[str, Any] | None = None,
                     failure: str | None = None) -> dict[str, Any]:
    """Everything an execution's end sets off (the retrain, then the event), before the end is recorded.
    Returns the document changes to record with the end (``_retrain``, ``_event``)."""
    changes: dict[str, Any] = {}
    retrain = execution.doc.get("_retrain")
    if status == "CompletedWithViolations" and not retrain:
        schedule = services.meta.find("monitoring-schedule", execution.doc["MonitoringScheduleName"])
        retrain = start_retrain(services, execution, schedule)
        if retrain:
            changes["_retrain"] = retrain
    try:
        event = emit(services, LOG_STREAM, build_event(services, execution, status, job_doc, failure, retrain))
        changes["_event"] = event["id"]
    except Exception:  # noqa: BLE001 - a log store hiccup must not keep the execution from ending
        log.exception("monitoring: the event for %s could not be recorded", execution.name)
    return changes
