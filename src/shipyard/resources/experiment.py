"""The experiment resource: the named group of trials (SDK ``Run``s live in its trials).

Create, describe, list, update and delete. As on AWS, creating a name that exists is a ValidationException whose
message says "already exists" (the SageMaker SDK's ``_load_or_create`` relies on that wording), an unknown name
is ResourceNotFound, and an experiment that still holds trials cannot be deleted. The list helpers at the end are
shared by trials and trial components, whose filtered lists are assembled from documents rather than one query.
"""

from __future__ import annotations

from typing import Any, Callable

from ..context import Services
from ..domain.arns import name_from
from ..errors import MissingResource, ResourceInUse, ResourceNotFound, ValidationError
from ..metastore.base import ListQuery, Resource

KIND = "experiment"
TRIAL_KIND = "experiment-trial"
SORT_KEYS = {"Name": "name", "CreationTime": "created"}
_LIST_ALL = 1_000_000  # one unpaged store read when a list is assembled in Python


def ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def public(doc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def get(services: Services, name_or_arn: str) -> Resource:
    name = name_from(name_or_arn)
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise ResourceNotFound(f"Experiment {name!r} does not exist: create it with CreateExperiment "
                               "first.") from None


def create(services: Services, params: dict, source: dict | None = None) -> dict:
    """``source`` (``{SourceArn, SourceType}``) is set only by the server, for an experiment a job made (as
    AWS's tuning jobs do); a user's CreateExperiment has none."""
    name = params["ExperimentName"]
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {"ExperimentName": name, "ExperimentArn": arn, "DisplayName": params.get("DisplayName")
                           or name, "CreatedBy": {}, "LastModifiedBy": {}}
    if source:
        doc["Source"] = dict(source)
    if params.get("Description"):
        doc["Description"] = params["Description"]
    if params.get("Tags"):
        doc["_tags"] = list(params["Tags"])
    try:
        services.meta.create(KIND, name, arn, "Active", doc)
    except ResourceInUse:
        raise ValidationError(f"Experiment {name!r} already exists ({arn}): pick another name or use "
                              "DescribeExperiment.") from None
    return {"ExperimentArn": arn}


def describe(resource: Resource) -> dict:
    out = public(resource.doc)
    out["CreationTime"] = resource.created
    out["LastModifiedTime"] = resource.modified
    return out


def summary(resource: Resource) -> dict:
    d = describe(resource)
    out = {k: d[k] for k in ("ExperimentArn", "ExperimentName", "DisplayName", "CreationTime", "LastModifiedTime")
           if k in d}
    if "Source" in d:
        out["ExperimentSource"] = d["Source"]
    return out


def list_experiments(services: Services, params: dict) -> dict:
    page = services.meta.list(KIND, list_query(params))
    out: dict[str, Any] = {"ExperimentSummaries": [summary(r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def update(services: Services, params: dict) -> dict:
    r = get(services, params["ExperimentName"])
    changes = {k: params[k] for k in ("DisplayName", "Description") if k in params}
    services.meta.update(KIND, r.name, changes)
    return {"ExperimentArn": r.arn}


def delete(services: Services, name: str) -> dict:
    r = get(services, name)
    held = services.meta.list(TRIAL_KIND, ListQuery(parent=r.name.lower(), max_results=1))
    if held.items:
        raise ValidationError(f"Experiment {r.name!r} still has trials (such as {held.items[0].name!r}): delete "
                              "its trials with DeleteTrial before the experiment.")
    services.meta.delete_associations_of(r.arn)  # its lineage edges go with it: no walk meets a dangling one
    try:
        services.meta.delete(KIND, r.name)
    except MissingResource:
        pass  # deleted meanwhile: the outcome asked for
    return {"ExperimentArn": r.arn}


# --- list helpers shared by experiments, trials and trial components ---

def list_query(params: dict, **extra: Any) -> ListQuery:
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in SORT_KEYS:
        raise ValidationError(f"SortBy must be one of {', '.join(SORT_KEYS)}; got {sort_by!r}.")
    return ListQuery(created_after=ts(params.get("CreatedAfter")), created_before=ts(params.get("CreatedBefore")),
                     sort_by=SORT_KEYS[sort_by], descending=params.get("SortOrder", "Descending") != "Ascending",
                     max_results=int(params.get("MaxResults") or 10), next_token=params.get("NextToken"), **extra)


def page_of(resources: list[Resource], params: dict, key: str, summarize: Callable[[Resource], dict]) -> dict:
    """Filter, sort and page resources gathered in Python (an association's members), as ``list_query`` would:
    the NextToken is the offset of the next item."""
    q = list_query(params)
    items = [r for r in resources if (q.created_after is None or r.created > q.created_after)
             and (q.created_before is None or r.created < q.created_before)]
    items.sort(key=(lambda r: r.name.lower()) if q.sort_by == "name" else (lambda r: r.created),
               reverse=q.descending)
    try:
        start = int(q.next_token or 0)
    except ValueError:
        raise ValidationError("NextToken is not one this server handed out: repeat the call without it.") from None
    chunk = items[start:start + q.max_results]
    out: dict[str, Any] = {key: [summarize(r) for r in chunk]}
    if start + q.max_results < len(items):
        out["NextToken"] = str(start + q.max_results)
    return out


def all_of(services: Services, kind: str, **filters: Any) -> list[Resource]:
    """Every resource of ``kind`` matching the store filters (unpaged)."""
    return services.meta.list(kind, ListQuery(max_results=_LIST_ALL, **filters)).items
