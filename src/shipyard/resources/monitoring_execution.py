"""Monitoring executions: one per fire of a schedule, each a processing job over the captured data of its window.

An execution is a store record of kind ``monitoring-execution`` (no ARN on AWS; the record's ``parent`` is its
schedule's ARN), named ``<schedule>-<yyyymmddHHMMSS of the scheduled time>`` so that recording the same fire
twice finds the first. Its document is its ``MonitoringExecutionSummary`` plus ``_processing_job`` (the name the
job gets, fixed when the execution is recorded); the store's status is ``MonitoringExecutionStatus``:

``Pending`` (recorded; :func:`start_processing` creates the job through :func:`shipyard.resources.
processing_job.create`, exactly as a CreateProcessingJob request) -> ``InProgress`` -> ``Completed`` /
``CompletedWithViolations`` (the job Completed with an ExitMessage starting ``CompletedWithViolations``, as
AWS's analyzer ends) / ``Failed`` / ``Stopped``, following the processing job (:func:`follow`). An execution
whose window has no captured data fails without a job, with AWS's reason ``Job inputs had no data``.

Before an end is recorded, :func:`shipyard.resources.monitoring_events.on_execution_end` emits the execution's
state-change event and, for ``CompletedWithViolations``, starts the schedule's retraining pipeline (its tags);
what it did is recorded with the end (``_retrain``, ``_event``), so an execution that ended is never acted on
twice and one whose end was not recorded (a crash) is acted on again, idempotently, on the next tick.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from ..context import Services
from ..domain.acting import user_of
from ..domain.arns import name_from
from ..domain.endpoint_state import EndpointState
from ..errors import MissingResource, ResourceInUse, ShipyardError, ValidationError
from ..metastore.base import ListQuery, Resource
from ..monitor.schedule_expression import hour_path, hours_between
from ..objectstore.base import parse_s3_uri
from . import monitoring_contract as contract
from . import monitoring_events, processing_job
from .job_listing import timestamp
from .monitoring_job_definition import MonitoringJob

KIND = "monitoring-execution"
ACTIVE = ("Pending", "InProgress", "Stopping")
NO_DATA = "Job inputs had no data"
_PAGE = 100


def _name(schedule_name: str, scheduled: float) -> str:
    return f"{schedule_name}-{datetime.fromtimestamp(scheduled, timezone.utc):%Y%m%d%H%M%S}"


def record(services: Services, schedule: Resource, job: MonitoringJob, scheduled: float, start: float,
           end: float) -> Resource:
    """Record the execution of ``schedule`` for ``scheduled`` (Pending), or find the one already recorded."""
    name = _name(schedule.name, scheduled)
    doc: dict[str, Any] = {
        "MonitoringScheduleName": schedule.name, "ScheduledTime": scheduled,
        "EndpointName": job.endpoint_name, "MonitoringType": job.monitoring_type,
        "_processing_job": contract.processing_job_name(job, schedule.arn, schedule.created, scheduled),
        "_window": [start, end],
    }
    if job.definition_name:
        doc["MonitoringJobDefinitionName"] = job.definition_name
    try:
        return services.meta.create(KIND, name, services.arn(KIND, name), "Pending", doc, parent=schedule.arn)
    except ResourceInUse:
        return services.meta.get(KIND, name)


def summary(r: Resource) -> dict[str, Any]:
    """One MonitoringExecutionSummary."""
    item = {"MonitoringScheduleName": r.doc["MonitoringScheduleName"], "ScheduledTime": r.doc["ScheduledTime"],
            "CreationTime": r.created, "LastModifiedTime": r.modified, "MonitoringExecutionStatus": r.status}
    for key in ("ProcessingJobArn", "EndpointName", "FailureReason", "MonitoringJobDefinitionName",
                "MonitoringType"):
        if r.doc.get(key):
            item[key] = r.doc[key]
    return item


def _all(services: Services, parent: str | None = None) -> list[Resource]:
    q = ListQuery(parent=parent, max_results=_PAGE)
    out: list[Resource] = []
    for _ in range(100_000):  # bounded: _PAGE records a page
        page = services.meta.list(KIND, q)
        out.extend(page.items)
        if not page.next_token:
            break
        q.next_token = page.next_token
    return out


def latest(services: Services, schedule_arn: str) -> Resource | None:
    """The schedule's latest execution (LastMonitoringExecutionSummary): the last recorded, which is also the
    latest scheduled (each fire's scheduled time is after the previous one's)."""
    page = services.meta.list(KIND, ListQuery(parent=schedule_arn, sort_by="created", descending=True,
                                              max_results=1))
    return page.items[0] if page.items else None


def delete_of(services: Services, schedule_arn: str) -> None:
    for r in _all(services, schedule_arn):
        try:
            services.meta.delete(KIND, r.name)
        except MissingResource:
            pass


_SORT = {"CreationTime": lambda r: (r.created, r.name), "ScheduledTime": lambda r: (r.doc["ScheduledTime"], r.name),
         "Status": lambda r: (r.status, r.name)}


def list_executions(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """ListMonitoringExecutions: filters on schedule, endpoint, definition, type, status and the scheduled,
    creation and modification times; sort by ScheduledTime (default), CreationTime or Status; paging."""
    parent = None
    if params.get("MonitoringScheduleName"):
        parent = services.arn("monitoring-schedule", name_from(params["MonitoringScheduleName"]))
    items = _all(services, parent)
    windows = {"ScheduledTime": lambda r: r.doc["ScheduledTime"], "CreationTime": lambda r: r.created,
               "LastModifiedTime": lambda r: r.modified}
    for field, value_of in windows.items():
        after, before = timestamp(params.get(f"{field}After")), timestamp(params.get(f"{field}Before"))
        if after is not None:
            items = [r for r in items if value_of(r) > after]
        if before is not None:
            items = [r for r in items if value_of(r) < before]
    for param, key in (("EndpointName", "EndpointName"), ("MonitoringJobDefinitionName", "MonitoringJobDefinitionName"),
                       ("MonitoringTypeEquals", "MonitoringType")):
        if params.get(param):
            items = [r for r in items if r.doc.get(key) == params[param]]
    if params.get("StatusEquals"):
        items = [r for r in items if r.status == params["StatusEquals"]]
    sort_by = params.get("SortBy") or "ScheduledTime"
    if sort_by not in _SORT:
        raise ValidationError(f"SortBy must be one of {', '.join(_SORT)}; got {sort_by!r}.")
    items.sort(key=_SORT[sort_by], reverse=(params.get("SortOrder") or "Descending") == "Descending")
    start = 0
    if params.get("NextToken"):
        token = str(params["NextToken"])
        if not token.startswith("executions:") or not token[11:].isdigit():
            raise ValidationError("NextToken is not one this call returned; start again without it.")
        start = int(token[11:])
    size = int(params.get("MaxResults") or 10)
    out: dict[str, Any] = {"MonitoringExecutionSummaries": [summary(r) for r in items[start:start + size]]}
    if start + size < len(items):
        out["NextToken"] = f"executions:{start + size}"
    return out


# ------------------------------------------------------------------ the controller's work
def _capture_folders(services: Services, job: MonitoringJob, start: float, end: float) -> list[tuple[str, str]]:
    """``(s3 uri, <endpoint>/<variant>/yyyy/mm/dd/hh)`` of each capture folder of the window that holds data."""
    ep = services.meta.find("endpoint", job.endpoint_name)
    spec = EndpointState.from_doc(ep.doc).spec if ep is not None else None
    capture = spec.data_capture if spec is not None else None
    if not capture:
        raise _Fail(f"The monitored endpoint {job.endpoint_name!r} no longer exists or no longer captures data.")
    bucket, prefix = parse_s3_uri(capture["DestinationS3Uri"])
    prefix = prefix.strip("/")
    variants = [v.name for v in spec.variants] if spec is not None else []
    found = []
    for variant in variants:
        for hour in hours_between(start, end):
            sub = f"{job.endpoint_name}/{variant}/{hour_path(hour)}"
            key = f"{prefix}/{sub}" if prefix else sub
            if _has_objects(services, bucket, key + "/"):
                found.append((f"s3://{bucket}/{key}", sub))
    return found


def _truth_folders(services: Services, job: MonitoringJob, start: float, end: float) -> list[str]:
    if not job.ground_truth_uri:
        return []
    bucket, prefix = parse_s3_uri(job.ground_truth_uri)
    prefix = prefix.strip("/")
    found = []
    for hour in hours_between(start, end):
        key = f"{prefix}/{hour_path(hour)}" if prefix else hour_path(hour)
        if _has_objects(services, bucket, key + "/"):
            found.append(f"s3://{bucket}/{key}")
    return found


def _has_objects(services: Services, bucket: str, prefix: str) -> bool:
    try:
        for info in services.objects.iter_keys(bucket, prefix):
            if not info.key.endswith("/"):
                return True
    except ShipyardError:  # a bucket that has gone: no data
        return False
    return False


def _baseline(services: Services, job: MonitoringJob) -> MonitoringJob:
    """A definition that names only a BaseliningJobName reads that job's statistics.json/constraints.json."""
    if not job.baselining_job or (job.constraints_uri and job.statistics_uri):
        return job
    doc = processing_job.get(services, job.baselining_job).doc
    outputs = (doc.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    if not outputs:
        return job
    base = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
    job.constraints_uri = job.constraints_uri or f"{base}/constraints.json"
    if job.monitoring_type != "ModelQuality":
        job.statistics_uri = job.statistics_uri or f"{base}/statistics.json"
    return job


class _Fail(Exception):
    """The execution cannot start; the message is its FailureReason."""


def start_processing(services: Services, execution: Resource, job: MonitoringJob, schedule_name: str) -> None:
    """Create the execution's processing job (or find it, after a crash) and mark the execution InProgress; an
    execution that cannot start (no data in its window, a request the processing job refuses) fails with why."""
    name = execution.doc["_processing_job"]
    window = contract.Window(execution.doc["ScheduledTime"], *execution.doc["_window"])
    arn = services.arn(processing_job.KIND, name)
    if services.meta.find(processing_job.KIND, name) is None:
        try:
            folders = (contract.batch_capture_folders(services, job, window.start, window.end) if job.is_batch
                       else _capture_folders(services, job, window.start, window.end))
            if not folders:
                raise _Fail(NO_DATA)
            job = _baseline(services, job)
            request = contract.processing_request(job, schedule_name, window, folders,
                                                  _truth_folders(services, job, window.start, window.end), name)
            schedule_arn = execution.parent
            schedule = services.meta.find("monitoring-schedule", schedule_name)
            extra = {"MonitoringScheduleArn": schedule_arn, "_user": user_of(schedule.doc) if schedule else ""}
            processing_job.create(services, request, extra=extra)
        except ResourceInUse:
            pass  # created by an earlier attempt
        except (_Fail, ShipyardError) as e:
            reason = (getattr(e, "message", "") or str(e))[:1024]
            changes = monitoring_events.on_execution_end(services, execution, "Failed", failure=reason)
            services.meta.update(KIND, execution.name, {"FailureReason": reason, **changes}, status="Failed",
                                 expect_status={"Pending"})
            return
    services.meta.update(KIND, execution.name, {"ProcessingJobArn": arn}, status="InProgress",
                         expect_status={"Pending"})


def status_of(job: Resource) -> str:
    """The execution status a processing job's status stands for."""
    if job.status == "Completed":
        message = str(job.doc.get("ExitMessage") or "")
        return "CompletedWithViolations" if message.startswith(contract.VIOLATIONS_EXIT_PREFIX) else "Completed"
    return job.status  # InProgress, Stopping, Stopped, Failed: the same words


def follow(services: Services, execution: Resource) -> None:
    """Bring an InProgress/Stopping execution's status in line with its processing job's."""
    job = services.meta.find(processing_job.KIND, execution.doc["_processing_job"])
    if job is None:
        reason = "The execution's processing job is gone."
        ended = monitoring_events.on_execution_end(services, execution, "Failed", failure=reason)
        services.meta.update(KIND, execution.name, {"FailureReason": reason, **ended}, status="Failed",
                             expect_status=set(ACTIVE))
        return
    status = status_of(job)
    if status == execution.status:
        return
    changes: dict[str, Any] = {}
    if status == "Failed":
        changes["FailureReason"] = str(job.doc.get("FailureReason") or "The processing job failed.")[:1024]
    if status in monitoring_events.ENDED:
        changes.update(monitoring_events.on_execution_end(services, execution, status, job.doc,
                                                          changes.get("FailureReason")))
    services.meta.update(KIND, execution.name, changes, status=status, expect_status=set(ACTIVE))


def active(services: Services) -> list[Resource]:
    return services.meta.list_in_status(KIND, ACTIVE)
