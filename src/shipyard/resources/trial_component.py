"""The trial component resource: one run, or one job's record (``<job>-aws-training-job``), in an experiment.

It holds parameters, input/output artifacts, a status and times, and metric summaries computed on Describe from
the stored metric series: the component's own (``BatchPutMetrics``, the SDK's ``run.log_metric``) and, for a
job's component, the job's series. Trials and components are many-to-many: associating writes both documents
(compare-and-set), so each side lists the other without a scan. As on AWS, a component must be disassociated
from its trials before it is deleted.
"""

from __future__ import annotations

import math
import time
from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..domain.experiment_state import (MAX_ARTIFACTS, MAX_PARAMETERS, PRIMARY_STATUSES, ComponentState,
                                       MetricSummary, metric_key)
from ..errors import ConflictError, MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import Resource
from . import experiment, trial

KIND = "experiment-trial-component"
_CAS_TRIES = 200
# BatchPutMetrics accepts points stamped from two weeks before to two hours after now (the SDK's rule).
_PAST_LIMIT_S = 14 * 24 * 3600
_FUTURE_LIMIT_S = 2 * 3600
_TIME_FIELDS = ("StartTime", "EndTime")


def get(services: Services, name_or_arn: str) -> Resource:
    name = name_from(name_or_arn)
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise ResourceNotFound(f"Trial component {name!r} does not exist: create it with CreateTrialComponent "
                               "first.") from None


def _check_status(status: dict | None) -> None:
    if status and status.get("PrimaryStatus") and status["PrimaryStatus"] not in PRIMARY_STATUSES:
        raise ValidationError(f"Status.PrimaryStatus must be one of {', '.join(PRIMARY_STATUSES)}; got "
                              f"{status['PrimaryStatus']!r}.")


def _check_parameters(parameters: dict) -> None:
    if len(parameters) > MAX_PARAMETERS:
        raise ValidationError(f"Parameters holds {len(parameters)} entries; at most {MAX_PARAMETERS} are allowed.")
    for name, value in parameters.items():
        if not isinstance(value, dict) or len([k for k in ("StringValue", "NumberValue") if k in value]) != 1:
            raise ValidationError(f"Parameters.{name} must have exactly one of StringValue or NumberValue.")
        number = value.get("NumberValue")
        if number is not None and not math.isfinite(float(number)):
            raise ValidationError(f"Parameters.{name}.NumberValue must be a finite number.")


def _check_artifacts(field_name: str, artifacts: dict) -> None:
    if len(artifacts) > MAX_ARTIFACTS:
        raise ValidationError(f"{field_name} holds {len(artifacts)} entries; at most {MAX_ARTIFACTS} are allowed.")


def create(services: Services, params: dict, source: dict | None = None, metrics_job: str = "") -> dict:
    """CreateTrialComponent; ``source`` ({SourceArn, SourceType}) and ``metrics_job`` are set for a job's
    component by :mod:`shipyard.experiments.tracking`, never by a request."""
    name = params["TrialComponentName"]
    _check_status(params.get("Status"))
    _check_parameters(params.get("Parameters") or {})
    for key in ("InputArtifacts", "OutputArtifacts"):
        _check_artifacts(key, params.get(key) or {})
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {"TrialComponentName": name, "TrialComponentArn": arn,
                           "DisplayName": params.get("DisplayName") or name, "CreatedBy": {}, "LastModifiedBy": {}}
    for key in ("Status", "StartTime", "EndTime", "Parameters", "InputArtifacts", "OutputArtifacts",
                "MetadataProperties"):
        if params.get(key) is not None:
            doc[key] = params[key]
    if source:
        doc["Source"] = source
    state = ComponentState(metrics_job=metrics_job, source_arn=(source or {}).get("SourceArn", "").lower(),
                           tags=list(params["Tags"]) if params.get("Tags") else None)
    doc.update(state.to_doc())
    status = (params.get("Status") or {}).get("PrimaryStatus") or ""
    try:
        services.meta.create(KIND, name, arn, status, doc)
    except ResourceInUse:
        raise ValidationError(f"Trial component {name!r} already exists ({arn}): pick another name or use "
                              "DescribeTrialComponent.") from None
    return {"TrialComponentArn": arn}


def metric_summaries(services: Services, resource: Resource) -> list[MetricSummary]:
    """One summary per metric name: the component's own series, then its job's (SourceArn = the job)."""
    state = ComponentState.of(resource.doc)
    sources = [(metric_key(resource.name), resource.arn)]
    if state.metrics_job:
        sources.append((state.metrics_job, (resource.doc.get("Source") or {}).get("SourceArn", resource.arn)))
    out: list[MetricSummary] = []
    for key, source_arn in sources:
        series: dict[str, list[tuple[float, float]]] = {}
        for name, value, stamp, _step in services.meta.get_metrics(key):
            series.setdefault(name, []).append((value, stamp))
        out.extend(MetricSummary.of(name, source_arn, points) for name, points in series.items())
    return out


