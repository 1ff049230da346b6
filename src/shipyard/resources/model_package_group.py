"""The model package group resource: the named container of a model's versions in the registry.

Create, describe, list and delete. A group hands out its packages' version numbers (:func:`next_version`,
a compare-and-set on the stored group, so concurrent CreateModelPackage calls get distinct versions) and
cannot be deleted while it holds packages (ConflictException, as AWS answers).
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Services
from ..domain.arns import name_from
from ..domain.model_package_state import GroupState
from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..metastore.base import ListQuery, Resource

KIND = "model-package-group"
PACKAGE_KIND = "model-package"
SORT_KEYS = {"Name": "name", "CreationTime": "created"}
_CAS_TRIES = 500  # compare-and-set retries when many creates race for the next version


def _ts(value: Any) -> float | None:
    if value is None:
        return None
    return float(value.timestamp()) if hasattr(value, "timestamp") else float(value)


def get(services: Services, name_or_arn: str) -> Resource:
    """The stored group (by name or ARN); AWS answers an unknown one with a ValidationException."""
    name = name_from(name_or_arn)
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise ValidationError(f"Model Package Group {name!r} does not exist: create it with "
                              "CreateModelPackageGroup first.") from None


def create(services: Services, params: dict) -> dict:
    from . import deploy_on_approval  # its tag names an endpoint: refused now if that endpoint does not exist

    deploy_on_approval.check_tags(services, params.get("Tags"))
    name = params["ModelPackageGroupName"]
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {"ModelPackageGroupName": name, "ModelPackageGroupArn": arn,
                           "CreatedBy": {}}
    if params.get("ModelPackageGroupDescription"):
        doc["ModelPackageGroupDescription"] = params["ModelPackageGroupDescription"]
    doc.update(GroupState(tags=list(params["Tags"]) if params.get("Tags") else None).to_doc())
    try:
        services.meta.create(KIND, name, arn, "Completed", doc)
    except ResourceInUse:
        raise ResourceInUse(f"Model Package Group already exists: {arn}") from None
    return {"ModelPackageGroupArn": arn}


def describe(resource: Resource) -> dict:
    out = {k: v for k, v in resource.doc.items() if not k.startswith("_")}
    out["CreationTime"] = resource.created
    out["ModelPackageGroupStatus"] = resource.status
    return out


def list_groups(services: Services, params: dict) -> dict:
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in SORT_KEYS:
        raise ValidationError(f"SortBy must be one of {', '.join(SORT_KEYS)}.")
    q = ListQuery(name_contains=params.get("NameContains"), created_after=_ts(params.get("CreationTimeAfter")),
                  created_before=_ts(params.get("CreationTimeBefore")), sort_by=SORT_KEYS[sort_by],
                  descending=params.get("SortOrder", "Descending") != "Ascending",
                  max_results=int(params.get("MaxResults") or 10), next_token=params.get("NextToken"))
    page = services.meta.list(KIND, q)
    out: dict[str, Any] = {"ModelPackageGroupSummaryList": [
        {k: v for k, v in describe(r).items() if k in ("ModelPackageGroupName", "ModelPackageGroupArn",
                                                       "ModelPackageGroupDescription", "CreationTime",
                                                       "ModelPackageGroupStatus")}
        for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def delete(services: Services, name_or_arn: str) -> None:
    group = get(services, name_or_arn)
    held = services.meta.list(PACKAGE_KIND, ListQuery(parent=group.name.lower(), max_results=1))
    if held.items:
        raise ConflictError(f"Model Package Group {group.name!r} still holds model packages (such as "
                            f"{held.items[0].arn}): delete its model packages before the group.")
    try:
        services.meta.delete(KIND, group.name)
    except MissingResource:
        pass  # deleted meanwhile by another caller: the outcome the caller asked for


def next_version(services: Services, group_name: str) -> tuple[Resource, int]:
    """Take the group's next package version, safely under concurrent creates (compare-and-set on the group's
    store version, retried). Returns the group as it was and the version."""
    for _ in range(_CAS_TRIES):
        group = get(services, group_name)
        version = GroupState.of(group.doc).last_version + 1
        try:
            services.meta.update(KIND, group.name, GroupState.of(group.doc).changes(last_version=version),
                                 expect_version=group.version)
            return group, version
        except ConflictError:
            time.sleep(0.001)
        except MissingResource:
            break  # deleted meanwhile: get() says so below
    get(services, group_name)
    raise ConflictError(f"Could not take a version in Model Package Group {group_name!r}: too many concurrent "
                        "CreateModelPackage calls; retry.")
