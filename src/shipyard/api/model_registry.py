"""Model registry operations on the wire: model package groups and model packages.

Thin adapters over :mod:`shipyard.resources.model_package_group` and :mod:`shipyard.resources.model_package`
(where validation, versioning, approval transitions and the state-change events live).
"""

from __future__ import annotations

from ..context import Services
from ..resources import model_package, model_package_group
from .registry import operation


@operation("sagemaker", "CreateModelPackageGroup")
def create_group(services: Services, params: dict) -> dict:
    return model_package_group.create(services, params)


@operation("sagemaker", "DescribeModelPackageGroup")
def describe_group(services: Services, params: dict) -> dict:
    return model_package_group.describe(model_package_group.get(services, params["ModelPackageGroupName"]))


@operation("sagemaker", "ListModelPackageGroups")
def list_groups(services: Services, params: dict) -> dict:
    return model_package_group.list_groups(services, params)


@operation("sagemaker", "DeleteModelPackageGroup")
def delete_group(services: Services, params: dict) -> dict:
    model_package_group.delete(services, params["ModelPackageGroupName"])
    return {}


@operation("sagemaker", "CreateModelPackage")
def create_package(services: Services, params: dict) -> dict:
    return model_package.create(services, params)


@operation("sagemaker", "DescribeModelPackage")
def describe_package(services: Services, params: dict) -> dict:
    return model_package.describe(model_package.get(services, params["ModelPackageName"]))


@operation("sagemaker", "ListModelPackages")
def list_packages(services: Services, params: dict) -> dict:
    return model_package.list_packages(services, params)


@operation("sagemaker", "UpdateModelPackage")
def update_package(services: Services, params: dict) -> dict:
    return model_package.update(services, params)


@operation("sagemaker", "DeleteModelPackage")
def delete_package(services: Services, params: dict) -> dict:
    model_package.delete(services, params["ModelPackageName"])
    return {}
