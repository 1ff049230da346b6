"""The clean-up decision, as a pure function of what the APIs said (no I/O, no clock: ``Snapshot.now``).

Rules (each candidate carries the one that chose it):

- **endpoint**: InService, created and last modified before the window, and zero ``Invocations`` in it. An
  endpoint whose count could not be read is kept (unknown is not idle).
- **endpoint-config**: no endpoint left by this plan uses it (current or pending config), created before the
  window. A config that only a deleted endpoint used is freed in the same plan.
- **model**: no config left by this plan names it (production or shadow variant), no transform job in
  progress uses it, created before the window.
- **notebook-instance**: Stopped since before the window (a stopped instance costs its volume, no hours).
- **s3-prefix**: a top-level prefix of a SageMaker default bucket (``sagemaker-<region>-<account>``) named
  like a job, that no job, model, endpoint or pipeline the server knows is called, that no live resource
  names an ``s3://`` URI inside (or above), whose every object has a job's layout (``source/``,
  ``output/``, ``input/``, ``code/``, debugger and profiler folders, checkpoints, transform ``*.out``) and
  none of them written inside the window (an upload the SDK makes just before CreateTrainingJob). Anything
  else in those buckets, and every other bucket, is never touched. The plan names the exact keys: applying
  it deletes those, not what appeared under the prefix since.
- **log-stream**: its last event is older than its group's retention (``retentionInDays``, else the
  ``--log-retention`` default when given): every event in it has expired.

Order: endpoints, configs, models, notebook instances, S3 prefixes, log streams; by name within a kind.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable

DAY = 86400.0
JOB_LAYOUT = frozenset({"source", "output", "input", "code", "profiler-output", "debug-output", "rule-output",
                        "checkpoints"})
JOB_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
IN_PROGRESS = ("InProgress", "Stopping")
KIND_ORDER = ("endpoint", "endpoint-config", "model", "notebook-instance", "s3-prefix", "log-stream")
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": DAY}


def parse_duration(text: str) -> float:
    """``30m``, ``1h``, ``7d`` (or ``45s``) -> seconds; ValueError saying what is accepted otherwise."""
    m = _DURATION.match(text or "")
    if not m or float(m.group(1)) <= 0:
        raise ValueError(f"invalid duration {text!r}: give a positive number and a unit, e.g. 30m, 1h or 7d "
                         "(units: s, m, h, d)")
    return float(m.group(1)) * _UNITS[m.group(2)]


# -- what the APIs said --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Endpoint:
    name: str
    status: str
    configs: tuple[str, ...]              # the current config and a pending one (UpdateEndpoint)
    created: float
    modified: float
    invocations: int | None               # Invocations in the window; None when they could not be read
    instances: tuple[tuple[str, int], ...] = ()  # (instance type, count) per instance-backed variant


@dataclass(frozen=True)
class EndpointConfig:
    name: str
    created: float
    models: tuple[str, ...]


@dataclass(frozen=True)
class Model:
    name: str
    created: float


@dataclass(frozen=True)
class TransformJob:
    name: str
    status: str
    model: str


@dataclass(frozen=True)
class Notebook:
    name: str
    status: str
    instance_type: str
    modified: float


@dataclass(frozen=True)
class S3Object:
    bucket: str
    key: str
    size: int
    modified: float


@dataclass(frozen=True)
class LogStream:
    group: str
    stream: str
    last_event: float
    stored_bytes: int


@dataclass
class Snapshot:
    now: float
    endpoints: list[Endpoint] = field(default_factory=list)
    endpoint_configs: list[EndpointConfig] = field(default_factory=list)
    models: list[Model] = field(default_factory=list)
    transform_jobs: list[TransformJob] = field(default_factory=list)
    notebooks: list[Notebook] = field(default_factory=list)
    # S3: the objects of the default buckets; the names of everything that may own a prefix (jobs, models,
    # endpoints, pipelines ...); every s3:// URI a live resource names. ``s3_complete`` is False when some of
    # those could not be read: then no prefix is a candidate.
    objects: list[S3Object] = field(default_factory=list)
    default_buckets: frozenset[str] = frozenset()  # only objects of these buckets are ever candidates
    owner_names: frozenset[str] = frozenset()
    referenced_uris: frozenset[str] = frozenset()
    s3_complete: bool = True
    log_retention: dict[str, int | None] = field(default_factory=dict)  # group -> retentionInDays
    log_streams: list[LogStream] = field(default_factory=list)


# -- what to delete --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Candidate:
    kind: str
    name: str
    reason: str
    instance_hours_per_day: float = 0.0
    cost_per_day: float = 0.0
    bytes: int = 0
    keys: tuple[str, ...] = ()       # s3-prefix: the exact object keys to delete
    bucket: str = ""                 # s3-prefix
    group: str = ""                  # log-stream
    stream: str = ""                 # log-stream


@dataclass
class Plan:
    candidates: list[Candidate]

    @property
    def instance_hours_per_day(self) -> float:
        return sum(c.instance_hours_per_day for c in self.candidates)

    @property
    def cost_per_day(self) -> float:
        return sum(c.cost_per_day for c in self.candidates)

    @property
    def bytes(self) -> int:
        return sum(c.bytes for c in self.candidates)

    def of(self, kind: str) -> list[Candidate]:
        return [c for c in self.candidates if c.kind == kind]


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(ts))


def _ago(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.0f}{unit}"
    return f"{max(seconds, 0):.0f}s"


def _idle_endpoints(snap: Snapshot, since: float, window: float,
                    price: Callable[[str], float]) -> list[Candidate]:
    out = []
    for e in snap.endpoints:
        if e.status != "InService" or e.invocations != 0 or max(e.created, e.modified) >= since:
            continue
        hours = sum(n for _, n in e.instances) * 24.0
        cost = sum(price(t) * n for t, n in e.instances) * 24.0
        out.append(Candidate("endpoint", e.name, f"InService, no invocations in the last {_ago(window)}",
                             instance_hours_per_day=hours, cost_per_day=round(cost, 4)))
    return out


def _unused_configs(snap: Snapshot, since: float, deleted: set[str]) -> list[Candidate]:
    users: dict[str, list[str]] = {}
    for e in snap.endpoints:
        for config_name in e.configs:
            users.setdefault(config_name, []).append(e.name)
    out = []
    for c in snap.endpoint_configs:
        if c.created >= since:
            continue
        live = [e for e in users.get(c.name, []) if e not in deleted]
        if live:
            continue
        gone = sorted(users.get(c.name, []))
        reason = (f"used only by endpoint {', '.join(gone)}, deleted by this plan" if gone
                  else "no endpoint uses it")
        out.append(Candidate("endpoint-config", c.name, reason))
    return out


def _unused_models(snap: Snapshot, since: float, deleted_configs: set[str]) -> list[Candidate]:
    users: dict[str, list[str]] = {}
    for c in snap.endpoint_configs:
        for model_name in c.models:
            users.setdefault(model_name, []).append(c.name)
    busy = {t.model for t in snap.transform_jobs if t.status in IN_PROGRESS}
    out = []
    for m in snap.models:
        if m.created >= since or m.name in busy:
            continue
        if [c for c in users.get(m.name, []) if c not in deleted_configs]:
            continue
        gone = sorted(users.get(m.name, []))
        reason = (f"used only by endpoint config {', '.join(gone)}, deleted by this plan" if gone
                  else "no endpoint config or running transform job uses it")
        out.append(Candidate("model", m.name, reason))
    return out


def _stopped_notebooks(snap: Snapshot, since: float) -> list[Candidate]:
    return [Candidate("notebook-instance", n.name, f"Stopped since {_utc(n.modified)}")
            for n in snap.notebooks if n.status == "Stopped" and n.modified < since]


def _referenced(bucket: str, prefix: str, uris: Iterable[str]) -> bool:
    """Does any URI point inside ``s3://bucket/prefix/``, at it, or above it (a whole bucket as input)?"""
    target = f"s3://{bucket}/{prefix}/"
    for uri in uris:
        norm = uri.rstrip("/") + "/"
        if target.startswith(norm) or norm.startswith(target):
            return True
    return False


