"""Hyperparameter tuning jobs on the wire: Create/Describe/List/Stop/Delete and ListTrainingJobsFor...

Thin adapters: what each operation does (validation, the stored document, the trial summaries) is in
:mod:`shipyard.resources.tuning_job`, which the tuning controller uses too. Here only the wire's part: the
response shapes, and the members the SageMaker SDK expects on Describe (:mod:`.sdk_defaults`).
"""

from __future__ import annotations

from ..context import Services
from ..resources import tuning_job
from ..resources.tuning_job import KIND, public
from . import sdk_defaults
from .registry import operation

__all__ = ["KIND", "public"]


@operation("sagemaker", "CreateHyperParameterTuningJob")
def create_hyper_parameter_tuning_job(services: Services, req: dict) -> dict:
    return tuning_job.create(services, req)


@operation("sagemaker", "DescribeHyperParameterTuningJob")
def describe_hyper_parameter_tuning_job(services: Services, req: dict) -> dict:
    resource = tuning_job.get(services, req.get("HyperParameterTuningJobName", ""))
    return sdk_defaults.tuning_job(tuning_job.describe(resource))


@operation("sagemaker", "ListHyperParameterTuningJobs")
def list_hyper_parameter_tuning_jobs(services: Services, req: dict) -> dict:
    return tuning_job.list_jobs(services, req)


@operation("sagemaker", "StopHyperParameterTuningJob")
def stop_hyper_parameter_tuning_job(services: Services, req: dict) -> dict:
    tuning_job.stop(services, req.get("HyperParameterTuningJobName", ""))
    return {}


@operation("sagemaker", "DeleteHyperParameterTuningJob")
def delete_hyper_parameter_tuning_job(services: Services, req: dict) -> dict:
    tuning_job.delete(services, req.get("HyperParameterTuningJobName", ""))
    return {}


@operation("sagemaker", "ListTrainingJobsForHyperParameterTuningJob")
def list_training_jobs_for_hyper_parameter_tuning_job(services: Services, req: dict) -> dict:
    return tuning_job.list_trials(services, req)
