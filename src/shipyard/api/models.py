"""Model operations: CreateModel, DescribeModel, ListModels, DeleteModel.

A model is a stored description only (image, artifact, environment); nothing runs until an endpoint or a
transform job uses it. As on AWS, deleting a model that a live endpoint uses is allowed: the endpoint took
its own copy of the container definitions when it was created (see :mod:`.endpoints`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import MissingResource, ResourceInUse, ValidationError
from ..objectstore.base import is_s3_uri
from .listing import STANDARD_SORT, list_page
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services
    from ..metastore.base import Resource

NAME_TIME = {k: v for k, v in STANDARD_SORT.items() if k != "Status"}

KIND = "model"


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def get_model(services: Services, name: str) -> Resource:
    try:
        return services.meta.get(KIND, name)
    except MissingResource:
        raise MissingResource("model", services.arn(KIND, name)) from None


def containers_of(doc: dict) -> list[dict]:
    return list(doc.get("Containers") or ([doc["PrimaryContainer"]] if doc.get("PrimaryContainer") else []))


def _check_container(c: dict) -> None:
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


@operation("sagemaker", "CreateModel")
def create_model(services: Services, params: dict) -> dict:
    name = params["ModelName"]
    containers = containers_of(params)
    if not containers:
        raise ValidationError("Either PrimaryContainer or Containers must be provided.")
    if params.get("PrimaryContainer") and params.get("Containers"):
        raise ValidationError("Specify either PrimaryContainer or Containers, not both.")
    for c in containers:
        _check_container(c)
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {k: v for k, v in params.items() if k != "Tags"}
    doc.update({"ModelName": name, "ModelArn": arn, "CreationTime": time.time()})
    try:
        services.meta.create(KIND, name, arn, "Created", doc)
    except ResourceInUse:
        raise ResourceInUse(f'Cannot create already existing model "{arn}".') from None
    return {"ModelArn": arn}


@operation("sagemaker", "DescribeModel")
def describe_model(services: Services, params: dict) -> dict:
    return public(get_model(services, params["ModelName"]).doc)


@operation("sagemaker", "DeleteModel")
def delete_model(services: Services, params: dict) -> dict:
    name = params["ModelName"]
    try:
        services.meta.delete(KIND, name)
    except MissingResource:
        raise MissingResource("model", services.arn(KIND, name)) from None
    return {}


@operation("sagemaker", "ListModels")
def list_models(services: Services, params: dict) -> dict:
    return list_page(services, KIND, params, "Models",
                     lambda r: {"ModelName": r.name, "ModelArn": r.arn, "CreationTime": r.created},
                     sort_fields=NAME_TIME)