def _job_artifact(rest: str) -> bool:
    """Is ``rest`` (a key below its top-level prefix) where a job writes: a layout folder, or a transform
    output file (``<input>.out``) directly under the prefix?"""
    head, sep, _ = rest.partition("/")
    return (bool(sep) and head in JOB_LAYOUT) or (not sep and rest.endswith(".out"))


def _orphaned_prefixes(snap: Snapshot, since: float) -> list[Candidate]:
    if not snap.s3_complete:
        return []
    groups: dict[tuple[str, str], list[S3Object]] = {}
    for o in snap.objects:
        if o.bucket not in snap.default_buckets:
            continue
        prefix, sep, rest = o.key.partition("/")
        if sep and rest:
            groups.setdefault((o.bucket, prefix), []).append(o)
        else:
            groups.setdefault((o.bucket, o.key + "\0"), []).append(o)  # a top-level object: never a candidate
    owners = {n.lower() for n in snap.owner_names}
    out = []
    for (bucket, prefix), objs in groups.items():
        if not JOB_NAME.match(prefix) or prefix.lower() in owners:
            continue
        if not all(_job_artifact(o.key.partition("/")[2]) for o in objs):
            continue
        if max(o.modified for o in objs) >= since or _referenced(bucket, prefix, snap.referenced_uris):
            continue
        keys = tuple(sorted(o.key for o in objs))
        out.append(Candidate("s3-prefix", f"s3://{bucket}/{prefix}/",
                             f"{len(keys)} object(s) of job {prefix}, which the server no longer knows",
                             bytes=sum(o.size for o in objs), keys=keys, bucket=bucket))
    return out


