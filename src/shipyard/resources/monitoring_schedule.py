"""Monitoring schedules: Create/Describe/List/Update/Start/Stop/DeleteMonitoringSchedule, and the firing
decisions the monitoring controller applies (:func:`activate`, :func:`fire_due`).

A schedule is stored as its Describe response (kind ``monitoring-schedule``; the store's status is
``MonitoringScheduleStatus``) plus :class:`ScheduleState`. Statuses move as on AWS: a created, updated or
restarted schedule is ``Pending`` until the controller takes it up (``Scheduled``, its next fire time computed);
StopMonitoringSchedule makes it ``Stopped``, StartMonitoringSchedule ``Pending`` again. ``Failed`` is for a
schedule whose monitored endpoint has gone.

Firing is idempotent and restart-safe: each fire creates the execution record first (its name is the schedule's
and the scheduled time's, so a second attempt finds the first), then moves ``_next_fire`` to the next cron time
after *now*: a fire time missed while the server was down runs once, for the latest missed time, not once per
missed hour. A ``NOW`` schedule fires once. With ``SHIPYARD_MONITOR_FIRE_NOW=1`` (or the setting
``monitor_fire_now``) a cron schedule's first fire is when it becomes Scheduled, not the next cron time; tests
use it so that an hourly schedule need not wait for the hour.

Beyond SageMaker, a schedule's tags ``shipyard:on-violation-pipeline`` and ``shipyard:on-violation-parameters``
name a pipeline (and its parameters as a JSON object) to start when an execution ends CompletedWithViolations;
CreateMonitoringSchedule checks them (:func:`shipyard.resources.monitoring_events.check_retrain_tags`), and
:mod:`shipyard.resources.monitoring_events` says the rest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, ClassVar

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..domain.doc_state import DocState
from ..domain.endpoint_state import EndpointState
from ..errors import ConflictError, MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import Resource
from ..monitor.schedule_expression import NOW, ScheduleExpression, analysis_window, parse_schedule_expression
from . import monitoring_events
from . import monitoring_execution as executions
from . import monitoring_job_definition as definitions
from .job_listing import list_page
from .monitoring_job_definition import DATA_QUALITY, MonitoringJob
from .training_job import public

KIND = "monitoring-schedule"
ACTIVE = ("Pending", "Scheduled")
FIRE_NOW_ENV = "SHIPYARD_MONITOR_FIRE_NOW"
# No ScheduleConfig: "SageMaker picks a time for running every day"; Shipyard picks midnight UTC.
DAILY_DEFAULT = "cron(0 0 ? * * *)"
DEFAULT_START, DEFAULT_END = "-PT1H", "-PT0H"
_CONFIG = "MonitoringScheduleConfig"
_SCHEDULE_FIELD = f"{_CONFIG}.ScheduleConfig"

_KEYS = {"next_fire": "_next_fire", "fired_once": "_fired_once", "definition": "_definition", "tags": "_tags"}


@dataclass
class ScheduleState(DocState):
    """The ``_`` keys of a schedule document. ``None`` means the key is not there."""

    KEYS: ClassVar[dict[str, str]] = _KEYS

    next_fire: float | None = None     # when it fires next (set when it becomes Scheduled)
    fired_once: bool | None = None     # a NOW schedule has run its one execution
    definition: str | None = None      # the named job definition (lower-cased), for filters and ResourceInUse
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ScheduleState:
        return cls(**{name: doc.get(key) for name, key in _KEYS.items()})


def get(services: Services, name: str) -> Resource:
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ResourceNotFound(f"Monitoring schedule {name_from(name)!r} does not exist: check the name "
                               "(ListMonitoringSchedules shows the schedules there are).") from None


# ------------------------------------------------------------------ validation
@dataclass
class CheckedConfig:
    config: dict[str, Any]            # the MonitoringScheduleConfig to store (defaults filled in)
    job: MonitoringJob
    expression: ScheduleExpression
    offsets: tuple[float, float]      # the analysis window, relative to the scheduled time


def _inline_job(services: Services, definition: dict[str, Any]) -> tuple[dict[str, Any], MonitoringJob]:
    where = f"{_CONFIG}.MonitoringJobDefinition"
    inputs = list(definition.get("MonitoringInputs") or [])
    if len(inputs) != 1:
        raise ValidationError(f"{where}.MonitoringInputs must hold exactly one MonitoringInput (it has "
                              f"{len(inputs)}).")
    checked = dict(definition)
    checked["MonitoringInputs"] = [definitions.check_inputs(services, f"{where}.MonitoringInputs[0]", inputs[0])]
    checked["MonitoringOutputConfig"] = definitions.check_outputs(
        services, f"{where}.MonitoringOutputConfig", dict(definition.get("MonitoringOutputConfig") or {}))
    definitions.check_baseline(services, f"{where}.BaselineConfig", definition.get("BaselineConfig"))
    cluster = (definition.get("MonitoringResources") or {}).get("ClusterConfig") or {}
    definitions.check_cluster(f"{where}.MonitoringResources", cluster)
    if not (definition.get("MonitoringAppSpecification") or {}).get("ImageUri"):
        raise ValidationError(f"{where}.MonitoringAppSpecification.ImageUri must name the monitoring image.")
    return checked, MonitoringJob.from_inline(checked)


def _check_endpoint(services: Services, job: MonitoringJob, field: str) -> None:
    """The monitored endpoint exists and captures data (what every execution reads). A batch transform job's
    capture (``BatchTransformInput``, :meth:`MonitoringJob.is_batch`) has no endpoint: its destination was checked
    with the definition."""
    if job.is_batch:
        return
    name = job.endpoint_name
    ep = services.meta.find("endpoint", name)
    if ep is None:
        raise ValidationError(f"{field} {name!r}: no endpoint of that name exists; create the endpoint (with a "
                              "DataCaptureConfig) first, or name an existing one.")
    spec = EndpointState.from_doc(ep.doc).spec
    capture = spec.data_capture if spec is not None else None
    if not capture or not capture.get("EnableCapture", True) or not capture.get("DestinationS3Uri"):
        raise ValidationError(f"{field} {name!r}: the endpoint does not capture data, so there is nothing to "
                              "monitor; deploy it with an endpoint configuration whose DataCaptureConfig has "
                              "EnableCapture true and a DestinationS3Uri.")


def check_config(services: Services, config: dict[str, Any]) -> CheckedConfig:
    """A MonitoringScheduleConfig, checked: one job (named or inline), an endpoint that captures data, an
    expression Model Monitor accepts, a valid analysis window."""
    named, inline = config.get("MonitoringJobDefinitionName"), config.get("MonitoringJobDefinition")
    if bool(named) == bool(inline):
        raise ValidationError(f"{_CONFIG} must give exactly one of MonitoringJobDefinitionName (with "
                              "MonitoringType) and MonitoringJobDefinition.")
    mtype = config.get("MonitoringType") or DATA_QUALITY
    if mtype not in definitions.KINDS:
        raise ValidationError(f"{_CONFIG}.MonitoringType {mtype!r} is not supported by Shipyard yet: it monitors "
                              f"{' and '.join(definitions.KINDS)}.")
    stored = dict(config)
    if named:
        try:
            res = definitions.get(services, mtype, named)
        except ResourceNotFound:
            raise ValidationError(f"{_CONFIG}.MonitoringJobDefinitionName {named!r}: no {mtype} job definition of "
                                  f"that name exists; create it first (Create{mtype}JobDefinition) or check "
                                  "MonitoringType.") from None
        job = MonitoringJob.from_definition(mtype, res.doc)
        stored["MonitoringType"] = mtype
        endpoint_field = f"{mtype}JobInput.EndpointInput.EndpointName (of job definition {named!r})"
    else:
        if mtype != DATA_QUALITY:
            raise ValidationError(f"{_CONFIG}.MonitoringJobDefinition is a DataQuality job; for {mtype} create a "
                                  f"{mtype} job definition and name it in MonitoringJobDefinitionName.")
        stored["MonitoringJobDefinition"], job = _inline_job(services, dict(inline or {}))
        endpoint_field = f"{_CONFIG}.MonitoringJobDefinition.MonitoringInputs[0].EndpointInput.EndpointName"
    _check_endpoint(services, job, endpoint_field)
    schedule = config.get("ScheduleConfig") or {}
    expression = parse_schedule_expression(schedule.get("ScheduleExpression") or DAILY_DEFAULT)
    start, end = schedule.get("DataAnalysisStartTime"), schedule.get("DataAnalysisEndTime")
    if expression.is_now and (start is None or end is None):
        raise ValidationError(f"{_SCHEDULE_FIELD}: a NOW schedule needs DataAnalysisStartTime and "
                              "DataAnalysisEndTime (for example -PT1H and -PT0H: the hour before now).")
    offsets = check_window(stored, job)
    return CheckedConfig(stored, job, expression, offsets)


def job_of(services: Services, r: Resource) -> MonitoringJob:
    """What an execution of this schedule runs now (a named definition is read at each fire, as on AWS)."""
    config = r.doc["MonitoringScheduleConfig"]
    if config.get("MonitoringJobDefinitionName"):
        mtype = config.get("MonitoringType") or DATA_QUALITY
        return MonitoringJob.from_definition(mtype, definitions.get(services, mtype,
                                                                    config["MonitoringJobDefinitionName"]).doc)
    return MonitoringJob.from_inline(config["MonitoringJobDefinition"])


def expression_of(r: Resource) -> ScheduleExpression:
    schedule = r.doc["MonitoringScheduleConfig"].get("ScheduleConfig") or {}
    return parse_schedule_expression(schedule.get("ScheduleExpression") or DAILY_DEFAULT)


def check_window(config: dict[str, Any], job: MonitoringJob) -> tuple[float, float]:
    """The analysis window's (start, end) offsets: ScheduleConfig's DataAnalysisStartTime/EndTime, else the
    EndpointInput's StartTimeOffset/EndTimeOffset (model quality), else the hour before the scheduled time."""
    schedule = config.get("ScheduleConfig") or {}
    start, end = schedule.get("DataAnalysisStartTime"), schedule.get("DataAnalysisEndTime")
    if start is None and end is None:
        start = job.endpoint_input.get("StartTimeOffset")
        end = job.endpoint_input.get("EndTimeOffset")
    return analysis_window(start or DEFAULT_START, end or DEFAULT_END, f"{_SCHEDULE_FIELD}.DataAnalysisStartTime",
                           f"{_SCHEDULE_FIELD}.DataAnalysisEndTime")


