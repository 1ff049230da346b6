"""The model resource: a stored description only (image, artifact, environment); nothing runs until an endpoint
or a transform job uses it. CreateModel's checks live here so that a pipeline's Model step validates a model
exactly as a user's CreateModel does; :mod:`shipyard.api.models` adapts the wire to these functions.

A container that names a registered model package (``ModelPackageName``, the SDK's ``ModelPackage.deploy()``)
is resolved to the package's containers when the model is created, so hosting and transform see an Image and
a ModelDataUrl like any other model's (the package name stays on the container, as DescribeModel shows it).
As on AWS, deleting a model that a live endpoint uses is allowed: the endpoint took its own copy of the
container definitions when it was created.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Services
from ..errors import MissingResource, ResourceInUse, ValidationError
from ..metastore.base import Resource
from ..objectstore.base import is_s3_uri

KIND = "model"


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def get(services: Services, name: str) -> Resource:
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise MissingResource("model", services.arn(KIND, name)) from None


def containers_of(doc: dict) -> list[dict]:
    return list(doc.get("Containers") or ([doc["PrimaryContainer"]] if doc.get("PrimaryContainer") else []))


def check_container(c: dict) -> None:
    """What SageMaker checks in one container definition before storing the model."""
    url = c.get("ModelDataUrl")
    if url is not None and not is_s3_uri(url):  # s3:// or an S3 https object URL
        raise ValidationError(f"ModelDataUrl {url!r} is not a valid S3 URI: it must start with s3://.")
    mode = c.get("Mode", "SingleModel")
    if mode not in ("SingleModel", "MultiModel"):
        raise ValidationError(f"Container Mode {mode!r} is not one of SingleModel, MultiModel.")
    if mode == "MultiModel" and not (url or (c.get("ModelDataSource") or {}).get("S3DataSource")):
        raise ValidationError("A MultiModel container needs ModelDataUrl: the S3 prefix of its *.tar.gz models.")
    if not c.get("Image") and not c.get("ModelPackageName"):
        raise ValidationError("A container definition needs an Image.")
    if c.get("Image"):
        from ..algorithms.registry import check_image

        check_image(c["Image"])  # a framework image tag AWS never published


def _resolve_packages(services: Services, params: dict, containers: list[dict]) -> dict:
    """The request's container fields with model packages resolved (see the module docstring)."""
    if not any(c.get("ModelPackageName") for c in containers):
        return {}
    from .model_package import resolve_model_package_containers

    resolved = []
    for c in containers:
        for r in resolve_model_package_containers(services, [c]):
            if c.get("ModelPackageName"):
                r["ModelPackageName"] = c["ModelPackageName"]
            resolved.append(r)
    if params.get("PrimaryContainer") and len(resolved) == 1:
        return {"PrimaryContainer": resolved[0]}
    return {"PrimaryContainer": None, "Containers": resolved}


def create(services: Services, params: dict) -> dict:
    """Validate and store a CreateModel request; returns the response."""
    name = params["ModelName"]
    containers = containers_of(params)
    if not containers:
        raise ValidationError("Either PrimaryContainer or Containers must be provided.")
    if params.get("PrimaryContainer") and params.get("Containers"):
        raise ValidationError("Specify either PrimaryContainer or Containers, not both.")
    for c in containers:
        check_container(c)
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {k: v for k, v in params.items() if k != "Tags"}
    for key, value in _resolve_packages(services, params, containers).items():
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    doc.update({"ModelName": name, "ModelArn": arn, "CreationTime": time.time()})
    try:
        services.meta.create(KIND, name, arn, "Created", doc)
    except ResourceInUse:
        raise ResourceInUse(f'Cannot create already existing model "{arn}".') from None
    from ..lineage import auto as lineage_auto

    lineage_auto.on_model_created(services, doc)  # its data and images as artifacts (never raises)
    return {"ModelArn": arn}


def delete(services: Services, name: str) -> None:
    try:
        services.meta.delete(KIND, name)
    except MissingResource:
        raise MissingResource("model", services.arn(KIND, name)) from None
