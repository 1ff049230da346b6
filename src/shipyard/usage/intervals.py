"""Usage intervals and the arithmetic on them: instance-seconds within a window, grouped and priced.

One :class:`Interval` is "``count`` instances of ``instance_type`` ran for one resource from ``start`` to
``end``": a whole job, or one segment of an endpoint variant between two scaling changes (1 -> 3 -> 1 instances
is three intervals). The metering controller (:mod:`.meter`) writes them; reports, budgets and the CloudWatch
usage metrics only read them. Everything here is pure (no store, no clock), so the figures are unit-tested.

An open interval (``end`` None: still running) counts up to the ``now`` the caller gives. A window cuts an
interval: an interval from 10:00 to 12:00 contributes one hour to a window that starts at 11:00.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any, Iterable

from . import prices

# The groupings a report offers; "tag" splits by every key=value, "tag:KEY" by the values of one key.
GROUPINGS = ("resource", "job", "endpoint", "notebook", "kind", "user", "tag", "instance-type")
JOB_KINDS = ("TrainingJob", "ProcessingJob", "TransformJob", "CompilationJob")
UNTAGGED = "(untagged)"
NO_USER = "(unknown)"


@dataclass
class Interval:
    """``count`` instances of ``instance_type`` used by one resource from ``start`` to ``end`` (None: open)."""

    name: str                    # the interval's own name in the store
    resource_arn: str
    resource_kind: str           # "TrainingJob", "Endpoint", ... (AWS's resource type names)
    resource_name: str
    part: str                    # an endpoint's variant, a training job's instance group; "" for the whole
    instance_type: str
    count: int
    start: float
    end: float | None = None
    last_seen: float = 0.0
    tags: dict[str, str] = field(default_factory=dict)
    user: str = ""

    @property
    def is_open(self) -> bool:
        return self.end is None

    def seconds(self, since: float | None = None, until: float | None = None, now: float | None = None) -> float:
        """Wall-clock seconds of this interval inside [since, until] (an open interval runs to ``now``)."""
        end = self.end if self.end is not None else (now if now is not None else self.last_seen)
        lo = self.start if since is None else max(self.start, since)
        hi = end if until is None else min(end, until)
        return max(0.0, hi - lo)

    def instance_seconds(self, since: float | None = None, until: float | None = None,
                         now: float | None = None) -> float:
        return self.seconds(since, until, now) * self.count

    def to_doc(self) -> dict[str, Any]:
        return {"ResourceArn": self.resource_arn, "ResourceKind": self.resource_kind,
                "ResourceName": self.resource_name, "Part": self.part, "InstanceType": self.instance_type,
                "InstanceCount": self.count, "Start": self.start, "End": self.end, "LastSeen": self.last_seen,
                "Tags": dict(self.tags), "User": self.user}

    @classmethod
    def from_doc(cls, name: str, doc: dict[str, Any]) -> Interval:
        return cls(name=name, resource_arn=str(doc.get("ResourceArn", "")),
                   resource_kind=str(doc.get("ResourceKind", "")), resource_name=str(doc.get("ResourceName", "")),
                   part=str(doc.get("Part") or ""), instance_type=str(doc.get("InstanceType", "")),
                   count=int(doc.get("InstanceCount") or 0), start=float(doc.get("Start") or 0.0),
                   end=None if doc.get("End") is None else float(doc["End"]),
                   last_seen=float(doc.get("LastSeen") or 0.0), tags=dict(doc.get("Tags") or {}),
                   user=str(doc.get("User") or ""))


def parse_tag(text: str) -> tuple[str, str | None]:
    """``key=value`` -> (key, value); ``key`` alone -> (key, None): any value."""
    key, eq, value = text.partition("=")
    return key.strip(), (value.strip() if eq else None)


def tag_matches(tags: dict[str, str], key: str, value: str | None) -> bool:
    return key in tags and (value is None or tags[key] == value)


def _keys(iv: Interval, by: str) -> list[str]:
    """The report rows an interval counts towards under grouping ``by`` (none: it is not part of the report)."""
    if by == "resource":
        return [f"{iv.resource_kind}/{iv.resource_name}"]
    if by == "job":
        return [f"{iv.resource_kind}/{iv.resource_name}"] if iv.resource_kind in JOB_KINDS else []
    if by == "endpoint":
        return [iv.resource_name] if iv.resource_kind == "Endpoint" else []
    if by == "notebook":
        return [iv.resource_name] if iv.resource_kind == "NotebookInstance" else []
    if by == "kind":
        return [iv.resource_kind]
    if by == "user":
        return [iv.user or NO_USER]
    if by == "instance-type":
        return [iv.instance_type]
    if by == "tag":
        return [f"{k}={v}" for k, v in sorted(iv.tags.items())] or [UNTAGGED]
    if by.startswith("tag:"):
        key = by[4:]
        return [f"{key}={iv.tags[key]}" if key in iv.tags else f"(no {key})"]
    raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)} or tag:KEY")


def check_grouping(by: str) -> str:
    if by in GROUPINGS or (by.startswith("tag:") and len(by) > 4):
        return by
    raise ValueError(f"unknown grouping {by!r}: use one of {', '.join(GROUPINGS)} or tag:KEY")


@dataclass
class Row:
    """One line of a usage report: a group's instance-seconds and their cost estimate."""

    key: str
    instance_seconds: float = 0.0
    cost_usd: float = 0.0
    instance_types: set[str] = field(default_factory=set)
    intervals: int = 0
    running: bool = False

    @property
    def instance_hours(self) -> float:
        return self.instance_seconds / 3600.0


