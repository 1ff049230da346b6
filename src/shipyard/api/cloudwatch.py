"""The CloudWatch metrics subset SageMaker clients read: GetMetricStatistics, GetMetricData, ListMetrics.

SageMaker publishes a training job's metric-definition matches to namespace ``/aws/sagemaker/TrainingJobs``
with dimension ``TrainingJobName``; the SageMaker SDK's ``TrainingJobAnalytics`` (``estimator
.training_job_analytics``) reads them back with GetMetricStatistics (statistic Average, period 60). Here the
points are the ones the training controller already records in the metadata store
(``MetaStore.get_metrics``), so nothing is stored twice. Other namespaces exist but hold no data (CloudWatch
answers an unknown metric with no data points, not an error).

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
from typing import Any

from ..errors import ShipyardError
from ..metastore.base import ListQuery
from .registry import operation

TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
JOB_DIMENSION = "TrainingJobName"
MAX_DATAPOINTS = 1440
BASIC = ("SampleCount", "Average", "Sum", "Minimum", "Maximum")
_PERCENTILE = re.compile(r"^p(\d{1,2}(?:\.\d{1,10})?|100)$")
MAX_JOBS_SCANNED = 10000


def _invalid(message: str) -> ShipyardError:
    return ShipyardError(message, code="InvalidParameterValue", http_status=400)


def _combination(message: str) -> ShipyardError:
    return ShipyardError(message, code="InvalidParameterCombination", http_status=400)


def _job_of(namespace: str, dimensions: list[dict]) -> str | None:
    """The training job a (namespace, dimensions) pair selects, or None if it selects no stored series."""
    if namespace != TRAINING_NAMESPACE:
        return None
    dims = {d.get("Name"): d.get("Value") for d in dimensions or []}
    if set(dims) != {JOB_DIMENSION} or not dims[JOB_DIMENSION]:
        return None
    return dims[JOB_DIMENSION]


def _points(services, namespace: str, metric: str, dimensions: list[dict], start: float,
            end: float) -> list[tuple[float, float]]:
    """(timestamp, value) points of one metric series within [start, end)."""
    job = _job_of(namespace, dimensions)
    if job is None:
        return []
    return sorted((ts, value) for _, value, ts, _ in services.meta.get_metrics(job, metric)
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


def _buckets(points: list[tuple[float, float]], start: float, period: int) -> dict[float, list[float]]:
    origin = _aligned_start(start, period)
    out: dict[float, list[float]] = {}
    for ts, value in points:
        out.setdefault(origin + math.floor((ts - origin) / period) * period, []).append(value)
    return out


def _statistic(values: list[float], stat: str) -> float:
    if stat == "SampleCount":
        return float(len(values))
    if stat == "Sum":
        return float(sum(values))
    if stat == "Average":
        return float(sum(values) / len(values))
    if stat == "Minimum":
        return float(min(values))
    if stat == "Maximum":
        return float(max(values))
    m = _PERCENTILE.match(stat)
    if m:  # nearest rank
        ordered = sorted(values)
        rank = max(1, math.ceil(float(m.group(1)) / 100.0 * len(ordered)))
        return float(ordered[min(rank, len(ordered)) - 1])
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
    points = _points(services, params["Namespace"], params["MetricName"], params.get("Dimensions") or [],
                     start, end)
    unit = params.get("Unit") or "None"
    datapoints = []
    for ts, values in sorted(_buckets(points, start, period).items()):
        dp: dict[str, Any] = {"Timestamp": ts, "Unit": unit}
        for s in stats:
            dp[s] = _statistic(values, s)
        if extended:
            dp["ExtendedStatistics"] = {e: _statistic(values, e) for e in extended}
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
        points = _points(services, metric.get("Namespace", ""), metric.get("MetricName", ""),
                         metric.get("Dimensions") or [], start, end)
        series = sorted(((ts, _statistic(vals, stat)) for ts, vals in _buckets(points, start, period).items()),
                        reverse=descending)
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


@operation("cloudwatch", "ListMetrics")
def list_metrics(services, params: dict) -> dict:
    namespace = params.get("Namespace")
    if namespace not in (None, TRAINING_NAMESPACE):
        return {"Metrics": []}
    wanted_name = params.get("MetricName")
    filters = params.get("Dimensions") or []
    job = None
    for f in filters:
        if f.get("Name") != JOB_DIMENSION:
            return {"Metrics": []}  # our series carry no other dimension
        if f.get("Value"):
            job = f["Value"]
    metrics = [{"Namespace": TRAINING_NAMESPACE, "MetricName": name,
                "Dimensions": [{"Name": JOB_DIMENSION, "Value": j}]}
               for j, name in _training_series(services, job) if wanted_name in (None, name)]
    token = params.get("NextToken") or "0"
    if not token.isdigit():
        raise _invalid(f"The NextToken {token!r} is invalid.")
    offset = int(token)
    page = metrics[offset:offset + 500]
    out: dict[str, Any] = {"Metrics": page}
    if offset + 500 < len(metrics):
        out["NextToken"] = str(offset + 500)
    return out
