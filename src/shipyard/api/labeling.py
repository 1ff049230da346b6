"""Ground Truth on the wire: labeling jobs, work teams, workforces and human task UIs.

Thin adapters over :mod:`shipyard.resources.labeling_job` and :mod:`shipyard.resources.workteam`. Tags need
nothing here (:mod:`.tags` finds a resource by ARN).
"""

from __future__ import annotations

from ..context import Services
from ..resources import labeling_job as lj
from ..resources import workteam as wt
from .registry import operation


@operation("sagemaker", "CreateLabelingJob")
def create_labeling_job(services: Services, params: dict) -> dict:
    return lj.create(services, params)


@operation("sagemaker", "DescribeLabelingJob")
def describe_labeling_job(services: Services, params: dict) -> dict:
    return lj.describe(lj.get(services, params["LabelingJobName"]))


@operation("sagemaker", "ListLabelingJobs")
def list_labeling_jobs(services: Services, params: dict) -> dict:
    return lj.list_jobs(services, params)


@operation("sagemaker", "StopLabelingJob")
def stop_labeling_job(services: Services, params: dict) -> dict:
    lj.stop(services, params["LabelingJobName"])
    return {}


@operation("sagemaker", "ListLabelingJobsForWorkteam")
def list_labeling_jobs_for_workteam(services: Services, params: dict) -> dict:
    return lj.list_for_workteam(services, params)


@operation("sagemaker", "CreateWorkforce")
def create_workforce(services: Services, params: dict) -> dict:
    return wt.create_workforce(services, params)


@operation("sagemaker", "DescribeWorkforce")
def describe_workforce(services: Services, params: dict) -> dict:
    return wt.describe_workforce(services, params["WorkforceName"])


@operation("sagemaker", "ListWorkforces")
def list_workforces(services: Services, params: dict) -> dict:
    return wt.list_workforces(services, params)


@operation("sagemaker", "DeleteWorkforce")
def delete_workforce(services: Services, params: dict) -> dict:
    wt.delete_workforce(services, params["WorkforceName"])
    return {}


@operation("sagemaker", "CreateWorkteam")
def create_workteam(services: Services, params: dict) -> dict:
    return wt.create_workteam(services, params)


@operation("sagemaker", "DescribeWorkteam")
def describe_workteam(services: Services, params: dict) -> dict:
    return wt.describe_workteam(services, params["WorkteamName"])


@operation("sagemaker", "ListWorkteams")
def list_workteams(services: Services, params: dict) -> dict:
    return wt.list_workteams(services, params)


@operation("sagemaker", "UpdateWorkteam")
def update_workteam(services: Services, params: dict) -> dict:
    return wt.update_workteam(services, params)


@operation("sagemaker", "DeleteWorkteam")
def delete_workteam(services: Services, params: dict) -> dict:
    return wt.delete_workteam(services, params["WorkteamName"])


@operation("sagemaker", "CreateHumanTaskUi")
def create_human_task_ui(services: Services, params: dict) -> dict:
    return wt.create_human_task_ui(services, params)


@operation("sagemaker", "DescribeHumanTaskUi")
def describe_human_task_ui(services: Services, params: dict) -> dict:
    return wt.describe_human_task_ui(services, params["HumanTaskUiName"])


@operation("sagemaker", "ListHumanTaskUis")
def list_human_task_uis(services: Services, params: dict) -> dict:
    return wt.list_human_task_uis(services, params)


@operation("sagemaker", "DeleteHumanTaskUi")
def delete_human_task_ui(services: Services, params: dict) -> dict:
    wt.delete_human_task_ui(services, params["HumanTaskUiName"])
    return {}
