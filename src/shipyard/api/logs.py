"""The CloudWatch Logs subset SageMaker clients read: log groups, streams, events, simple filtering.

Training jobs write ``/aws/sagemaker/TrainingJobs`` streams named ``<job>/algo-1-<ts>``, endpoints write
``/aws/sagemaker/Endpoints/<endpoint>``; the SageMaker SDK's ``logs=True`` polls DescribeLogStreams and
GetLogEvents. Events live in the metadata store (``append_logs``/``get_logs``/``list_log_streams``), in
seconds; CloudWatch speaks milliseconds, so this module converts at the edge.

A log group exists once it has a stream (CloudWatch would have it created by the service) or once
CreateLogGroup / a retention policy recorded it (:mod:`shipyard.resources.log_group`); a missing group or stream
is ``ResourceNotFoundException``, which the SDK catches while a job is still starting. A group's retention
(PutRetentionPolicy) hides older events from GetLogEvents and FilterLogEvents at once; the log-retention
controller deletes them on its tick.
"""

from __future__ import annotations

import base64
import re

from ..errors import ShipyardError
from ..resources import log_group
from .registry import operation

SAGEMAKER_GROUPS = [
    "/aws/sagemaker/TrainingJobs",
    "/aws/sagemaker/TransformJobs",
    "/aws/sagemaker/ProcessingJobs",
    "/aws/sagemaker/Endpoints",
    "/aws/sagemaker/InferenceRecommendationsJobs",
]


_not_found = log_group.not_found
_invalid = log_group.invalid


def _ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def _group_arn(services, group: str) -> str:
    return f"arn:aws:logs:{services.region}:{services.account}:log-group:{group}"


_group_exists = log_group.exists


def _group_name(params: dict) -> str:
    """logGroupName, or the group a logGroupIdentifier (a name or an ARN) names."""
    group = params.get("logGroupName") or params.get("logGroupIdentifier") or ""
    return group.split(":log-group:", 1)[-1].removesuffix(":*")


def _kept_from(meta, group: str, start_ms: int | None) -> float | None:
    """The start time (seconds) a read uses: the caller's, moved up to the group's retention cutoff."""
    start = start_ms / 1000.0 if start_ms is not None else None
    oldest = log_group.cutoff(meta, group)
    if oldest is None:
        return start
    return oldest if start is None else max(start, oldest)


def _candidate_groups(services) -> list[str]:
    """Every log group that may exist: the store's own list if it has one, else SageMaker's known groups."""
    meta = services.meta
    lister = getattr(meta, "list_log_groups", None)
    recorded = [r.doc.get("logGroupName", r.name) for r in log_group.recorded_groups(meta)]
    if callable(lister):
        return sorted(set(lister()) | set(recorded))
    groups = list(SAGEMAKER_GROUPS) + recorded
    try:
        from ..metastore.base import ListQuery

        token = None
        for _ in range(100):  # bounded: 100 pages of endpoints
            page = meta.list("endpoint", ListQuery(max_results=100, next_token=token))
            groups += [f"/aws/sagemaker/Endpoints/{r.name}" for r in page.items]
            token = page.next_token
            if not token:
                break
    except ShipyardError:
        pass
    return sorted(set(groups))


def _offset_token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o/{offset}".encode()).decode()


def _parse_offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("o/"))
    except ValueError:
        raise _invalid(f"The specified nextToken is invalid: {token!r}.") from None


@operation("logs", "DescribeLogGroups")
def describe_log_groups(services, params: dict) -> dict:
    prefix = params.get("logGroupNamePrefix") or ""
    pattern = params.get("logGroupNamePattern") or ""
    if prefix and pattern:
        raise _invalid("LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.")
    limit = params.get("limit") or 50
    offset = _parse_offset(params.get("nextToken"))
    names = [g for g in _candidate_groups(services)
             if g.startswith(prefix) and (not pattern or pattern.lower() in g.lower())]
    names = [g for g in names if _group_exists(services.meta, g)]
    page = names[offset:offset + limit]
    groups = []
    for g in page:
        streams, _ = services.meta.list_log_streams(g, limit=1, order_by="LogStreamName")
        rec = log_group.record(services.meta, g)
        first = rec.doc.get("creationTime", rec.created) if rec else (streams[0].first_event if streams else 0.0)
        arn = _group_arn(services, g)
        entry = {"logGroupName": g, "creationTime": _ms(first), "metricFilterCount": 0,
                 "arn": arn + ":*", "logGroupArn": arn, "storedBytes": 0, "logGroupClass": "STANDARD"}
        if rec is not None and rec.doc.get("retentionInDays"):
            entry["retentionInDays"] = int(rec.doc["retentionInDays"])
        groups.append(entry)
    out: dict = {"logGroups": groups}
    if offset + limit < len(names):
        out["nextToken"] = _offset_token(offset + limit)
    return out


