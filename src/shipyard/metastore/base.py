"""The metadata-store interface and its contract.

Every SageMaker resource is one :class:`Resource`: a kind (``training-job``, ``endpoint``, ...), a unique
name within the kind, a status, timestamps and the resource's whole description as a JSON document
(``doc``, shaped like the Describe* response). One generic table serves every kind, so a new resource kind
needs no schema change.

Contract (every backend; checked by ``shipyard.testing.metastore.MetaStoreConformance``):

- Thread safety: every method may be called from any thread; each call is one transaction.
- ``create`` raises :class:`~shipyard.errors.ResourceInUse` if (kind, name) exists. Names compare
  case-insensitively, as SageMaker's do (the ARN is lower-cased).
- ``get``/``update``/``delete`` raise :class:`~shipyard.errors.MissingResource` for an unknown name.
- ``update`` merges ``changes`` into ``doc`` (top-level keys; a value of ``None`` removes the key), sets
  ``status`` if given and bumps ``version``. With ``expect_status`` (a set) it is a compare-and-set:
  it raises :class:`~shipyard.errors.ConflictError` when the current status is not in the set; with
  ``expect_version`` likewise for the version. Controllers use this so two writers never lose an update.
- ``list`` filters, sorts and pages; ``next_token`` is opaque and stable across calls.
- ``append_logs`` keeps events in order per (group, stream); ``get_logs`` pages forward from a token.
- Timestamps are floats, seconds since the epoch, UTC.
"""

from __future__ import annotations

import abc
import builtins
from dataclasses import dataclass, field
from typing import Any, Iterable

from .search_query import SearchQuery


@dataclass
class Resource:
    kind: str
    name: str
    arn: str
    status: str
    created: float
    modified: float
    doc: dict[str, Any]
    parent: str = ""  # e.g. the tuning job that launched a training job; "" if none
    version: int = 1


@dataclass
class ListQuery:
    """What every SageMaker List* call can ask. Unset fields do not filter."""

    name_contains: str | None = None
    status_equals: str | None = None
    parent: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    modified_after: float | None = None
    modified_before: float | None = None
    sort_by: str = "created"  # created | name | status | modified
    descending: bool = True
    max_results: int = 100
    next_token: str | None = None
    # exact-match filters on top-level doc fields, e.g. {"EndpointConfigName": "x"}
    doc_equals: dict[str, Any] = field(default_factory=dict)


@dataclass
class Page:
    items: list[Resource]
    next_token: str | None


@dataclass
class LogEvent:
    timestamp: float  # seconds
    message: str
    ingestion_time: float = 0.0


@dataclass
class LogStream:
    group: str
    stream: str
    first_event: float
    last_event: float
    last_ingestion: float
    stored_bytes: int = 0


