"""AddTags, ListTags, DeleteTags on any stored SageMaker resource, found by its ARN.

The SageMaker SDK calls ListTags in ``Estimator.attach`` (and ``HyperparameterTuner.attach``), so without it
attaching to a job fails. Tags live in the resource document under the private key ``_tags`` (a list of
``{"Key", "Value"}`` in insertion order); a Create* request's ``Tags`` are used when no ``_tags`` were
recorded, so resources created before this module existed answer with what they were created with.
"""

from __future__ import annotations

import re

from ..errors import MissingResource, ValidationError
from .registry import operation

_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[^:]*:[^:]*:([a-z-]+)/(.+)$")
MAX_TAGS = 50


def _resource(services, arn: str):
    m = _ARN.match(arn or "")
    if not m:
        raise ValidationError(f"Invalid ResourceArn: {arn!r} is not a SageMaker resource ARN.")
    kind, name = m.group(1), m.group(2)
    if kind == "workteam" and name.startswith("private-crowd/"):  # workteam/private-crowd/<name>
        name = name.removeprefix("private-crowd/")
    try:
        return services.meta.get(kind, name)
    except MissingResource:
        raise ValidationError(f"Could not find resource {arn}.") from None


def _tags_of(resource) -> list[dict]:
    tags = resource.doc.get("_tags")
    if tags is None:
        tags = resource.doc.get("Tags") or []
    return [{"Key": t["Key"], "Value": t.get("Value", "")} for t in tags]


@operation("sagemaker", "ListTags")
def list_tags(services, params: dict) -> dict:
    tags = _tags_of(_resource(services, params["ResourceArn"]))
    limit = int(params.get("MaxResults") or 50)
    start = int(params.get("NextToken") or 0) if str(params.get("NextToken") or "0").isdigit() else 0
    out: dict = {"Tags": tags[start:start + limit]}
    if start + limit < len(tags):
        out["NextToken"] = str(start + limit)
    return out


@operation("sagemaker", "AddTags")
def add_tags(services, params: dict) -> dict:
    r = _resource(services, params["ResourceArn"])
    merged = {t["Key"]: t["Value"] for t in _tags_of(r)}
    for t in params.get("Tags") or []:
        merged[t["Key"]] = t.get("Value", "")
    if len(merged) > MAX_TAGS:
        raise ValidationError(f"A resource can have at most {MAX_TAGS} tags.")
    if r.kind == "monitoring-schedule":  # its retrain tags name a pipeline and parameters: checked as at create
        from ..resources import monitoring_schedule

        monitoring_schedule.check_tags(services, r, params.get("Tags") or [])
    if r.kind == "model-package-group":  # shipyard:deploy-on-approval must name an existing endpoint
        from ..resources import deploy_on_approval

        deploy_on_approval.check_tags(services, params.get("Tags") or [])
    tags = [{"Key": k, "Value": v} for k, v in merged.items()]
    services.meta.update(r.kind, r.name, {"_tags": tags})
    return {"Tags": tags}


@operation("sagemaker", "DeleteTags")
def delete_tags(services, params: dict) -> dict:
    r = _resource(services, params["ResourceArn"])
    drop = set(params.get("TagKeys") or [])
    services.meta.update(r.kind, r.name, {"_tags": [t for t in _tags_of(r) if t["Key"] not in drop]})
    return {}
