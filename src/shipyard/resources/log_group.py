"""CloudWatch Logs groups as resources: their retention policy, creation and deletion.

A log group's events live in the metadata store's log tables (``append_logs``); what a group carries beyond
its streams (its ``retentionInDays``, that it was created before any stream) is one generic resource of kind
``log-group`` (no schema change). A group exists when it has a stream or such a record.

Retention is honoured twice: reads (GetLogEvents, FilterLogEvents) never return an event older than the
group's retention, at once, and :class:`shipyard.controllers.log_retention.LogRetentionController` deletes those
events on its tick (``MetaStore.delete_logs_before``), so a policy frees space without waiting on a reader.
The valid ``retentionInDays`` values are read from botocore's logs model (the ``Days`` shape's documentation
lists them), falling back to the list below if that text ever changes shape.

One difference from CloudWatch: names are matched case-insensitively by the resource table, so two groups
whose names differ only in case share a retention record.
"""

from __future__ import annotations

import functools
import re
import time

from ..context import Services
from ..errors import ShipyardError
from ..metastore.base import MetaStore, Resource

KIND = "log-group"
ACTIVE = "Active"
DAY = 86400.0
_FALLBACK_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                  3288, 3653)


@functools.lru_cache(maxsize=1)
def valid_days() -> tuple[int, ...]:
    """The retentionInDays values CloudWatch accepts, from botocore's logs model."""
    from ..wire.models import service_model

    try:
        doc = service_model("logs").shape_for("Days").documentation or ""
    except Exception:  # noqa: BLE001 - a model without the shape: use the known list
        return _FALLBACK_DAYS
    listed = doc.partition("Possible values are:")[2].partition("</p>")[0]
    days = tuple(int(d) for d in re.findall(r"\d+", listed))
    return days or _FALLBACK_DAYS


def invalid(message: str) -> ShipyardError:
    return ShipyardError(message, code="InvalidParameterException", http_status=400)


def not_found(what: str) -> ShipyardError:
    return ShipyardError(f"The specified log {what} does not exist.", code="ResourceNotFoundException",
                         http_status=400)


def record(meta: MetaStore, group: str) -> Resource | None:
    r = meta.find(KIND, group)
    return r if r is not None and r.doc.get("logGroupName", r.name) == group else None


def has_streams(meta: MetaStore, group: str) -> bool:
    streams, _ = meta.list_log_streams(group, limit=1)
    return bool(streams)


def exists(meta: MetaStore, group: str) -> bool:
    return has_streams(meta, group) or record(meta, group) is not None


def recorded_groups(meta: MetaStore) -> list[Resource]:
    return meta.list_in_status(KIND, [ACTIVE])


def retention_days(meta: MetaStore, group: str) -> int | None:
    r = record(meta, group)
    days = r.doc.get("retentionInDays") if r is not None else None
    return int(days) if days else None


def cutoff(meta: MetaStore, group: str, now: float | None = None) -> float | None:
    """The oldest event time the group still keeps (seconds), or None when its events never expire."""
    days = retention_days(meta, group)
    return None if days is None else (time.time() if now is None else now) - days * DAY


def _arn(services: Services, group: str) -> str:
    return f"arn:aws:logs:{services.region}:{services.account}:log-group:{group}"


def _ensure_record(services: Services, group: str) -> Resource:
    r = record(services.meta, group)
    if r is not None:
        return r
    streams, _ = services.meta.list_log_streams(group, limit=1)  # a group made by its first stream keeps its age
    created = streams[0].first_event if streams else time.time()
    return services.meta.create(KIND, group, _arn(services, group), ACTIVE,
                                {"logGroupName": group, "creationTime": created})


def create(services: Services, group: str) -> None:
    """CreateLogGroup: a group with no streams yet."""
    if not group or len(group) > 512 or not re.fullmatch(r"[\w\-/.#]+", group):
        raise invalid(f"Invalid log group name {group!r}: use 1-512 of letters, digits and _-/.#")
    if exists(services.meta, group):
        raise ShipyardError("The specified log group already exists", code="ResourceAlreadyExistsException",
                            http_status=400)
    _ensure_record(services, group)


def put_retention(services: Services, group: str, days: int) -> None:
    """PutRetentionPolicy: events older than ``days`` days disappear from reads now and from storage soon."""
    if days not in valid_days():
        raise invalid(f"Invalid retentionInDays {days}: use one of {', '.join(map(str, valid_days()))}.")
    if not exists(services.meta, group):
        raise not_found("group")
    r = _ensure_record(services, group)
    services.meta.update(KIND, r.name, {"retentionInDays": days})
    services.wake(KIND)


def delete_retention(services: Services, group: str) -> None:
    """DeleteRetentionPolicy: the group's events never expire again."""
    if not exists(services.meta, group):
        raise not_found("group")
    r = record(services.meta, group)
    if r is not None:
        services.meta.update(KIND, r.name, {"retentionInDays": None})


def delete(services: Services, group: str) -> None:
    """DeleteLogGroup: the group, its streams, their events and its retention policy."""
    if not exists(services.meta, group):
        raise not_found("group")
    services.meta.delete_log_streams(group)
    r = record(services.meta, group)
    if r is not None:
        services.meta.delete(KIND, r.name)


def delete_stream(services: Services, group: str, stream: str) -> None:
    """DeleteLogStream: one stream and its events."""
    if not exists(services.meta, group):
        raise not_found("group")
    if not services.meta.delete_log_streams(group, stream):
        raise not_found("stream")


def sweep(meta: MetaStore, now: float | None = None) -> int:
    """Delete every event older than its group's retention; returns how many went."""
    now = time.time() if now is None else now
    gone = 0
    for r in recorded_groups(meta):
        days = r.doc.get("retentionInDays")
        if days:
            gone += meta.delete_logs_before(r.doc.get("logGroupName", r.name), now - int(days) * DAY)
    return gone
