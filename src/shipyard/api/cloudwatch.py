"""The CloudWatch metrics subset SageMaker clients use: GetMetricStatistics, GetMetricData, ListMetrics, PutMetricData.

SageMaker publishes a training job's metric-definition matches to namespace ``/aws/sagemaker/TrainingJobs``
with dimension ``TrainingJobName``; the SageMaker SDK's ``TrainingJobAnalytics`` (``estimator
.training_job_analytics``) reads them back with GetMetricStatistics (statistic Average, period 60). Here the
points are the ones the training controller already records in the metadata store
(``MetaStore.get_metrics``), so nothing is stored twice.

SageMaker publishes endpoint metrics to namespace ``AWS/SageMaker`` with dimensions EndpointName and
VariantName (both, exactly; a shadow variant under its own name): Invocations, InvocationsPerInstance,
Invocation4XXErrors, Invocation5XXErrors (unit None) and ModelLatency, OverheadLatency (unit Microseconds).
Here they come from the router's per-variant :class:`~shipyard.serving.metrics.Series` (same process:
``services.router``), kept in memory: a server restart starts them afresh. As on AWS every request
is one sample: Invocations 1; Invocation4XXErrors/5XXErrors 1 or 0 (their Average is the error rate);
InvocationsPerInstance 1/the variant's instance count; the latencies in microseconds. All five statistics
are served; a percentile only where CloudWatch can give one from such aggregated samples (all samples of the
period equal, e.g. Invocations). A Unit that is not the metric's own selects no data, as on AWS. Shipyard keeps
the last hour by the second (so a Period under a minute works on them; AWS stores these metrics by the minute)
and the 15 days before by the minute.

PutMetricData (custom namespaces: a Model Monitor job's per-feature metrics, which the processing executor
publishes with the job's key, or a user's own) keeps its series in the metadata store
(:mod:`shipyard.resources.custom_metrics`): a server restart loses none. Other
namespaces exist but hold no data (CloudWatch answers an unknown metric with no data points, not an error).

Aggregation follows CloudWatch: one data point per period that holds data (none for an empty period), its
Timestamp the period's start. Periods start at the start time rounded down, then every ``Period`` seconds:
for a period of a minute or more the start is rounded down to the whole minute (12:32:34 -> 12:32:00); for a
high-resolution period (1, 5, 10 or 30 s) to a whole multiple of the period within the minute (01:05:23 ->
01:05:20 for 10 s), so every Timestamp falls on a period boundary. At most 1,440 data points per request.
A job's points carry the time its log line was read, so a short Period (``TrainingJobAnalytics(job,
period=5)``) shows the curve of a job shorter than a minute; the SDK's default of 60 s gives one point per
minute, as on AWS. botocore sends these calls in the Smithy RPC v2 CBOR
protocol (:mod:`shipyard.wire.rpcv2`); the handlers here see plain dicts with float-second timestamps.
"""

from __future__ import annotations

import math
import re
import time
from typing import Any

from ..errors import ShipyardError
from ..metastore.base import ListQuery
from ..resources import custom_metrics
from ..serving import metrics as M
from ..usage import metrics as usage_metrics
from ..usage.prices import load_table
from .registry import operation

TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
JOB_DIMENSION = "TrainingJobName"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
ENDPOINT_DIMENSIONS = ("EndpointName", "VariantName")
MAX_DATAPOINTS = 1440
BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")
MAX_JOBS_SCANNED = 10000
MAX_PUT = 1000                    # PutMetricData's limit on MetricData items per request


def _invalid(message: str) -> ShipyardError:
    return ShipyardError(message, code="InvalidParameterValue", http_status=400)


def _combination(message: str) -> ShipyardError:
    return ShipyardError(message, code="InvalidParameterCombination", http_status=400)


# A sample set is CloudWatch's StatisticSet: (SampleCount, Sum, Minimum, Maximum).
StatSet = tuple[float, float, float, float]