def describe(services: Services, resource: Resource) -> dict:
    out = experiment.public(resource.doc)
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    metrics = metric_summaries(services, resource)
    if metrics:
        out["Metrics"] = [m.to_wire() for m in metrics]
    if "Source" in out:
        out["Sources"] = [out["Source"]]
    return out


def summary(resource: Resource) -> dict:
    d = experiment.public(resource.doc)
    out: dict[str, Any] = {k: d[k] for k in ("TrialComponentName", "TrialComponentArn", "DisplayName", "Status",
                                             "StartTime", "EndTime", "CreatedBy", "LastModifiedBy") if k in d}
    if "Source" in d:
        out["TrialComponentSource"] = d["Source"]
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    return out


def trials_of(resource: Resource) -> list[str]:
    return ComponentState.of(resource.doc).trials


def in_experiment(services: Services, experiment_name: str) -> list[Resource]:
    """Every component associated with a trial of the experiment (each once)."""
    exp = experiment.get(services, experiment_name)
    names: list[str] = []
    for t in experiment.all_of(services, trial.KIND, parent=exp.name.lower()):
        names.extend(n for n in trial.components_of(t) if n not in names)
    return [r for r in (services.meta.find(KIND, n) for n in names) if r is not None]


def list_components(services: Services, params: dict) -> dict:
    given = [k for k in ("ExperimentName", "TrialName", "SourceArn") if params.get(k)]
    if len(given) > 1:
        raise ValidationError(f"Give at most one of ExperimentName, TrialName and SourceArn; got {', '.join(given)}.")
    if params.get("ExperimentName"):
        found = in_experiment(services, params["ExperimentName"])
    elif params.get("TrialName"):
        t = trial.get(services, params["TrialName"])
        found = [r for r in (services.meta.find(KIND, n) for n in trial.components_of(t)) if r is not None]
    elif params.get("SourceArn"):
        found = experiment.all_of(services, KIND, doc_equals={"_source_arn": params["SourceArn"].lower()})
    else:
        page = services.meta.list(KIND, experiment.list_query(params))
        out: dict[str, Any] = {"TrialComponentSummaries": [summary(r) for r in page.items]}
        if page.next_token:
            out["NextToken"] = page.next_token
        return out
    return experiment.page_of(found, params, "TrialComponentSummaries", summary)


def update(services: Services, params: dict) -> dict:
    r = get(services, params["TrialComponentName"])
    _check_status(params.get("Status"))
    changes: dict[str, Any] = {}
    for key in ("DisplayName", "Status", *_TIME_FIELDS):
        if key in params:
            changes[key] = params[key]
    for key in ("Parameters", "InputArtifacts", "OutputArtifacts"):
        merged = dict(r.doc.get(key) or {})
        overlap = set(params.get(key) or {}) & set(params.get(f"{key}ToRemove") or [])
        if overlap:
            raise ValidationError(f"{key} and {key}ToRemove both name {sorted(overlap)[0]!r}: name it in one.")
        merged.update(params.get(key) or {})
        for gone in params.get(f"{key}ToRemove") or []:
            merged.pop(gone, None)
        if key in params or f"{key}ToRemove" in params:
            if key == "Parameters":
                _check_parameters(merged)
            else:
                _check_artifacts(key, merged)
            changes[key] = merged
    status = (changes.get("Status") or {}).get("PrimaryStatus")
    services.meta.update(KIND, r.name, changes, status=status or None)
    return {"TrialComponentArn": r.arn}


def delete(services: Services, name: str) -> dict:
    r = get(services, name)
    held = trials_of(r)
    if held:
        raise ValidationError(f"Trial component {r.name!r} is associated with trial {held[0]!r}: disassociate it "
                              "(DisassociateTrialComponent) before deleting it.")
    services.meta.delete_associations_of(r.arn)  # its lineage edges (ContributedTo, Produced) go with it
    try:
        services.meta.delete(KIND, r.name)
    except MissingResource:
        pass
    return {"TrialComponentArn": r.arn}


def _set_trial(services: Services, component: str, trial_name: str, present: bool) -> Resource:
    key = trial_name.lower()
    for _ in range(_CAS_TRIES):
        r = get(services, component)
        state = ComponentState.of(r.doc)
        if (key in state.trials) == present:
            return r
        members = state.trials + [key] if present else [t for t in state.trials if t != key]
        try:
            return services.meta.update(KIND, r.name, state.changes(trials=members), expect_version=r.version)
        except ConflictError:
            time.sleep(0.001)
        except MissingResource:
            break
    get(services, component)
    raise ConflictError(f"Trial component {component!r} is being changed by many callers at once; retry.")


