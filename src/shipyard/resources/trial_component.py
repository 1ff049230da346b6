"""The trial component resource: one run, or one job's record (``<job>-aws-training-job``), in an experiment.

It holds parameters, input/output artifacts, a status and times, and metric summaries computed on Describe from
the stored metric series: the component's own (``BatchPutMetrics``, the SDK's ``run.log_metric``) and, for a
job's component, the job's series. So that Search can filter and sort on ``Metrics.<name>.<stat>`` (the SDK's
ExperimentAnalytics sorts by metrics), the document also carries a ``Metrics`` list for the index: running
tallies of the component's own series (:class:`MetricTally`, merged per BatchPutMetrics batch with
compare-and-set) and, once its job ends, the job's final summaries. Describe still reads the series.

Trials and components are many-to-many: associating writes both documents (compare-and-set), so each side
lists the other without a scan. As on AWS, a component must be disassociated from its trials before it is
deleted.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Callable

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
# Document keys of the searchable summaries: running tallies of the component's own series (private), the job's
# final summaries (private, written when the job ends) and the public ``Metrics`` list the index reads.
_TALLIES_KEY = "_metric_tallies"
_JOB_METRICS_KEY = "_job_metrics"
_METRICS_KEY = "Metrics"


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
    out.pop(_METRICS_KEY, None)  # the index's copy; Describe answers from the series, exactly
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
    if points:
        _merge_tallies(services, component, points)
    return errors


@dataclass
class MetricTally:
    """A running summary of one metric's series, mergeable batch by batch (Chan's parallel mean/variance), so
    that a BatchPutMetrics call updates the searchable summary without reading the series back. "Last" is
    the value with the latest timestamp, the later-merged point winning a tie, as in :meth:`MetricSummary.of`."""

    count: int
    mean: float
    m2: float  # sum of squared deviations from the mean
    min: float
    max: float
    last: float
    last_ts: float

    @classmethod
    def of_points(cls, points: list[tuple[float, float]]) -> MetricTally:
        values = [v for v, _ in points]
        mean = sum(values) / len(values)
        last, last_ts = points[0]
        for value, stamp in points[1:]:
            if stamp >= last_ts:
                last, last_ts = value, stamp
        return cls(count=len(values), mean=mean, m2=sum((v - mean) ** 2 for v in values), min=min(values),
                   max=max(values), last=last, last_ts=last_ts)

    @classmethod
    def from_doc(cls, stored: list[float]) -> MetricTally:
        count, mean, m2, low, high, last, last_ts = stored
        return cls(int(count), mean, m2, low, high, last, last_ts)

    def to_doc(self) -> list[float]:
        return [self.count, self.mean, self.m2, self.min, self.max, self.last, self.last_ts]

    def merged(self, other: MetricTally) -> MetricTally:
        """This tally followed by ``other`` (merged later)."""
        n = self.count + other.count
        delta = other.mean - self.mean
        later = other.last_ts >= self.last_ts
        return MetricTally(count=n, mean=self.mean + delta * other.count / n,
                           m2=self.m2 + other.m2 + delta * delta * self.count * other.count / n,
                           min=min(self.min, other.min), max=max(self.max, other.max),
                           last=other.last if later else self.last, last_ts=max(self.last_ts, other.last_ts))

    def summary(self, name: str, source_arn: str) -> MetricSummary:
        std_dev = (max(self.m2, 0.0) / (self.count - 1)) ** 0.5 if self.count > 1 else 0.0
        return MetricSummary(name=name, source_arn=source_arn, timestamp=self.last_ts, max=self.max, min=self.min,
                             last=self.last, count=self.count, avg=self.mean, std_dev=std_dev)


def _searchable_metrics(resource_arn: str, tallies: dict[str, list[float]], job_metrics: list[dict]) -> list[dict]:
    """The public ``Metrics`` list the search index reads: own tallies, then the job's final summaries."""
    own = [MetricTally.from_doc(t).summary(name, resource_arn).to_wire() for name, t in tallies.items()]
    return own + job_metrics


def _write_summaries(services: Services, read: Resource, change: Callable[[Resource], dict[str, Any]]) -> None:
    """Apply ``change(resource) -> changes`` to the component with compare-and-set, starting from ``read`` (the
    caller's copy: no second read when nobody wrote meanwhile) and re-reading on conflict (concurrent
    BatchPutMetrics callers, associations, the job's end)."""
    r: Resource | None = read
    for _ in range(_CAS_TRIES):
        r = r or get(services, read.name)
        try:
            services.meta.update(KIND, r.name, change(r), expect_version=r.version)
            return
        except ConflictError:
            r = None
            time.sleep(0.001)
        except MissingResource:
            return  # deleted meanwhile: nothing to summarise
    raise ConflictError(f"Trial component {read.name!r} is being changed by many callers at once; retry.")


def _merge_tallies(services: Services, component: Resource, points: list[tuple[str, float, float, int]]) -> None:
    by_name: dict[str, list[tuple[float, float]]] = {}
    for metric, value, stamp, _step in points:
        by_name.setdefault(metric, []).append((value, stamp))
    batch = {metric: MetricTally.of_points(series) for metric, series in by_name.items()}

    def change(r: Resource) -> dict[str, Any]:
        tallies = dict(r.doc.get(_TALLIES_KEY) or {})
        for metric, tally in batch.items():
            old = tallies.get(metric)
            tallies[metric] = (MetricTally.from_doc(old).merged(tally) if old else tally).to_doc()
        return {_TALLIES_KEY: tallies,
                _METRICS_KEY: _searchable_metrics(r.arn, tallies, list(r.doc.get(_JOB_METRICS_KEY) or []))}

    _write_summaries(services, component, change)


def record_job_metrics(services: Services, component_name: str) -> None:
    """Write the final summaries of the component's job series (``metrics_job``) into its searchable
    ``Metrics``: called when the job ends (:mod:`shipyard.experiments.tracking`), after its last point."""
    component = get(services, component_name)
    job = ComponentState.of(component.doc).metrics_job
    if not job:
        return
    source_arn = (component.doc.get("Source") or {}).get("SourceArn", component.arn)
    series: dict[str, list[tuple[float, float]]] = {}
    for name, value, stamp, _step in services.meta.get_metrics(job):
        series.setdefault(name, []).append((value, stamp))
    job_metrics = [MetricSummary.of(name, source_arn, points).to_wire() for name, points in series.items()]

    def change(r: Resource) -> dict[str, Any]:
        return {_JOB_METRICS_KEY: job_metrics,
                _METRICS_KEY: _searchable_metrics(r.arn, dict(r.doc.get(_TALLIES_KEY) or {}), job_metrics)}

    _write_summaries(services, component, change)


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