def _expired_streams(snap: Snapshot, default_days: int | None) -> list[Candidate]:
    out = []
    for s in snap.log_streams:
        days = snap.log_retention.get(s.group) or default_days
        if not days or s.last_event >= snap.now - days * DAY:
            continue
        source = "the group's retention" if snap.log_retention.get(s.group) else "--log-retention"
        out.append(Candidate("log-stream", f"{s.group}:{s.stream}",
                             f"last event {_ago(snap.now - s.last_event)} ago, past {source} of {days}d",
                             bytes=s.stored_bytes, group=s.group, stream=s.stream))
    return out


def plan(snap: Snapshot, window: float, price: Callable[[str], float],
         log_retention_days: int | None = None) -> Plan:
    """The candidates for deletion, each with its reason and the usage it would save (see the module doc).

    ``price(instance_type)`` is US dollars per instance-hour; ``log_retention_days`` applies to log groups
    without a retention policy of their own (None: such groups are kept whole)."""
    since = snap.now - window
    endpoints = _idle_endpoints(snap, since, window, price)
    configs = _unused_configs(snap, since, {c.name for c in endpoints})
    models = _unused_models(snap, since, {c.name for c in configs})
    found = (endpoints + configs + models + _stopped_notebooks(snap, since) + _orphaned_prefixes(snap, since)
             + _expired_streams(snap, log_retention_days))
    found.sort(key=lambda c: (KIND_ORDER.index(c.kind), c.name))
    return Plan(found)


# -- how it reads --------------------------------------------------------------------------------------------------
def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop returns


def rows(p: Plan) -> list[list[str]]:
    """The table's rows: kind, name, reason, instance-hours/day, US$/day, bytes."""
    return [[c.kind, c.name, c.reason,
             f"{c.instance_hours_per_day:g}" if c.instance_hours_per_day else "-",
             f"{c.cost_per_day:.2f}" if c.cost_per_day else "-",
             human_bytes(c.bytes) if c.bytes else "-"] for c in p.candidates]


HEADERS = ["KIND", "NAME", "REASON", "INSTANCE-H/DAY", "USD/DAY", "STORAGE"]


def total_line(p: Plan) -> str:
    if not p.candidates:
        return "nothing to clean up"
    return (f"total: {len(p.candidates)} to delete; saves {p.instance_hours_per_day:g} instance-hours/day "
            f"(${p.cost_per_day:.2f}/day) and {human_bytes(p.bytes)} of storage")