def aggregate(intervals: Iterable[Interval], by: str = "resource", since: float | None = None,
              until: float | None = None, now: float | None = None, table: dict[str, float] | None = None,
              tag: tuple[str, str | None] | None = None) -> list[Row]:
    """Rows of instance-seconds and cost per group within [since, until], most expensive first.

    ``tag`` keeps only intervals carrying that tag (key, or key and value). With ``by="tag"`` an interval with
    two tags counts in both rows, so those rows may add up to more than the total (as AWS's cost allocation
    report by tag does)."""
    check_grouping(by)
    rows: dict[str, Row] = {}
    for iv in intervals:
        if tag is not None and not tag_matches(iv.tags, *tag):
            continue
        used = iv.instance_seconds(since, until, now)
        if used <= 0.0 and not (iv.is_open and (until is None or iv.start <= until)):
            continue
        spent = prices.cost(iv.instance_type, used, table)
        for key in _keys(iv, by):
            row = rows.setdefault(key, Row(key))
            row.instance_seconds += used
            row.cost_usd += spent
            row.instance_types.add(iv.instance_type)
            row.intervals += 1
            row.running = row.running or iv.is_open
    return sorted(rows.values(), key=lambda r: (-r.cost_usd, -r.instance_seconds, r.key))


def total(rows: Iterable[Row]) -> Row:
    out = Row("TOTAL")
    for r in rows:
        out.instance_seconds += r.instance_seconds
        out.cost_usd += r.cost_usd
        out.instance_types |= r.instance_types
        out.intervals += r.intervals
    return out


def spend(intervals: Iterable[Interval], key: str, value: str | None, since: float | None, now: float,
          table: dict[str, float] | None = None) -> float:
    """US dollars spent since ``since`` by intervals tagged ``key`` (= ``value``): what a budget compares."""
    return sum(prices.cost(iv.instance_type, iv.instance_seconds(since, now, now), table)
               for iv in intervals if tag_matches(iv.tags, key, value))


HEADERS = ("GROUP", "INSTANCE TYPES", "INSTANCE-HOURS", "INSTANCE-SECONDS", "COST (USD)")


def row_cells(r: Row) -> list[str]:
    return [r.key + (" *" if r.running else ""), ",".join(sorted(r.instance_types)), f"{r.instance_hours:.4f}",
            f"{r.instance_seconds:.1f}", f"{r.cost_usd:.4f}"]


def to_csv(rows: list[Row], by: str) -> str:
    """The report as CSV (one header line; seconds to the millisecond, dollars to 1e-8)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([by, "instance_types", "instance_seconds", "instance_hours", "cost_usd", "running"])
    for r in rows:
        w.writerow([r.key, " ".join(sorted(r.instance_types)), f"{r.instance_seconds:.3f}",
                    f"{r.instance_hours:.6f}", f"{r.cost_usd:.8f}", "yes" if r.running else "no"])
    return buf.getvalue()
