"""Lineage associations and QueryLineage: typed, directed edges between lineage entities, and a breadth-first
walk over them.

Edges join experiments, trials, trial components, artifacts, actions and contexts only (SageMaker refuses any
other ARN, a raw job ARN included). Each edge records its ends' types and names when it is added, so a walk of
depth d is d indexed queries (``MetaStore.neighbours``) and reads no entity unless a filter needs its dates or
properties. ``Both`` walks ascendants and descendants separately (siblings of the start are not lineage).
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..errors import MissingResource, ResourceNotFound, ValidationError
from ..metastore.base import Association, AssociationQuery, Resource
from .lineage_entities import ENTITY_KINDS, describe

ASSOCIATION_TYPES = ("ContributedTo", "AssociatedWith", "DerivedFrom", "Produced", "SameAs")
# ARN resource type -> QueryLineage's LineageType (experiments and trials are contexts of the lineage graph)
LINEAGE_TYPES = {"artifact": "Artifact", "action": "Action", "context": "Context",
                 "experiment-trial-component": "TrialComponent", "experiment": "Context",
                 "experiment-trial": "Context"}
# A trial component's Source.SourceType -> its vertex Type (the SDK's LineageSourceEnum)
JOB_TYPES = {"SageMakerTrainingJob": "TrainingJob", "SageMakerProcessingJob": "ProcessingJob",
             "SageMakerTransformJob": "TransformJob"}
MAX_DEPTH = 10
_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:([a-z-]+)/(.+)$")
_SORT_KEYS = {"SourceArn": "source_arn", "DestinationArn": "destination_arn", "SourceType": "source_type",
              "DestinationType": "destination_type", "CreationTime": "created"}


@dataclass(frozen=True)
class EntityRef:
    """A lineage entity named by its ARN: its store kind and name."""

    arn: str
    kind: str
    name: str

    @property
    def lineage_type(self) -> str:
        return LINEAGE_TYPES[self.kind]


def parse_arn(arn: str, field: str) -> EntityRef:
    m = _ARN.match(arn)
    if not m or m.group(1) not in LINEAGE_TYPES:
        raise ValidationError(f"{field} {arn!r} is not a lineage entity: associations join only experiment, trial, "
                              "trial component, artifact, action and context ARNs (for a job, use its trial "
                              "component, e.g. <job>-aws-training-job).")
    return EntityRef(arn=arn, kind=m.group(1), name=m.group(2))


def entity_type(kind: str, doc: dict) -> str:
    """The vertex Type of an entity: its ArtifactType/ActionType/ContextType, or a trial component's job kind."""
    if kind in ENTITY_KINDS:
        return str(doc.get(ENTITY_KINDS[kind].type_key, ""))
    if kind == "experiment-trial-component":
        return JOB_TYPES.get((doc.get("Source") or {}).get("SourceType", ""), "")
    return {"experiment": "Experiment", "experiment-trial": "Trial"}.get(kind, "")


def entity_name(kind: str, resource: Resource) -> str:
    if kind == "artifact":
        return str(resource.doc.get("ArtifactName", ""))
    return resource.name


def _load(services: Services, ref: EntityRef) -> Resource | None:
    return services.meta.find(ref.kind, ref.name)


def link(services: Services, source: EntityRef, destination: EntityRef, association_type: str,
         source_type: str = "", destination_type: str = "", source_name: str = "",
         destination_name: str = "") -> None:
    """Add an edge without requiring both ends to exist yet (the automatic lineage links a trial component
    whose recorder runs a moment later): types and names given here stand in for the entities'."""
    services.meta.add_association(Association(
        source_arn=source.arn, destination_arn=destination.arn, association_type=association_type,
        source_type=source_type, destination_type=destination_type, source_name=source_name,
        destination_name=destination_name))


