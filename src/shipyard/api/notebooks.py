"""Notebook instance and lifecycle configuration operations: wire adapters over
:mod:`shipyard.resources.notebook_instance` (the controller in :mod:`shipyard.controllers.notebook` runs them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..resources import notebook_instance as nb
from .listing import STANDARD_SORT, list_page
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services

CONFIG_SORT = {"Name": "name", "CreationTime": "created", "LastModifiedTime": "modified"}


@operation("sagemaker", "CreateNotebookInstance")
def create_notebook_instance(services: Services, params: dict) -> dict:
    return nb.create(services, params)


@operation("sagemaker", "DescribeNotebookInstance")
def describe_notebook_instance(services: Services, params: dict) -> dict:
    return nb.describe(services, params["NotebookInstanceName"])


@operation("sagemaker", "ListNotebookInstances")
def list_notebook_instances(services: Services, params: dict) -> dict:
    def summary(r) -> dict:
        out = {"NotebookInstanceName": r.name, "NotebookInstanceArn": r.arn, "NotebookInstanceStatus": r.status,
               "InstanceType": r.doc.get("InstanceType"), "CreationTime": r.created, "LastModifiedTime": r.modified}
        for key in ("NotebookInstanceLifecycleConfigName", "DefaultCodeRepository", "AdditionalCodeRepositories"):
            if r.doc.get(key):
                out[key] = r.doc[key]
        return out

    page = list_page(services, nb.KIND, params, "NotebookInstances", summary,
                     sort_fields={**STANDARD_SORT, "Status": "status"})
    wanted = params.get("NotebookInstanceLifecycleConfigNameContains")
    if wanted:
        page["NotebookInstances"] = [s for s in page["NotebookInstances"]
                                     if wanted in s.get("NotebookInstanceLifecycleConfigName", "")]
    if params.get("DefaultCodeRepositoryContains"):
        page["NotebookInstances"] = [s for s in page["NotebookInstances"]
                                     if params["DefaultCodeRepositoryContains"] in s.get("DefaultCodeRepository", "")]
    if params.get("AdditionalCodeRepositoryEquals"):
        page["NotebookInstances"] = [s for s in page["NotebookInstances"]
                                     if params["AdditionalCodeRepositoryEquals"] in
                                     s.get("AdditionalCodeRepositories", [])]
    return page


@operation("sagemaker", "StartNotebookInstance")
def start_notebook_instance(services: Services, params: dict) -> dict:
    nb.start(services, params["NotebookInstanceName"])
    return {}


@operation("sagemaker", "StopNotebookInstance")
def stop_notebook_instance(services: Services, params: dict) -> dict:
    nb.stop(services, params["NotebookInstanceName"])
    return {}


@operation("sagemaker", "UpdateNotebookInstance")
def update_notebook_instance(services: Services, params: dict) -> dict:
    nb.update(services, params)
    return {}


@operation("sagemaker", "DeleteNotebookInstance")
def delete_notebook_instance(services: Services, params: dict) -> dict:
    nb.delete(services, params["NotebookInstanceName"])
    return {}


@operation("sagemaker", "CreatePresignedNotebookInstanceUrl")
def create_presigned_notebook_instance_url(services: Services, params: dict) -> dict:
    return {"AuthorizedUrl": nb.presigned_url(services, params["NotebookInstanceName"],
                                              params.get("SessionExpirationDurationInSeconds"))}


@operation("sagemaker", "CreateNotebookInstanceLifecycleConfig")
def create_lifecycle_config(services: Services, params: dict) -> dict:
    return nb.create_config(services, params)


@operation("sagemaker", "DescribeNotebookInstanceLifecycleConfig")
def describe_lifecycle_config(services: Services, params: dict) -> dict:
    r = nb.get_config(services, params["NotebookInstanceLifecycleConfigName"])
    return {**nb.public(r.doc), "LastModifiedTime": r.modified}


@operation("sagemaker", "ListNotebookInstanceLifecycleConfigs")
def list_lifecycle_configs(services: Services, params: dict) -> dict:
    return list_page(services, nb.CONFIG_KIND, params, "NotebookInstanceLifecycleConfigs",
                     lambda r: {"NotebookInstanceLifecycleConfigName": r.name,
                                "NotebookInstanceLifecycleConfigArn": r.arn, "CreationTime": r.created,
                                "LastModifiedTime": r.modified},
                     sort_fields=CONFIG_SORT)


@operation("sagemaker", "UpdateNotebookInstanceLifecycleConfig")
def update_lifecycle_config(services: Services, params: dict) -> dict:
    nb.update_config(services, params)
    return {}


@operation("sagemaker", "DeleteNotebookInstanceLifecycleConfig")
def delete_lifecycle_config(services: Services, params: dict) -> dict:
    nb.delete_config(services, params["NotebookInstanceLifecycleConfigName"])
    return {}