def associate(services: Services, component_name: str, trial_name: str) -> dict:
    component = get(services, component_name)
    t = trial.get(services, trial_name)
    trial.set_component(services, t.name, component.name, present=True)
    _set_trial(services, component.name, t.name, present=True)
    return {"TrialComponentArn": component.arn, "TrialArn": t.arn}


def disassociate(services: Services, component_name: str, trial_name: str) -> dict:
    component = get(services, component_name)
    t = trial.get(services, trial_name)
    if t.name.lower() not in trials_of(component):
        raise ResourceNotFound(f"Trial component {component.name!r} is not associated with trial {t.name!r}.")
    trial.set_component(services, t.name, component.name, present=False)
    _set_trial(services, component.name, t.name, present=False)
    return {"TrialComponentArn": component.arn, "TrialArn": t.arn}


def parents(services: Services, resource: Resource) -> list[dict[str, str]]:
    """Search's ``Parents`` of a component: ``[{TrialName, ExperimentName}]`` per associated trial."""
    out = []
    for name in trials_of(resource):
        t = services.meta.find(trial.KIND, name)
        if t is not None:
            out.append({"TrialName": t.name, "ExperimentName": str(t.doc.get("ExperimentName", ""))})
    return out


def put_metrics(services: Services, component_name: str, data: list[dict]) -> list[dict]:
    """BatchPutMetrics: store the valid points in the component's series; return the Errors of the others."""
    component = get(services, component_name)
    now = time.time()
    points: list[tuple[str, float, float, int]] = []
    errors: list[dict] = []
    for index, item in enumerate(data):
        value, stamp, step = float(item["Value"]), float(item["Timestamp"]), int(item.get("Step") or 0)
        if not math.isfinite(value) or step < 0 or not now - _PAST_LIMIT_S <= stamp <= now + _FUTURE_LIMIT_S:
            errors.append({"Code": "VALIDATION_ERROR", "MetricIndex": index})
            continue
        points.append((item["MetricName"], value, stamp, step))
    services.meta.append_metrics(metric_key(component.name), points)
    return errors


_PERIODS = {"OneMinute": 60, "FiveMinute": 300, "OneHour": 3600}


def _series_of(services: Services, arn: str, metric: str) -> list[tuple[float, float, int]] | None:
    """(value, timestamp, step) of one metric of a trial component or training job ARN; None if unknown."""
    kind = arn.split(":", 5)[-1].split("/", 1)[0] if arn.count(":") >= 5 else ""
    name = name_from(arn)
    keys: list[str] = []
    if kind == KIND:
        found = services.meta.find(KIND, name)
        if found is None:
            return None
        keys.append(metric_key(found.name))
        if ComponentState.of(found.doc).metrics_job:
            keys.append(ComponentState.of(found.doc).metrics_job)
    elif kind == "training-job":
        job = services.meta.find("training-job", name)
        if job is None:
            return None
        keys.append(job.name)
    else:
        return None
    return [(v, t, s) for key in keys for _, v, t, s in services.meta.get_metrics(key, metric)]


def _stat(stat: str, values: list[float]) -> float:
    if stat == "Count":
        return float(len(values))
    summary = MetricSummary.of("", "", [(v, float(i)) for i, v in enumerate(values)])
    return {"StdDev": summary.std_dev, "Min": summary.min, "Max": summary.max, "Avg": summary.avg,
            "Last": summary.last}[stat]


def query_metrics(services: Services, query: dict) -> dict:
    """One BatchGetMetrics query: the metric's values aggregated per step (XAxisType IterationNumber) or per
    Period of time (XAxisType Timestamp: x is the period's start, epoch seconds). A query the server cannot
    answer says why in its own result, as the model's per-query Status does."""
    series = _series_of(services, query["ResourceArn"], query["MetricName"])
    if series is None:
        return {"Status": "ValidationError", "XAxisValues": [], "MetricValues": [],
                "Message": f"{query['ResourceArn']} is not a trial component or training job this server knows."}
    start, end = query.get("Start"), query.get("End")
    period = _PERIODS.get(query["Period"], 1)
    groups: dict[int, list[float]] = {}
    for value, stamp, step in sorted(series, key=lambda p: (p[1], p[2])):
        if (start is not None and stamp < start) or (end is not None and stamp > end):
            continue
        x = step if query["XAxisType"] == "IterationNumber" else int(stamp // period * period)
        groups.setdefault(x, []).append(value)
    xs = sorted(groups)
    return {"Status": "Complete", "XAxisValues": xs, "MetricValues": [_stat(query["MetricStat"], groups[x])
                                                                      for x in xs]}
