"""Lineage entities: artifacts (a URI: data set, image, model), actions (a step: a model deployment) and
contexts (a grouping: an endpoint). Create, describe, list, update and delete, as SageMaker does.

An artifact has no name of its own: its ARN ends in a hash of its source (the URI and source types), so
there is one artifact per source, and a second CreateArtifact for the same source is refused naming the first
(:func:`ensure_artifact` is the get-or-create the automatic lineage uses). Actions and contexts are named by
their creator. Deleting an entity removes its associations, so a walk never meets a dangling edge.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..errors import MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import ListQuery, Resource


@dataclass(frozen=True)
class EntityKind:
    """How one lineage entity kind is named on the wire."""

    kind: str  # the store kind and ARN resource type
    noun: str  # Artifact | Action | Context (also the QueryLineage LineageType)
    type_key: str  # ArtifactType | ActionType | ContextType

    @property
    def name_key(self) -> str:
        return f"{self.noun}Name"

    @property
    def arn_key(self) -> str:
        return f"{self.noun}Arn"


ARTIFACT = EntityKind("artifact", "Artifact", "ArtifactType")
ACTION = EntityKind("action", "Action", "ActionType")
CONTEXT = EntityKind("context", "Context", "ContextType")
ENTITY_KINDS = {k.kind: k for k in (ARTIFACT, ACTION, CONTEXT)}
_SORT_KEYS = {"Name": "name", "CreationTime": "created"}
_CREATED = "Created"  # the store status of artifacts and contexts (actions keep their Status)


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def source_key(uri: str) -> str:
    """The store's ``parent`` of an entity: a fixed-length digest of its SourceUri (ListX's SourceUri filter)."""
    return hashlib.sha1(uri.encode()).hexdigest()


def artifact_id(source: dict) -> str:
    types = sorted((t.get("SourceIdType", ""), t.get("Value", "")) for t in source.get("SourceTypes") or [])
    raw = source["SourceUri"] + "\0" + "\0".join(f"{a}={b}" for a, b in types)
    return hashlib.sha256(raw.encode()).hexdigest()[:32]


def get(services: Services, ek: EntityKind, name_or_arn: str) -> Resource:
    """The stored entity; an unknown one is ResourceNotFound, as SageMaker answers."""
    name = name_from(name_or_arn)
    try:
        return services.meta.get(ek.kind, name)
    except MissingResource:
        raise ResourceNotFound(f"{ek.noun} {name_or_arn!r} does not exist: create it with Create{ek.noun} "
                               "first, or check the name/ARN.") from None


def describe(ek: EntityKind, resource: Resource) -> dict:
    out = {k: v for k, v in resource.doc.items() if not k.startswith("_")}  # ``_tags``: ListTags answers them
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    if ek is ACTION:
        out["Status"] = resource.status
    return out


def _summary(ek: EntityKind, resource: Resource) -> dict:
    full = describe(ek, resource)
    keys = (ek.arn_key, ek.name_key, "Source", ek.type_key, "Status", "CreationTime", "LastModifiedTime")
    return {k: full[k] for k in keys if k in full and (k != "Status" or ek is ACTION)}


def _check_properties(params: dict) -> None:
    props = params.get("Properties") or {}
    if len(props) > 30:
        raise ValidationError(f"Properties holds {len(props)} entries: at most 30 are allowed.")


def create(services: Services, ek: EntityKind, params: dict) -> dict:
    _check_properties(params)
    source = dict(params["Source"])
    if ek is ARTIFACT:
        name = artifact_id(source)
    else:
        name = params[ek.name_key]
    arn = services.arn(ek.kind, name)
    doc: dict[str, Any] = {ek.arn_key: arn, "Source": source, ek.type_key: params[ek.type_key],
                           "Properties": dict(params.get("Properties") or {}), "CreatedBy": {},
                           "LastModifiedBy": {}}
    if ek is ARTIFACT:
        if params.get("ArtifactName"):
            doc["ArtifactName"] = params["ArtifactName"]
    else:
        doc[ek.name_key] = name
    if params.get("Description"):
        doc["Description"] = params["Description"]
    if params.get("MetadataProperties"):
        doc["MetadataProperties"] = params["MetadataProperties"]
    if params.get("Tags"):
        doc["_tags"] = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params["Tags"]]  # api/tags.py's key
    status = (params.get("Status") or "Unknown") if ek is ACTION else _CREATED
    try:
        services.meta.create(ek.kind, name, arn, status, doc, parent=source_key(source["SourceUri"]))
    except ResourceInUse:
        if ek is ARTIFACT:
            raise ValidationError(f"An artifact with source {source['SourceUri']!r} and these SourceTypes already "
                                  f"exists: {arn}. Use it (ListArtifacts with SourceUri finds it).") from None
        raise ValidationError(f"{ek.noun} {name!r} already exists ({arn}): choose another {ek.name_key}.") from None
    return {ek.arn_key: arn}


def ensure_artifact(services: Services, uri: str, artifact_type: str, name: str = "",
                    properties: dict | None = None) -> str:
    """The ARN of the artifact for ``uri`` (no SourceTypes), created if it does not exist yet."""
    source = {"SourceUri": uri}
    existing = services.meta.find(ARTIFACT.kind, artifact_id(source))
    if existing is not None:
        return existing.arn
    params: dict[str, Any] = {"Source": source, "ArtifactType": artifact_type, "Properties": properties or {}}
    if name:
        params["ArtifactName"] = name[:120]
    try:
        return create(services, ARTIFACT, params)[ARTIFACT.arn_key]
    except ValidationError:  # created meanwhile by another job's listener
        return services.meta.get(ARTIFACT.kind, artifact_id(source)).arn


def ensure_named(services: Services, ek: EntityKind, params: dict) -> str:
    """The ARN of the action or context named in ``params``, created if it does not exist yet."""
    existing = services.meta.find(ek.kind, params[ek.name_key])
    if existing is not None:
        return existing.arn
    try:
        return create(services, ek, params)[ek.arn_key]
    except ValidationError:
        return services.meta.get(ek.kind, params[ek.name_key]).arn


def list_entities(services: Services, ek: EntityKind, params: dict) -> dict:
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in _SORT_KEYS or (ek is ARTIFACT and sort_by != "CreationTime"):
        allowed = "CreationTime" if ek is ARTIFACT else "Name, CreationTime"
        raise ValidationError(f"SortBy {sort_by!r} is not supported for List{ek.noun}s: use {allowed}.")
    doc_equals = {ek.type_key: params[ek.type_key]} if params.get(ek.type_key) else {}
    q = ListQuery(created_after=_ts(params.get("CreatedAfter")), created_before=_ts(params.get("CreatedBefore")),
                  parent=source_key(params["SourceUri"]) if params.get("SourceUri") else None,
                  sort_by=_SORT_KEYS[sort_by], descending=params.get("SortOrder", "Descending") != "Ascending",
                  max_results=int(params.get("MaxResults") or 10), next_token=params.get("NextToken"),
                  doc_equals=doc_equals)
    page = services.meta.list(ek.kind, q)
    out: dict[str, Any] = {f"{ek.noun}Summaries": [_summary(ek, r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def update(services: Services, ek: EntityKind, name_or_arn: str, params: dict) -> dict:
    current = get(services, ek, name_or_arn)
    props = dict(current.doc.get("Properties") or {})
    for key in params.get("PropertiesToRemove") or []:
        props.pop(key, None)
    props.update(params.get("Properties") or {})
    _check_properties({"Properties": props})
    changes: dict[str, Any] = {"Properties": props}
    for key in ("ArtifactName", "Description"):
        if params.get(key) is not None and (key == "ArtifactName") == (ek is ARTIFACT):
            changes[key] = params[key]
    status = params.get("Status") if ek is ACTION else None
    services.meta.update(ek.kind, current.name, changes, status=status)
    return {ek.arn_key: current.arn}


def delete(services: Services, ek: EntityKind, params: dict) -> dict:
    if ek is ARTIFACT:
        if params.get("ArtifactArn"):
            current = get(services, ek, params["ArtifactArn"])
        elif params.get("Source"):
            current = get(services, ek, artifact_id(params["Source"]))
        else:
            raise ValidationError("DeleteArtifact needs ArtifactArn or Source (the artifact's SourceUri).")
    else:
        current = get(services, ek, params[ek.name_key])
    services.meta.delete_associations_of(current.arn)
    try:
        services.meta.delete(ek.kind, current.name)
    except MissingResource:
        pass  # deleted meanwhile: the outcome the caller asked for
    return {ek.arn_key: current.arn}
