"""Training-job operations on the wire: Create, Describe, List, Stop, Delete.

Thin adapters: what each operation does (validation, the stored document, stopping) is in
:mod:`shipyard.resources.training_job`, which the tuning controller calls too. Here only the wire's part:
the response shapes, and the members the SageMaker SDK expects on DescribeTrainingJob
(:mod:`.sdk_defaults`).
"""

from __future__ import annotations

from ..context import Services
from ..resources import training_job
from . import sdk_defaults
from .registry import operation


@operation("sagemaker", "CreateTrainingJob")
def create(services: Services, params: dict) -> dict:
    return training_job.create(services, params)


@operation("sagemaker", "DescribeTrainingJob")
def describe_training_job(services: Services, params: dict) -> dict:
    resource = training_job.get(services, params["TrainingJobName"])
    return sdk_defaults.training_job(training_job.describe(resource), resource.doc)


@operation("sagemaker", "ListTrainingJobs")
def list_training_jobs(services: Services, params: dict) -> dict:
    return training_job.list_jobs(services, params)


@operation("sagemaker", "StopTrainingJob")
def stop(services: Services, params: dict) -> dict:
    training_job.stop(services, params["TrainingJobName"])
    return {}


@operation("sagemaker", "DeleteTrainingJob")
def delete(services: Services, params: dict) -> dict:
    training_job.delete(services, params["TrainingJobName"])
    return {}
