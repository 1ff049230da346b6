"""Code repository and project operations: wire adapters over :mod:`shipyard.resources.code_repository` and
:mod:`shipyard.resources.project` (the controller in :mod:`shipyard.controllers.project` runs projects)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..resources import code_repository, project
from .listing import list_page
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services

REPOSITORY_SORT = {"Name": "name", "CreationTime": "created", "LastModifiedTime": "modified"}
PROJECT_SORT = {"Name": "name", "CreationTime": "created"}


@operation("sagemaker", "CreateCodeRepository")
def create_code_repository(services: Services, params: dict) -> dict:
    return code_repository.create(services, params)


@operation("sagemaker", "DescribeCodeRepository")
def describe_code_repository(services: Services, params: dict) -> dict:
    return code_repository.describe(services, params["CodeRepositoryName"])


@operation("sagemaker", "ListCodeRepositories")
def list_code_repositories(services: Services, params: dict) -> dict:
    return list_page(services, code_repository.KIND, params, "CodeRepositorySummaryList",
                     lambda r: {"CodeRepositoryName": r.name, "CodeRepositoryArn": r.arn, "CreationTime": r.created,
                                "LastModifiedTime": r.modified,
                                "GitConfig": code_repository.git_config(services, r)},
                     sort_fields=REPOSITORY_SORT)


@operation("sagemaker", "UpdateCodeRepository")
def update_code_repository(services: Services, params: dict) -> dict:
    return code_repository.update(services, params)


@operation("sagemaker", "DeleteCodeRepository")
def delete_code_repository(services: Services, params: dict) -> dict:
    code_repository.delete(services, params["CodeRepositoryName"])
    return {}


@operation("sagemaker", "CreateProject")
def create_project(services: Services, params: dict) -> dict:
    return project.create(services, params)


@operation("sagemaker", "DescribeProject")
def describe_project(services: Services, params: dict) -> dict:
    return project.describe(services, params["ProjectName"])


@operation("sagemaker", "ListProjects")
def list_projects(services: Services, params: dict) -> dict:
    return list_page(services, project.KIND, params, "ProjectSummaryList", project.summary,
                     sort_fields=PROJECT_SORT)


@operation("sagemaker", "UpdateProject")
def update_project(services: Services, params: dict) -> dict:
    return project.update(services, params)


@operation("sagemaker", "DeleteProject")
def delete_project(services: Services, params: dict) -> dict:
    project.delete(services, params["ProjectName"])
    return {}