def _count_of(i: int):
    def stat(b: list) -> StatSet:  # 1 for a request that got that answer, 0 for the others
        n, k = b[M.N], b[i]
        return float(n), float(k), 0.0 if k < n else 1.0, 1.0 if k else 0.0
    return stat


def _values_of(i: int, scale: float):
    def stat(b: list) -> StatSet:
        return float(b[M.N]), b[i] * scale, b[i + 1] * scale, b[i + 2] * scale
    return stat


# metric name -> (unit, bucket -> sample set)
ENDPOINT_METRICS = {
    "Invocations": ("None", lambda b: (float(b[M.N]), float(b[M.N]), 1.0, 1.0)),
    "InvocationsPerInstance": ("None", _values_of(M.PI, 1.0)),
    "Invocation4XXErrors": ("None", _count_of(M.N4XX)),
    "Invocation5XXErrors": ("None", _count_of(M.N5XX)),
    "ModelLatency": ("Microseconds", _values_of(M.MODEL, 1e6)),
    "OverheadLatency": ("Microseconds", _values_of(M.OVERHEAD, 1e6)),
}


def _job_of(namespace: str, dimensions: list[dict]) -> str | None:
    """The training job a (namespace, dimensions) pair selects, or None if it selects no stored series."""
    if namespace != TRAINING_NAMESPACE:
        return None
    dims = {d.get("Name"): d.get("Value") for d in dimensions or []}
    if set(dims) != {JOB_DIMENSION} or not dims[JOB_DIMENSION]:
        return None
    return dims[JOB_DIMENSION]


def _variant_series(services, namespace: str, dimensions: list[dict]):
    """The endpoint variant's Series a (namespace, dimensions) pair selects, or None."""
    if namespace != SAGEMAKER_NAMESPACE:
        return None
    dims = {d.get("Name"): d.get("Value") for d in dimensions or []}
    if len(dimensions or []) != 2 or set(dims) != set(ENDPOINT_DIMENSIONS) or not all(dims.values()):
        return None
    return services.router.metrics.series(dims["EndpointName"], dims["VariantName"])


def _points(services, namespace: str, metric: str, dimensions: list[dict], start: float, end: float,
            unit: str | None = None) -> tuple[str, list[tuple[float, StatSet]]]:
    """The series' unit and its (timestamp, sample set) points within [start, end) (for a minute bucket of
    older data: overlapping it, stamped no earlier than ``start``). No points when ``unit`` is given and is
    not the metric's (a training metric takes any unit: its points were recorded without one)."""
    if namespace == SAGEMAKER_NAMESPACE:
        spec = ENDPOINT_METRICS.get(metric)
        series = _variant_series(services, namespace, dimensions) if spec else None
        if spec is None or series is None:
            return unit or "None", []
        own, stat = spec
        if unit not in (None, own):
            return unit, []
        secs, mins = series.buckets()
        out = [(float(ts), stat(b)) for ts, b in secs.items() if start <= ts < end and b[M.N] > 0]
        out += [(max(float(ts), start), stat(b)) for ts, b in mins.items()
                if ts + 60 > start and ts < end and b[M.N] > 0]
        return own, sorted(out)
    if namespace == usage_metrics.NAMESPACE:  # derived from the usage intervals (shipyard.usage.metrics)
        return usage_metrics.points(services.meta, metric, dimensions, start, end, unit, time.time(),
                                    load_table(services.settings.home))
    job = _job_of(namespace, dimensions)
    if job is None:
        return _custom_points(services, namespace, metric, dimensions, start, end, unit)
    return unit or "None", sorted((ts, (1.0, value, value, value))
                                  for _, value, ts, _ in services.meta.get_metrics(job, metric)
                                  if start <= ts < end and math.isfinite(value))


def _aligned_start(start: float, period: int) -> float:
    """The start of the first period: the start time rounded down to the minute, or for a high-resolution
    period (under a minute, which divides 60) to a multiple of the period."""
    step = period if period < 60 else 60
    return math.floor(start / step) * step


