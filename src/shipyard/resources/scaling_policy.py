"""Scalable targets, scaling policies and scaling activities (Application Auto Scaling for endpoint variants).

The store kinds and the operations that both :mod:`shipyard.api.autoscaling` (the wire adapter) and the
autoscaling controller (:mod:`shipyard.controllers.autoscaling`, which applies the policies) use: reading every
target or policy, and recording what a scaling step did so DescribeScalingActivities shows it and cooldowns
survive a server restart.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

from ..metastore.base import ListQuery, MetaStore, Resource

TARGET, POLICY, ACTIVITY = "scalable-target", "scaling-policy", "scaling-activity"
DIMENSION = "sagemaker:variant:DesiredInstanceCount"
RESOURCE_ID = re.compile(r"^endpoint/([^/]+)/variant/([^/]+)$")  # the one resource shape served


def target_key(resource_id: str, dimension: str) -> str:
    """The store name of a scalable target (and the parent of its policies and activities)."""
    return f"{resource_id}|{dimension}"


def endpoint_variant(resource_id: str) -> tuple[str, str] | None:
    """``endpoint/<ep>/variant/<v>`` -> (ep, v); None for any other resource id."""
    m = RESOURCE_ID.match(resource_id)
    return (m.group(1), m.group(2)) if m else None


def all_of(meta: MetaStore, kind: str, parent: str | None = None) -> list[Resource]:
    """Every stored resource of ``kind`` (under ``parent``), oldest first, reading page by page."""
    items: list[Resource] = []
    token = None
    while True:
        page = meta.list(kind, ListQuery(parent=parent, sort_by="created", descending=False, max_results=100,
                                         next_token=token))
        items.extend(page.items)
        token = page.next_token
        if not token:
            return items


def record_activity(meta: MetaStore, target: dict[str, Any], old: int, new: int, cause: str) -> dict[str, Any]:
    """Record a scaling step of ``target`` from ``old`` to ``new`` instances as a successful activity.

    ``Details`` (``from <old> to <new>``) is what the controller reads back to find its last scale-out and
    scale-in times after a restart."""
    now = time.time()
    activity_id = str(uuid.uuid4())
    doc = {"ActivityId": activity_id, "ServiceNamespace": "sagemaker", "ResourceId": target["ResourceId"],
           "ScalableDimension": target["ScalableDimension"],
           "Description": f"Setting desired instance count to {new}.",
           "Cause": cause, "StartTime": now, "EndTime": now, "StatusCode": "Successful",
           "StatusMessage": f"Successfully set desired instance count to {new}. Change successfully fulfilled by "
                            "sagemaker.", "Details": f"from {old} to {new}"}
    meta.create(ACTIVITY, activity_id, activity_id, "Successful", doc,
                parent=target_key(target["ResourceId"], target["ScalableDimension"]))
    return doc