class MetaStore(abc.ABC):
    """Interface of a metadata store. See the module docstring for the contract."""

    @abc.abstractmethod
    def create(self, kind: str, name: str, arn: str, status: str, doc: dict, parent: str = "") -> Resource: ...

    @abc.abstractmethod
    def get(self, kind: str, name: str) -> Resource: ...

    def find(self, kind: str, name: str) -> Resource | None:
        from ..errors import MissingResource

        try:
            return self.get(kind, name)
        except MissingResource:
            return None

    @abc.abstractmethod
    def update(self, kind: str, name: str, changes: dict | None = None, status: str | None = None,
               expect_status: Iterable[str] | None = None, expect_version: int | None = None) -> Resource: ...

    @abc.abstractmethod
    def delete(self, kind: str, name: str) -> None: ...

    # Named as the store's operation; it shadows the builtin inside this class body, so the annotations
    # below it say ``builtins.list``.
    @abc.abstractmethod
    def list(self, kind: str, query: ListQuery | None = None) -> Page: ...

    @abc.abstractmethod
    def list_in_status(self, kind: str, statuses: Iterable[str]) -> builtins.list[Resource]:
        """All resources of a kind whose status is in ``statuses`` (for controllers; unpaged)."""

    # --- logs (the CloudWatch Logs subset) ---
    @abc.abstractmethod
    def append_logs(self, group: str, stream: str, events: builtins.list[LogEvent]) -> None: ...

    @abc.abstractmethod
    def get_logs(self, group: str, stream: str, start_from_head: bool = True, next_token: str | None = None,
                 limit: int = 10000, start_time: float | None = None,
                 end_time: float | None = None) -> tuple[builtins.list[LogEvent], str, str]:
        """Return (events, next_forward_token, next_backward_token)."""

    @abc.abstractmethod
    def list_log_streams(self, group: str, prefix: str = "", limit: int = 50,
                         next_token: str | None = None, descending: bool = False,
                         order_by: str = "LogStreamName") -> tuple[builtins.list[LogStream], str | None]: ...

    # Log retention and deletion. Contract: ``delete_logs_before`` removes the group's events stamped before
    # ``before`` (seconds) and returns how many; streams stay, their ``first_event`` and ``stored_bytes``
    # follow what is left. ``delete_log_streams`` removes one stream (every stream of the group when ``stream``
    # is None) with its events and returns how many streams went.
    def delete_logs_before(self, group: str, before: float) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not delete log events")

    def delete_log_streams(self, group: str, stream: str | None = None) -> int:
        raise NotImplementedError(f"{type(self).__name__} does not delete log streams")

    # --- metric series (per training job, for tuning's early stopping and Describe) ---
    @abc.abstractmethod
    def append_metrics(self, job: str, points: builtins.list[tuple[str, float, float, int]]) -> None:
        """Append (metric name, value, timestamp, step) points for a job."""

    @abc.abstractmethod
    def get_metrics(self, job: str, name: str | None = None) -> builtins.list[tuple[str, float, float, int]]: ...

    def close(self) -> None:
        """Release connections."""

    # --- lineage associations (directed edges between lineage entity ARNs; QueryLineage walks them) ---
    # Contract: ``add_association`` is idempotent on (source, destination): a second add keeps the first edge
    # and returns it; ``delete_association`` raises MissingResource for an edge that does not exist;
    # ``list_associations`` pages like ``list`` (opaque, stable token); ``neighbours`` returns every edge
    # leaving (``Descendants``), entering (``Ascendants``) or touching (``Both``) any of the given ARNs, in
    # one round trip, so a breadth-first walk of depth d costs d queries.
    def add_association(self, association: Association) -> Association:
        raise NotImplementedError(f"{type(self).__name__} does not store lineage associations")

    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not store lineage associations")

    def delete_associations_of(self, arn: str) -> int:
        """Remove every edge that starts or ends at ``arn`` (its entity was deleted); returns how many."""
        raise NotImplementedError(f"{type(self).__name__} does not store lineage associations")

    def list_associations(self, query: AssociationQuery | None = None) -> AssociationPage:
        raise NotImplementedError(f"{type(self).__name__} does not store lineage associations")

    def neighbours(self, arns: Iterable[str], direction: str) -> builtins.list[Association]:
        raise NotImplementedError(f"{type(self).__name__} does not store lineage associations")

    def reachable_edges(self, start: str, direction: str, max_depth: int) -> builtins.list[Association]:
        """Every edge a walk from ``start`` crosses within ``max_depth`` steps, going ``Descendants`` (along
        edges) or ``Ascendants`` (against them). This default walks with ``neighbours`` (one query a level); a
        backend may answer in one query (the SQL store uses a recursive CTE)."""
        edges: dict[tuple[str, str], Association] = {}
        seen, frontier = {start}, [start]
        for _ in range(max_depth):
            if not frontier:
                break
            step = []
            for a in self.neighbours(frontier, direction):
                edges.setdefault((a.source_arn, a.destination_arn), a)
                arn = a.destination_arn if direction == "Descendants" else a.source_arn
                if arn not in seen:
                    seen.add(arn)
                    step.append(arn)
            frontier = step
        return builtins.list(edges.values())

    # --- Search (SageMaker's Search API over searchable kinds; see .search_query) ---
    # Contract: ``search`` returns one page of ``kind`` resources matching ``query.expression`` (already
    # validated by the caller), ordered by ``query.sort_by`` (a property path; resources without the property
    # come last) or by the last-modified time, with an opaque next token tied to the same query; it raises
    # ValidationError for a token of another query. It must not scan every document: 100,000 records answer
    # in milliseconds.
    def search(self, kind: str, query: SearchQuery) -> Page:
        raise NotImplementedError(f"{type(self).__name__} does not support Search")


@dataclass
class Association:
    """One lineage edge. Types are the ends' ArtifactType/ActionType/ContextType (or the trial component's
    job kind), recorded when the edge is added so a walk never needs to read the entities."""

    source_arn: str
    destination_arn: str
    association_type: str = ""  # ContributedTo | AssociatedWith | DerivedFrom | Produced | SameAs
    source_type: str = ""
    destination_type: str = ""
    source_name: str = ""
    destination_name: str = ""
    created: float = 0.0


@dataclass
class AssociationQuery:
    """ListAssociations' filters; unset fields do not filter."""

    source_arn: str | None = None
    destination_arn: str | None = None
    source_type: str | None = None
    destination_type: str | None = None
    association_type: str | None = None
    created_after: float | None = None
    created_before: float | None = None
    sort_by: str = "created"  # created | source_arn | destination_arn | source_type | destination_type
    descending: bool = True
    max_results: int = 10
    next_token: str | None = None


@dataclass
class AssociationPage:
    items: list[Association]
    next_token: str | None