def _check_window(start: float, end: float, period: int, n_series: int = 1) -> None:
    if period <= 0 or (period >= 60 and period % 60) or (period < 60 and period not in (1, 5, 10, 30)):
        raise _invalid(f"The parameter Period must be 1, 5, 10, 30 or a multiple of 60; got {period}.")
    if end <= start:
        raise _invalid("The parameter StartTime must be less than the parameter EndTime.")
    n = math.ceil((end - _aligned_start(start, period)) / period) * n_series
    if n > MAX_DATAPOINTS:
        raise _combination(f"You have requested up to {n} datapoints, which exceeds the limit of "
                           f"{MAX_DATAPOINTS}. You may reduce the datapoints requested by increasing Period, "
                           "or decreasing the time range.")


def _buckets(points: list[tuple[float, StatSet]], start: float, period: int) -> dict[float, list[StatSet]]:
    origin = _aligned_start(start, period)
    out: dict[float, list[StatSet]] = {}
    for ts, sample in points:
        out.setdefault(origin + math.floor((ts - origin) / period) * period, []).append(sample)
    return out


def _check_statistic(stat: str) -> None:
    if stat not in BASIC and not _PERCENTILE.match(stat):
        raise _invalid(f"The statistic {stat!r} is not supported; use {', '.join(BASIC)} or a percentile pNN.")


def _statistic(sets: list[StatSet], stat: str) -> float | None:
    """One statistic of a period's sample sets; None for a percentile CloudWatch cannot give (it can when
    every set's samples are equal: Minimum == Maximum, as for single samples)."""
    if stat == "SampleCount":
        return float(sum(s[0] for s in sets))
    if stat == "Sum":
        return float(sum(s[1] for s in sets))
    if stat == "Average":
        return float(sum(s[1] for s in sets) / sum(s[0] for s in sets))
    if stat == "Minimum":
        return float(min(s[2] for s in sets))
    if stat == "Maximum":
        return float(max(s[3] for s in sets))
    m = _PERCENTILE.match(stat)
    if m:  # nearest rank
        if any(s[2] != s[3] for s in sets):
            return None
        ordered = sorted((s[2], s[0]) for s in sets)
        total = sum(n for _, n in ordered)
        rank = max(1.0, math.ceil(float(m.group(1)) / 100.0 * total))
        seen = 0.0
        for value, n in ordered:
            seen += n
            if seen >= rank:
                return float(value)
        return float(ordered[-1][0])
    raise _invalid(f"The statistic {stat!r} is not supported; use {', '.join(BASIC)} or a percentile pNN.")


@operation("cloudwatch", "GetMetricStatistics")
def get_metric_statistics(services, params: dict) -> dict:
    stats = list(params.get("Statistics") or [])
    extended = list(params.get("ExtendedStatistics") or [])
    if not stats and not extended:
        raise _combination("Must specify either Statistics or ExtendedStatistics.")
    for e in extended:
        if not _PERCENTILE.match(e):
            raise _invalid(f"The parameter ExtendedStatistics contains an invalid value {e!r}; use pNN.NN.")
    start, end, period = float(params["StartTime"]), float(params["EndTime"]), int(params["Period"])
    _check_window(start, end, period)
    for s in stats:
        _check_statistic(s)
    unit, points = _points(services, params["Namespace"], params["MetricName"], params.get("Dimensions") or [],
                           start, end, params.get("Unit"))
    datapoints = []
    for ts, sets in sorted(_buckets(points, start, period).items()):
        dp: dict[str, Any] = {"Timestamp": ts, "Unit": unit}
        for s in stats:
            dp[s] = _statistic(sets, s)
        if extended:
            values = {e: _statistic(sets, e) for e in extended}
            dp["ExtendedStatistics"] = {e: v for e, v in values.items() if v is not None}
        datapoints.append(dp)
    return {"Label": params["MetricName"], "Datapoints": datapoints}