# ------------------------------------------------------------------ operations
def create(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    name = params["MonitoringScheduleName"]
    checked = check_config(services, dict(params["MonitoringScheduleConfig"]))
    monitoring_events.check_retrain_tags(services, params.get("Tags"))
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {
        "MonitoringScheduleArn": arn, "MonitoringScheduleName": name,
        "MonitoringScheduleConfig": checked.config, "MonitoringType": checked.job.monitoring_type,
        "EndpointName": checked.job.endpoint_name,
    }
    state = ScheduleState(definition=(checked.job.definition_name or "").lower() or None,
                          tags=list(params["Tags"]) if params.get("Tags") else None)
    doc.update(state.to_doc())
    try:
        services.meta.create(KIND, name, arn, "Pending", stamp(doc))
    except ResourceInUse:
        raise ResourceInUse(f"Monitoring schedule {name!r} already exists; choose another MonitoringScheduleName "
                            "or update the existing one (UpdateMonitoringSchedule).") from None
    services.wake(KIND)
    return {"MonitoringScheduleArn": arn}


def update(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """UpdateMonitoringSchedule: a new config (checked as at create); the schedule is Pending until the
    controller schedules it again. A stopped schedule stays Stopped."""
    r = get(services, params["MonitoringScheduleName"])
    checked = check_config(services, dict(params["MonitoringScheduleConfig"]))
    definition = (checked.job.definition_name or "").lower() or None
    changes = {"MonitoringScheduleConfig": checked.config, "MonitoringType": checked.job.monitoring_type,
               "EndpointName": checked.job.endpoint_name,
               **ScheduleState().changes(definition=definition, next_fire=None, fired_once=None)}
    status = "Stopped" if r.status == "Stopped" else "Pending"
    services.meta.update(KIND, r.name, changes, status=status)
    services.wake(KIND)
    return {"MonitoringScheduleArn": r.arn}


def describe(services: Services, name: str) -> dict[str, Any]:
    r = get(services, name)
    out = public(r.doc)
    out.update(MonitoringScheduleStatus=r.status, CreationTime=r.created, LastModifiedTime=r.modified)
    last = executions.latest(services, r.arn)
    if last is not None:
        out["LastMonitoringExecutionSummary"] = executions.summary(last)
    return out


def summary(r: Resource) -> dict[str, Any]:
    item = {"MonitoringScheduleName": r.name, "MonitoringScheduleArn": r.arn, "CreationTime": r.created,
            "LastModifiedTime": r.modified, "MonitoringScheduleStatus": r.status,
            "EndpointName": r.doc.get("EndpointName", ""), "MonitoringType": r.doc.get("MonitoringType")}
    named = (r.doc.get("MonitoringScheduleConfig") or {}).get("MonitoringJobDefinitionName")
    if named:
        item["MonitoringJobDefinitionName"] = named
    return item


def list_schedules(services: Services, params: dict[str, Any]) -> dict[str, Any]:
    """ListMonitoringSchedules with its filters (EndpointName, MonitoringJobDefinitionName,
    MonitoringTypeEquals, StatusEquals, NameContains, the time windows), sort and paging."""
    doc_equals: dict[str, Any] = {}
    if params.get("EndpointName"):
        doc_equals["EndpointName"] = params["EndpointName"]
    if params.get("MonitoringJobDefinitionName"):
        doc_equals["_definition"] = params["MonitoringJobDefinitionName"].lower()
    if params.get("MonitoringTypeEquals"):
        doc_equals["MonitoringType"] = params["MonitoringTypeEquals"]
    return list_page(services, KIND, params, "MonitoringScheduleSummaries", summary, doc_equals=doc_equals)


def stop(services: Services, name: str) -> None:
    """StopMonitoringSchedule: no further executions (running ones finish); stopping a Stopped one is a no-op."""
    r = get(services, name)
    if r.status == "Stopped":
        return
    if r.status not in ACTIVE:
        raise ValidationError(f"Monitoring schedule {r.name} is {r.status}: only a Pending or Scheduled schedule "
                              "can be stopped.")
    try:
        services.meta.update(KIND, r.name, ScheduleState().changes(next_fire=None), status="Stopped",
                             expect_status=set(ACTIVE))
    except ConflictError:
        stop(services, name)


def start(services: Services, name: str) -> None:
    """StartMonitoringSchedule: a Stopped schedule is scheduled again (Pending until the controller takes it)."""
    r = get(services, name)
    if r.status in ACTIVE:
        return
    if r.status != "Stopped":
        raise ValidationError(f"Monitoring schedule {r.name} is {r.status}: only a Stopped schedule can be "
                              "started; update it (UpdateMonitoringSchedule) to fix it.")
    services.meta.update(KIND, r.name, ScheduleState().changes(next_fire=None), status="Pending",
                         expect_status={"Stopped"})
    services.wake(KIND)


def delete(services: Services, name: str) -> None:
    """DeleteMonitoringSchedule: the schedule and its execution records go (running processing jobs finish)."""
    r = get(services, name)
    executions.delete_of(services, r.arn)
    services.meta.delete(KIND, r.name)


def check_tags(services: Services, r: Resource, tags: list[dict[str, Any]]) -> None:
    """AddTags on a schedule: the tags it would have after, checked as at create (the retrain option)."""
    merged = {t["Key"]: t.get("Value", "") for t in ScheduleState.from_doc(r.doc).tags or []}
    merged.update({t["Key"]: t.get("Value", "") for t in tags})
    monitoring_events.check_retrain_tags(services, [{"Key": k, "Value": v} for k, v in merged.items()])


# ------------------------------------------------------------------ the controller's decisions
def fire_now_setting(services: Services) -> bool:
    extra = getattr(services.settings, "extra", {}) or {}
    value = extra.get("monitor_fire_now", os.environ.get(FIRE_NOW_ENV, ""))
    return str(value).lower() in ("1", "true", "yes", "on")


def activate(services: Services, r: Resource, now: float) -> None:
    """Pending -> Scheduled with its first fire time (``Failed`` when its endpoint has gone)."""
    try:
        expression = expression_of(r)
        job = job_of(services, r)
        if not job.is_batch and services.meta.find("endpoint", job.endpoint_name) is None:
            raise ValidationError(f"the monitored endpoint {job.endpoint_name!r} no longer exists")
    except (ValidationError, ResourceNotFound) as e:
        services.meta.update(KIND, r.name, {"FailureReason": str(e.message or e)[:1024]}, status="Failed",
                             expect_status={"Pending"})
        return
    first: float | None = now if expression.is_now or fire_now_setting(services) else expression.next_after(now)
    services.meta.update(KIND, r.name, {"FailureReason": None, **ScheduleState().changes(next_fire=first)},
                         status="Scheduled", expect_status={"Pending"})


def due(r: Resource, now: float) -> bool:
    state = ScheduleState.from_doc(r.doc)
    return (r.status == "Scheduled" and state.next_fire is not None and state.next_fire <= now
            and not state.fired_once)


def fire_due(services: Services, r: Resource, now: float) -> Resource | None:
    """Fire a due schedule once: record the execution (Pending; the controller starts its processing job),
    then move the next fire time past ``now``. Returns the execution record (None if not due)."""
    if not due(r, now):
        return None
    state = ScheduleState.from_doc(r.doc)
    assert state.next_fire is not None
    expression = expression_of(r)
    scheduled = state.next_fire
    if not expression.is_now:
        latest = expression.last_at_or_before(now)
        scheduled = max(scheduled, latest) if latest is not None else scheduled
    job = job_of(services, r)
    start, end = check_window(r.doc["MonitoringScheduleConfig"], job)
    record = executions.record(services, r, job, scheduled, scheduled + start, scheduled + end)
    if expression.is_now:
        changes = ScheduleState().changes(fired_once=True, next_fire=None)
    else:
        changes = ScheduleState().changes(next_fire=expression.next_after(now))
    try:
        services.meta.update(KIND, r.name, changes, expect_status={"Scheduled"}, expect_version=r.version)
    except ConflictError:
        pass  # stopped, updated or fired meanwhile: the next tick reads it again
    return record


def active(services: Services) -> list[Resource]:
    return services.meta.list_in_status(KIND, ACTIVE)


__all__ = ["KIND", "NOW", "ScheduleState", "create", "update", "describe", "list_schedules", "stop", "start",
           "delete", "activate", "fire_due", "due", "active", "get", "job_of", "check_config", "check_tags"]
