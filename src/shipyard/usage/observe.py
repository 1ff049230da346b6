"""What uses instances right now, read from the metadata store: jobs, endpoint variants, notebook instances.

Each resource kind says in its own document how many instances of which type it holds: a training job's
``ResourceConfig`` (or its ``InstanceGroups``), a processing job's ``ProcessingResources.ClusterConfig``, a
transform job's ``TransformResources``, an endpoint variant's ``CurrentInstanceCount`` (the instances actually
up, so a scale-out counts once its instances serve), a notebook instance's ``InstanceType``. Jobs also carry
their own start and end times (``TrainingStartTime``/``TrainingEndTime``, ...): the meter uses those as the
interval's edges, so a job's usage does not depend on when the meter looked. A compilation job names no
instance type (Neo compiles on AWS's side, unbilled): it is metered as type ``compilation``, priced at 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from ..domain import acting
from ..metastore.base import ListQuery, MetaStore, Resource

COMPILATION_TYPE = "compilation"


@dataclass(frozen=True)
class JobKind:
    meta_kind: str
    aws_kind: str
    running: tuple[str, ...]      # statuses in which its instances are held
    start_key: str
    end_key: str


JOB_KINDS = (
    JobKind("training-job", "TrainingJob", ("InProgress", "Stopping"), "TrainingStartTime", "TrainingEndTime"),
    JobKind("processing-job", "ProcessingJob", ("InProgress", "Stopping"), "ProcessingStartTime",
            "ProcessingEndTime"),
    JobKind("transform-job", "TransformJob", ("InProgress", "Stopping"), "TransformStartTime", "TransformEndTime"),
    JobKind("compilation-job", "CompilationJob", ("INPROGRESS", "STOPPING"), "CompilationStartTime",
            "CompilationEndTime"),
)
BY_META_KIND = {k.meta_kind: k for k in JOB_KINDS}
BY_AWS_KIND = {k.aws_kind: k for k in JOB_KINDS}
ENDPOINT, NOTEBOOK = "endpoint", "notebook-instance"
META_KIND = {"Endpoint": ENDPOINT, "NotebookInstance": NOTEBOOK, **{k.aws_kind: k.meta_kind for k in JOB_KINDS}}


@dataclass
class Observation:
    """``count`` instances of ``instance_type`` held by one resource (one part of it); a job's own times."""

    meta_kind: str
    aws_kind: str
    name: str
    arn: str
    part: str
    instance_type: str
    count: int
    start: float | None = None   # the resource's own start time (jobs), None where it has none
    end: float | None = None     # the job's own end time once it ended
    tags: dict[str, str] = field(default_factory=dict)
    user: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.arn, self.part


def tags_of(doc: dict[str, Any]) -> dict[str, str]:
    """A resource's tags as ListTags answers them (``_tags``, else the Create request's ``Tags``)."""
    tags = doc.get("_tags")
    if tags is None:
        tags = doc.get("Tags") or []
    return {str(t.get("Key")): str(t.get("Value", "")) for t in tags if isinstance(t, dict) and t.get("Key")}


def user_of(doc: dict[str, Any]) -> str:
    """Who created the resource, where it records that (``_user``: :mod:`shipyard.domain.acting`, or AWS's
    ``CreatedBy``); else ""."""
    by = doc.get("CreatedBy") or {}
    return acting.user_of(doc) or str(by.get("UserProfileName") or (by.get("IamIdentity") or {}).get("Arn") or "")


def _float(v: Any) -> float | None:
    try:
        return None if v in (None, "") else float(v)
    except (TypeError, ValueError):
        return None


