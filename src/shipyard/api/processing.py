"""Processing-job operations on the wire: Create, Describe, List, Stop.

Thin adapters over :mod:`shipyard.resources.processing_job` (which a pipeline's Processing step calls too).
Tags (AddTags, ListTags, DeleteTags) need nothing here: :mod:`.tags` finds any resource by its ARN, and a
processing job's ARN names its store kind (``processing-job``).
"""

from __future__ import annotations

from ..context import Services
from ..resources import processing_job
from .registry import operation


@operation("sagemaker", "CreateProcessingJob")
def create(services: Services, params: dict) -> dict:
    return processing_job.create(services, params)


@operation("sagemaker", "DescribeProcessingJob")
def describe(services: Services, params: dict) -> dict:
    return processing_job.describe(processing_job.get(services, params["ProcessingJobName"]))


@operation("sagemaker", "ListProcessingJobs")
def list_processing_jobs(services: Services, params: dict) -> dict:
    return processing_job.list_jobs(services, params)


@operation("sagemaker", "StopProcessingJob")
def stop(services: Services, params: dict) -> dict:
    processing_job.stop(services, params["ProcessingJobName"])
    return {}