@operation("cloudwatch", "GetMetricData")
def get_metric_data(services, params: dict) -> dict:
    queries = params["MetricDataQueries"]
    start, end = float(params["StartTime"]), float(params["EndTime"])
    descending = params.get("ScanBy", "TimestampDescending") == "TimestampDescending"
    results = []
    for q in queries:
        stat_spec = q.get("MetricStat")
        if q.get("Expression") or not stat_spec:
            raise _invalid(f"Query {q['Id']}: metric math expressions are not supported by Shipyard; "
                           "give a MetricStat.")
        metric, period, stat = stat_spec["Metric"], int(stat_spec["Period"]), stat_spec["Stat"]
        _check_window(start, end, period)
        _check_statistic(stat)
        _, points = _points(services, metric.get("Namespace", ""), metric.get("MetricName", ""),
                            metric.get("Dimensions") or [], start, end, stat_spec.get("Unit"))
        series = sorted(((ts, _statistic(sets, stat)) for ts, sets in _buckets(points, start, period).items()),
                        reverse=descending)
        series = [(ts, v) for ts, v in series if v is not None]
        if q.get("ReturnData", True):
            results.append({"Id": q["Id"], "Label": q.get("Label") or metric.get("MetricName", ""),
                            "Timestamps": [ts for ts, _ in series], "Values": [v for _, v in series],
                            "StatusCode": "Complete"})
    return {"MetricDataResults": results, "Messages": []}


def _training_series(services, job: str | None):
    """(job, metric name) for every recorded series; one job if ``job`` is given."""
    if job is not None:
        for name in sorted({p[0] for p in services.meta.get_metrics(job)}):
            yield job, name
        return
    token, scanned = None, 0
    while scanned < MAX_JOBS_SCANNED:
        page = services.meta.list("training-job", ListQuery(max_results=100, next_token=token, sort_by="name",
                                                            descending=False))
        for r in page.items:
            scanned += 1
            for name in sorted({p[0] for p in services.meta.get_metrics(r.name)}):
                yield r.name, name
        token = page.next_token
        if not token:
            return


def _endpoint_metrics(services) -> list[dict]:
    """Every AWS/SageMaker endpoint metric with data in the last 15 days (as ListMetrics lists them)."""
    router = services.router
    out = []
    for series in sorted(router.metrics.all_series(), key=lambda s: (s.endpoint, s.variant)):
        if not series.last:
            continue
        dims = [{"Name": "EndpointName", "Value": series.endpoint}, {"Name": "VariantName", "Value": series.variant}]
        out += [{"Namespace": SAGEMAKER_NAMESPACE, "MetricName": name, "Dimensions": dims}
                for name in ENDPOINT_METRICS]
    return out


def _dimensions_key(dimensions: list[dict]) -> tuple:
    return tuple(sorted((str(d.get("Name")), str(d.get("Value"))) for d in dimensions or []))


def _samples(item: dict) -> list[StatSet]:
    """One MetricData item as sample sets: a Value (one sample), each of Values (with its Count), or
    StatisticValues (one set, as given)."""
    name = item.get("MetricName")
    given = [k for k in ("Value", "Values", "StatisticValues") if item.get(k) is not None]
    if len(given) != 1:
        raise _combination(f"The metric {name!r} must give exactly one of Value, Values and StatisticValues.")
    if given[0] == "StatisticValues":
        sv = item["StatisticValues"]
        out = (float(sv["SampleCount"]), float(sv["Sum"]), float(sv["Minimum"]), float(sv["Maximum"]))
        if not all(map(math.isfinite, out)) or out[0] <= 0 or out[2] > out[3]:
            raise _invalid(f"The metric {name!r} has StatisticValues that are not finite, a SampleCount that "
                           "is not positive, or a Minimum above its Maximum.")
        return [out]
    values = [float(v) for v in ([item["Value"]] if given[0] == "Value" else item["Values"])]
    counts = [float(c) for c in item.get("Counts") or [1.0] * len(values)]
    if not values or len(counts) != len(values) or not all(map(math.isfinite, values)) or \
            not all(c > 0 and math.isfinite(c) for c in counts):
        raise _invalid(f"The metric {name!r} has no finite values, Counts that are not positive, or Counts and "
                       "Values that differ in length.")
    return [(c, v * c, v, v) for v, c in zip(values, counts)]


