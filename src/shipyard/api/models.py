"""Model operations: CreateModel, DescribeModel, ListModels, DeleteModel: wire adapters over
:mod:`shipyard.resources.model` (where the checks and the model-package resolution live)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..resources import model
from ..resources.model import containers_of, public  # noqa: F401 - used by the endpoint operations
from .listing import STANDARD_SORT, list_page
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services
    from ..metastore.base import Resource

NAME_TIME = {k: v for k, v in STANDARD_SORT.items() if k != "Status"}

KIND = model.KIND


def get_model(services: Services, name: str) -> Resource:
    return model.get(services, name)


@operation("sagemaker", "CreateModel")
def create_model(services: Services, params: dict) -> dict:
    return model.create(services, params)


@operation("sagemaker", "DescribeModel")
def describe_model(services: Services, params: dict) -> dict:
    return public(model.get(services, params["ModelName"]).doc)


@operation("sagemaker", "DeleteModel")
def delete_model(services: Services, params: dict) -> dict:
    model.delete(services, params["ModelName"])
    return {}


@operation("sagemaker", "ListModels")
def list_models(services: Services, params: dict) -> dict:
    return list_page(services, KIND, params, "Models",
                     lambda r: {"ModelName": r.name, "ModelArn": r.arn, "CreationTime": r.created},
                     sort_fields=NAME_TIME)