def add(services: Services, params: dict) -> dict:
    source = parse_arn(params["SourceArn"], "SourceArn")
    destination = parse_arn(params["DestinationArn"], "DestinationArn")
    kind = params.get("AssociationType") or "AssociatedWith"
    if kind not in ASSOCIATION_TYPES:
        raise ValidationError(f"AssociationType {kind!r} is invalid: use one of {', '.join(ASSOCIATION_TYPES)}.")
    if source.arn == destination.arn:
        raise ValidationError("SourceArn and DestinationArn are the same entity: an association joins two.")
    ends = []
    for ref, field in ((source, "SourceArn"), (destination, "DestinationArn")):
        found = _load(services, ref)
        if found is None:
            raise ResourceNotFound(f"{field} {ref.arn!r} does not exist: create the {ref.lineage_type.lower()} "
                                   "first.")
        ends.append(found)
    link(services, source, destination, kind, entity_type(source.kind, ends[0].doc),
         entity_type(destination.kind, ends[1].doc), entity_name(source.kind, ends[0]),
         entity_name(destination.kind, ends[1]))
    return {"SourceArn": source.arn, "DestinationArn": destination.arn}


def delete(services: Services, params: dict) -> dict:
    try:
        services.meta.delete_association(params["SourceArn"], params["DestinationArn"])
    except MissingResource:
        raise ResourceNotFound(f"No association from {params['SourceArn']!r} to {params['DestinationArn']!r}: "
                               "ListAssociations shows the existing ones.") from None
    return {"SourceArn": params["SourceArn"], "DestinationArn": params["DestinationArn"]}


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def summary(a: Association) -> dict:
    out: dict[str, Any] = {"SourceArn": a.source_arn, "DestinationArn": a.destination_arn,
                           "AssociationType": a.association_type, "CreationTime": a.created, "CreatedBy": {}}
    for key, value in (("SourceType", a.source_type), ("DestinationType", a.destination_type),
                       ("SourceName", a.source_name), ("DestinationName", a.destination_name)):
        if value:
            out[key] = value
    return out