@operation("cloudwatch", "PutMetricData")
def put_metric_data(services, params: dict) -> dict:
    """Custom metrics (a Model Monitor job's per-feature metrics, a user's own), kept in the metadata store
    (:mod:`shipyard.resources.custom_metrics`) for GetMetricStatistics, GetMetricData and ListMetrics; AWS/
    namespaces are CloudWatch's own."""
    namespace = str(params.get("Namespace") or "")
    if not namespace or namespace.startswith("AWS/"):
        raise _invalid(f"The value {namespace!r} for parameter Namespace is invalid: give a namespace of your "
                       "own (AWS/ is reserved).")
    data = list(params.get("MetricData") or [])
    if not data or len(data) > MAX_PUT:
        raise _invalid(f"The collection MetricData must hold 1 to {MAX_PUT} items; it has {len(data)}.")
    now = time.time()
    samples = [(str(item["MetricName"]), _dimensions_key(item.get("Dimensions") or []),
                float(item.get("Timestamp") or now), str(item.get("Unit") or "None"), sample)
               for item in data for sample in _samples(item)]  # every item checked before any is stored
    custom_metrics.put(services, namespace, samples)
    return {}


def _custom_points(services, namespace: str, metric: str, dimensions: list[dict], start: float, end: float,
                   unit: str | None) -> tuple[str, list[tuple[float, StatSet]]]:
    return custom_metrics.points(services, namespace, metric, _dimensions_key(dimensions), start, end, unit)


def _custom_metrics(services, namespace: str | None) -> list[dict]:
    return custom_metrics.series(services, namespace)


def _matches(metric: dict, filters: list[dict]) -> bool:
    dims = {d["Name"]: d["Value"] for d in metric["Dimensions"]}
    return all(f.get("Name") in dims and f.get("Value") in (None, "", dims[f["Name"]]) for f in filters)


@operation("cloudwatch", "ListMetrics")
def list_metrics(services, params: dict) -> dict:
    namespace = params.get("Namespace")
    wanted_name = params.get("MetricName")
    filters = params.get("Dimensions") or []
    metrics: list[dict] = []
    if namespace in (None, TRAINING_NAMESPACE) and all(f.get("Name") == JOB_DIMENSION for f in filters):
        job = next((f["Value"] for f in filters if f.get("Value")), None)
        metrics += [{"Namespace": TRAINING_NAMESPACE, "MetricName": name,
                     "Dimensions": [{"Name": JOB_DIMENSION, "Value": j}]}
                    for j, name in _training_series(services, job)]
    if namespace in (None, SAGEMAKER_NAMESPACE):
        metrics += _endpoint_metrics(services)
    if namespace not in (TRAINING_NAMESPACE, SAGEMAKER_NAMESPACE):
        metrics += _custom_metrics(services, namespace)
    if namespace in (None, usage_metrics.NAMESPACE):
        metrics += usage_metrics.list_metrics(services.meta)
    metrics = [m for m in metrics if wanted_name in (None, m["MetricName"]) and _matches(m, filters)]
    token = params.get("NextToken") or "0"
    if not token.isdigit():
        raise _invalid(f"The NextToken {token!r} is invalid.")
    offset = int(token)
    page = metrics[offset:offset + 500]
    out: dict[str, Any] = {"Metrics": page}
    if offset + 500 < len(metrics):
        out["NextToken"] = str(offset + 500)
    return out
