"""Compilation-job (SageMaker Neo) operations on the wire: Create, Describe, List, Stop, Delete.

Thin adapters over :mod:`shipyard.resources.compilation_job`; the controller
(:mod:`shipyard.controllers.compilation`) runs the compiler. Tags need nothing here: :mod:`.tags` finds any
resource by its ARN.
"""

from __future__ import annotations

from ..context import Services
from ..resources import compilation_job
from .registry import operation


@operation("sagemaker", "CreateCompilationJob")
def create(services: Services, params: dict) -> dict:
    return compilation_job.create(services, params)


@operation("sagemaker", "DescribeCompilationJob")
def describe(services: Services, params: dict) -> dict:
    return compilation_job.describe(compilation_job.get(services, params["CompilationJobName"]))


@operation("sagemaker", "ListCompilationJobs")
def list_compilation_jobs(services: Services, params: dict) -> dict:
    return compilation_job.list_jobs(services, params)


@operation("sagemaker", "StopCompilationJob")
def stop(services: Services, params: dict) -> dict:
    compilation_job.stop(services, params["CompilationJobName"])
    return {}


@operation("sagemaker", "DeleteCompilationJob")
def delete(services: Services, params: dict) -> dict:
    compilation_job.delete(services, params["CompilationJobName"])
    return {}