@operation("logs", "DescribeLogStreams")
def describe_log_streams(services, params: dict) -> dict:
    group = _group_name(params)
    if not group:
        raise _invalid("Either logGroupName or logGroupIdentifier is required.")
    prefix = params.get("logStreamNamePrefix") or ""
    order_by = params.get("orderBy") or "LogStreamName"
    if prefix and order_by == "LastEventTime":
        raise _invalid("Cannot order by LastEventTime with a logStreamNamePrefix.")
    if not _group_exists(services.meta, group):
        raise _not_found("group")
    streams, token = services.meta.list_log_streams(
        group, prefix=prefix, limit=params.get("limit") or 50, next_token=params.get("nextToken"),
        descending=bool(params.get("descending")), order_by=order_by)
    arn = _group_arn(services, group)
    out: dict = {"logStreams": [{
        "logStreamName": s.stream,
        "creationTime": _ms(s.first_event),
        "firstEventTimestamp": _ms(s.first_event),
        "lastEventTimestamp": _ms(s.last_event),
        "lastIngestionTime": _ms(s.last_ingestion),
        "arn": f"{arn}:log-stream:{s.stream}",
        "storedBytes": s.stored_bytes,
    } for s in streams]}
    if token:
        out["nextToken"] = token
    return out


def _stream_exists(meta, group: str, stream: str) -> bool:
    streams, _ = meta.list_log_streams(group, prefix=stream, limit=50)
    return any(s.stream == stream for s in streams)


@operation("logs", "GetLogEvents")
def get_log_events(services, params: dict) -> dict:
    group = _group_name(params)
    stream = params["logStreamName"]
    meta = services.meta
    if not _stream_exists(meta, group, stream):
        raise _not_found("stream" if _group_exists(meta, group) else "group")
    end = params.get("endTime")
    events, fwd, back = meta.get_logs(
        group, stream, start_from_head=bool(params.get("startFromHead", False)),
        next_token=params.get("nextToken"), limit=params.get("limit") or 10000,
        start_time=_kept_from(meta, group, params.get("startTime")),
        end_time=end / 1000.0 if end is not None else None)
    return {
        "events": [{"timestamp": _ms(e.timestamp), "message": e.message,
                    "ingestionTime": _ms(e.ingestion_time or e.timestamp)} for e in events],
        "nextForwardToken": fwd,
        "nextBackwardToken": back,
    }


def _matcher(pattern: str):
    """CloudWatch's simplest filter patterns: terms that must all appear; quoted phrases; ``?term`` any-of."""
    pattern = (pattern or "").strip()
    if not pattern or pattern in ('""', "''"):
        return lambda message: True
    tokens = re.findall(r'\?"[^"]*"|\?\S+|"[^"]*"|\S+', pattern)
    required = [t.strip('"') for t in tokens if not t.startswith("?")]
    optional = [t[1:].strip('"') for t in tokens if t.startswith("?")]

    def match(message: str) -> bool:
        if required and not all(term in message for term in required):
            return False
        if optional and not any(term in message for term in optional):
            return False
        return True

    return match


@operation("logs", "FilterLogEvents")
def filter_log_events(services, params: dict) -> dict:
    group = _group_name(params)
    meta = services.meta
    if not _group_exists(meta, group):
        raise _not_found("group")
    names = params.get("logStreamNames")
    prefix = params.get("logStreamNamePrefix") or ""
    if names and prefix:
        raise _invalid("logStreamNames and logStreamNamePrefix are mutually exclusive.")
    if not names:
        names, token = [], None
        for _ in range(1000):  # bounded: 50 000 streams
            streams, token = meta.list_log_streams(group, prefix=prefix, limit=50, next_token=token)
            names += [s.stream for s in streams]
            if not token:
                break
    start, end = _kept_from(meta, group, params.get("startTime")), params.get("endTime")
    match = _matcher(params.get("filterPattern", ""))
    found = []
    for stream in names:
        token = None
        for _ in range(1000):
            events, fwd, _ = meta.get_logs(group, stream, start_from_head=True, next_token=token, limit=10000,
                                           start_time=start,
                                           end_time=end / 1000.0 if end is not None else None)
            found += [(e.timestamp, stream, i, e) for i, e in enumerate(events) if match(e.message)]
            if not events or fwd == token:
                break
            token = fwd
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    offset = _parse_offset(params.get("nextToken"))
    limit = params.get("limit") or 10000
    page = found[offset:offset + limit]
    out: dict = {
        "events": [{"logStreamName": stream, "timestamp": _ms(e.timestamp), "message": e.message,
                    "ingestionTime": _ms(e.ingestion_time or e.timestamp), "eventId": f"{offset + n}"}
                   for n, (_, stream, _, e) in enumerate(page)],
        "searchedLogStreams": [{"logStreamName": s, "searchedCompletely": True} for s in names],
    }
    if offset + limit < len(found) or page:
        # also after the last page that had events, as CloudWatch does: a follower (the SageMaker SDK's
        # wait_for_endpoint(live_logging=True)) resumes there, and prints only pages that carry a token
        out["nextToken"] = _offset_token(offset + len(page))
    return out


@operation("logs", "CreateLogGroup")
def create_log_group(services, params: dict) -> dict:
    log_group.create(services, params["logGroupName"])
    return {}


@operation("logs", "DeleteLogGroup")
def delete_log_group(services, params: dict) -> dict:
    log_group.delete(services, _group_name(params))
    return {}


@operation("logs", "DeleteLogStream")
def delete_log_stream(services, params: dict) -> dict:
    log_group.delete_stream(services, _group_name(params), params["logStreamName"])
    return {}


@operation("logs", "PutRetentionPolicy")
def put_retention_policy(services, params: dict) -> dict:
    log_group.put_retention(services, _group_name(params), int(params["retentionInDays"]))
    return {}


@operation("logs", "DeleteRetentionPolicy")
def delete_retention_policy(services, params: dict) -> dict:
    log_group.delete_retention(services, _group_name(params))
    return {}