def job_parts(kind: JobKind, doc: dict[str, Any]) -> list[tuple[str, str, int]]:
    """(part, instance type, count) a job holds: one row, or one per training instance group."""
    if kind.meta_kind == "training-job":
        rc = doc.get("ResourceConfig") or {}
        groups = rc.get("InstanceGroups") or []
        if groups:
            return [(str(g.get("InstanceGroupName", "")), str(g.get("InstanceType", "")),
                     int(g.get("InstanceCount") or 1)) for g in groups]
        return [("", str(rc.get("InstanceType") or ""), int(rc.get("InstanceCount") or 1))]
    if kind.meta_kind == "processing-job":
        cc = (doc.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        return [("", str(cc.get("InstanceType") or ""), int(cc.get("InstanceCount") or 1))]
    if kind.meta_kind == "transform-job":
        tr = doc.get("TransformResources") or {}
        return [("", str(tr.get("InstanceType") or ""), int(tr.get("InstanceCount") or 1))]
    return [("", COMPILATION_TYPE, 1)]


class Observer:
    """Reads the store. A tuning job's training jobs carry its tags too, for cost allocation by tag."""

    def __init__(self, meta: MetaStore):
        self.meta = meta

    def _parent_tags(self, parent_arn: str) -> dict[str, str]:
        if not parent_arn or "/" not in parent_arn:
            return {}
        r = self.meta.find("hyper-parameter-tuning-job", parent_arn.rsplit("/", 1)[-1])
        return tags_of(r.doc) if r is not None else {}

    def job(self, kind: JobKind, r: Resource) -> list[Observation]:
        """A job's observations: none before it has a start time (its instances are not yet up)."""
        start = _float(r.doc.get(kind.start_key))
        if start is None:
            return []
        end = None if r.status in kind.running else (_float(r.doc.get(kind.end_key)) or r.modified)
        tags = {**self._parent_tags(r.parent), **tags_of(r.doc)}
        return [Observation(kind.meta_kind, kind.aws_kind, r.name, r.arn, part, itype, count, start, end, tags,
                            user_of(r.doc))
                for part, itype, count in job_parts(kind, r.doc) if itype and count > 0]

    def running_jobs(self) -> Iterator[Observation]:
        for kind in JOB_KINDS:
            for r in self.meta.list_in_status(kind.meta_kind, kind.running):
                yield from self.job(kind, r)

    def ended_jobs(self, since: float) -> Iterator[Observation]:
        """Jobs that ended (changed) since ``since``: a short job the meter never saw running still counts."""
        for kind in JOB_KINDS:
            for r in _all(self.meta, kind.meta_kind, ListQuery(modified_after=since)):
                if r.status not in kind.running:
                    yield from self.job(kind, r)

    def job_end(self, aws_kind: str, name: str) -> float | None:
        """The own end time of a job (None if it runs, or is gone, or never recorded one)."""
        kind = BY_AWS_KIND.get(aws_kind)
        r = self.meta.find(kind.meta_kind, name) if kind else None
        if kind is None or r is None or r.status in kind.running:
            return None
        return _float(r.doc.get(kind.end_key)) or r.modified

    def endpoints(self) -> Iterator[Observation]:
        for r in _all(self.meta, ENDPOINT, ListQuery()):
            current = {str(v.get("VariantName")): int(v.get("CurrentInstanceCount") or 0)
                       for v in r.doc.get("ProductionVariants") or []}
            tags = tags_of(r.doc)
            for v in (r.doc.get("_spec") or {}).get("variants") or []:
                name, itype = str(v.get("name", "")), v.get("instance_type")
                count = current.get(name, 0)
                if itype and count > 0 and not v.get("serverless"):
                    yield Observation(ENDPOINT, "Endpoint", r.name, r.arn, name, str(itype), count, None, None,
                                      tags, user_of(r.doc))

    def notebooks(self) -> Iterator[Observation]:
        for r in self.meta.list_in_status(NOTEBOOK, ("InService",)):
            itype = r.doc.get("InstanceType")
            if itype:
                yield Observation(NOTEBOOK, "NotebookInstance", r.name, r.arn, "", str(itype), 1, None, None,
                                  tags_of(r.doc), user_of(r.doc))

    def running(self) -> list[Observation]:
        return [*self.running_jobs(), *self.endpoints(), *self.notebooks()]


def _all(meta: MetaStore, kind: str, query: ListQuery) -> Iterable[Resource]:
    query.max_results, query.sort_by, query.descending = 500, "created", False
    while True:
        page = meta.list(kind, query)
        yield from page.items
        if not page.next_token:
            return
        query.next_token = page.next_token
