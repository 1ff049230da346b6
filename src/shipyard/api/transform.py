"""Batch transform operations: CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob:
wire adapters over :mod:`shipyard.resources.transform_job` (where the checks live, shared with a pipeline's
Transform step)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..resources import transform_job
from ..resources.transform_job import describe  # noqa: F401 - the DescribeTransformJob view, for other modules
from .listing import list_page
from .registry import operation

if TYPE_CHECKING:
    from ..context import Services

KIND = transform_job.KIND


@operation("sagemaker", "CreateTransformJob")
def create_transform_job(services: Services, params: dict) -> dict:
    return transform_job.create(services, params)


@operation("sagemaker", "DescribeTransformJob")
def describe_transform_job(services: Services, params: dict) -> dict:
    return transform_job.describe(transform_job.get(services, params["TransformJobName"]))


@operation("sagemaker", "ListTransformJobs")
def list_transform_jobs(services: Services, params: dict) -> dict:
    return list_page(services, KIND, params, "TransformJobSummaries", transform_job.summary)


@operation("sagemaker", "StopTransformJob")
def stop_transform_job(services: Services, params: dict) -> dict:
    transform_job.stop(services, params["TransformJobName"])
    return {}