def list_associations(services: Services, params: dict) -> dict:
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in _SORT_KEYS:
        raise ValidationError(f"SortBy {sort_by!r} is invalid: use one of {', '.join(_SORT_KEYS)}.")
    q = AssociationQuery(source_arn=params.get("SourceArn"), destination_arn=params.get("DestinationArn"),
                         source_type=params.get("SourceType"), destination_type=params.get("DestinationType"),
                         association_type=params.get("AssociationType"),
                         created_after=_ts(params.get("CreatedAfter")),
                         created_before=_ts(params.get("CreatedBefore")), sort_by=_SORT_KEYS[sort_by],
                         descending=params.get("SortOrder", "Descending") != "Ascending",
                         max_results=int(params.get("MaxResults") or 10), next_token=params.get("NextToken"))
    page = services.meta.list_associations(q)
    out: dict[str, Any] = {"AssociationSummaries": [summary(a) for a in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


# --- QueryLineage ---

@dataclass
class Vertex:
    arn: str
    type: str
    lineage_type: str

    def wire(self) -> dict:
        out = {"Arn": self.arn, "LineageType": self.lineage_type}
        if self.type:
            out["Type"] = self.type
        return out


def _lineage_type_of(arn: str) -> str:
    """The LineageType an ARN names (``...:artifact/<id>`` -> Artifact), without a regex: walks call it for
    every vertex."""
    slash = arn.find("/")
    return LINEAGE_TYPES.get(arn[arn.rfind(":", 0, slash) + 1:slash], "Artifact")


def walk(services: Services, start: str, direction: str, max_depth: int) -> tuple[list[Vertex], list[Association]]:
    """Breadth-first from ``start`` up to ``max_depth`` edges away: the vertices met (in order of distance,
    without the start) and the edges crossed. The store hands over the reachable edges in one query per
    direction; the order is worked out here."""
    vertices: dict[str, Vertex] = {}
    edges: dict[tuple[str, str], Association] = {}
    for way in (("Ascendants", "Descendants") if direction == "Both" else (direction,)):
        found = services.meta.reachable_edges(start, way, max_depth)
        nexts: dict[str, list[Association]] = {}
        for a in found:
            edges.setdefault((a.source_arn, a.destination_arn), a)
            nexts.setdefault(a.source_arn if way == "Descendants" else a.destination_arn, []).append(a)
        seen, frontier = {start}, [start]
        for _ in range(max_depth):
            step = []
            for here in frontier:
                for a in nexts.get(here, ()):
                    arn, kind = ((a.destination_arn, a.destination_type) if way == "Descendants"
                                 else (a.source_arn, a.source_type))
                    if arn in seen:
                        continue
                    seen.add(arn)
                    step.append(arn)
                    if arn not in vertices:
                        vertices[arn] = Vertex(arn, kind, _lineage_type_of(arn))
            if not step:
                break
            frontier = step
    return list(vertices.values()), list(edges.values())


def _matches(services: Services, v: Vertex, filters: dict) -> bool:
    if filters.get("Types") and v.type not in filters["Types"]:
        return False
    if filters.get("LineageTypes") and v.lineage_type not in filters["LineageTypes"]:
        return False
    time_keys = ("CreatedBefore", "CreatedAfter", "ModifiedBefore", "ModifiedAfter")
    if not any(filters.get(k) is not None for k in time_keys) and not filters.get("Properties"):
        return True
    ref = parse_arn(v.arn, "Vertex")
    resource = _load(services, ref)
    if resource is None:
        return False
    bounds = {k: _ts(filters.get(k)) for k in time_keys}
    if bounds["CreatedBefore"] is not None and not resource.created < bounds["CreatedBefore"]:
        return False
    if bounds["CreatedAfter"] is not None and not resource.created > bounds["CreatedAfter"]:
        return False
    if bounds["ModifiedBefore"] is not None and not resource.modified < bounds["ModifiedBefore"]:
        return False
    if bounds["ModifiedAfter"] is not None and not resource.modified > bounds["ModifiedAfter"]:
        return False
    props = (describe(ENTITY_KINDS[ref.kind], resource) if ref.kind in ENTITY_KINDS else resource.doc).get(
        "Properties") or {}
    return all(props.get(k) == want for k, want in (filters.get("Properties") or {}).items())


def _start_vertex(services: Services, arn: str) -> Vertex:
    ref = parse_arn(arn, "StartArns")
    resource = _load(services, ref)
    if resource is not None:
        return Vertex(arn, entity_type(ref.kind, resource.doc), ref.lineage_type)
    linked = services.meta.neighbours([arn], "Both")  # a trial component linked before it was recorded
    if not linked:
        raise ResourceNotFound(f"StartArns {arn!r} does not exist and has no associations: check the ARN.")
    a = linked[0]
    return Vertex(arn, a.source_type if a.source_arn == arn else a.destination_type, ref.lineage_type)


def query(services: Services, params: dict) -> dict:
    starts = params.get("StartArns") or []
    if len(starts) != 1:
        raise ValidationError(f"StartArns holds {len(starts)} ARNs: QueryLineage takes exactly one.")
    direction = params.get("Direction") or "Both"
    if direction not in ("Ascendants", "Descendants", "Both"):
        raise ValidationError(f"Direction {direction!r} is invalid: use Ascendants, Descendants or Both.")
    depth = int(params["MaxDepth"]) if params.get("MaxDepth") is not None else MAX_DEPTH
    if not 0 <= depth <= MAX_DEPTH:
        raise ValidationError(f"MaxDepth {depth} is out of range: use 0 to {MAX_DEPTH}.")
    start = _start_vertex(services, starts[0])
    vertices, edges = walk(services, start.arn, direction, depth)
    if params.get("IncludeSource"):
        vertices.insert(0, start)
    filters = params.get("Filters") or {}
    if any(filters.values()):
        vertices = [v for v in vertices if _matches(services, v, filters)]
    offset = _decode_offset(params["NextToken"]) if params.get("NextToken") else 0
    limit = int(params["MaxResults"]) if params.get("MaxResults") else len(vertices) or 1
    page = vertices[offset:offset + limit]
    out: dict[str, Any] = {"Vertices": [v.wire() for v in page], "Edges": []}
    if params.get("IncludeEdges"):
        whole = offset == 0 and limit >= len(vertices)  # one page: every edge walked; else the page's own
        shown = {v.arn for v in page} | {start.arn}
        out["Edges"] = [{"SourceArn": a.source_arn, "DestinationArn": a.destination_arn,
                         "AssociationType": a.association_type} for a in edges
                        if whole or (a.source_arn in shown and a.destination_arn in shown)]
    if offset + limit < len(vertices):
        out["NextToken"] = base64.urlsafe_b64encode(json.dumps({"o": offset + limit}).encode()).decode()
    return out


def _decode_offset(token: str) -> int:
    try:
        return max(0, int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"]))
    except (ValueError, KeyError, TypeError):
        raise ValidationError("NextToken is invalid: pass the NextToken of the previous QueryLineage page "
                              "unchanged.") from None
