"""The transform-job resource: CreateTransformJob's checks, the DescribeTransformJob view and StopTransformJob.

They live here, not in :mod:`shipyard.api.transform`, so that a pipeline's Transform step creates its job
through exactly the checks a user's CreateTransformJob goes through (the wire handlers are thin adapters over
these functions). Checks made before anything runs: the model exists, the S3 input and output are ``s3://``
URIs in buckets that exist, ``BatchStrategy`` needs a ``SplitType`` other than None, and ``MaxPayloadInMB x
MaxConcurrentTransforms`` stays within 100 MB, a ``DataCaptureConfig`` names a bucket that exists, as on AWS
(the job writes its capture manifests there when it succeeds, :mod:`shipyard.transform.capture`). The controller
(:mod:`shipyard.controllers.transform`) starts and follows the job.
"""

from __future__ import annotations

import time
from typing import Any

from ..context import Services
from ..domain.acting import stamp
from ..domain.arns import name_from
from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..kms import jobs as kms_jobs
from ..metastore.base import Resource
from ..usage.budgets import check_budget
from . import job_events
from .training_job import check_s3_uri, public

KIND = "transform-job"


def get(services: Services, name: str) -> Resource:
    """The stored job; a missing one is the ValidationException AWS answers for an unknown job name."""
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ValidationError(f"Could not find requested job with name {name_from(name)}") from None


def _check_request(services: Services, params: dict) -> tuple[str, int]:
    """What AWS checks before accepting the job; returns (SplitType, MaxPayloadInMB)."""
    try:
        services.meta.get("model", params["ModelName"])
    except MissingResource:
        raise ValidationError(f'Could not find model "{services.arn("model", params["ModelName"])}".') from None
    tin, tout = params["TransformInput"], params["TransformOutput"]
    src = tin["DataSource"].get("S3DataSource")
    if not src:
        raise ValidationError("TransformInput.DataSource must have an S3DataSource.")
    check_s3_uri(services, src["S3Uri"], "TransformInput.DataSource.S3DataSource.S3Uri")
    check_s3_uri(services, tout["S3OutputPath"], "TransformOutput.S3OutputPath")
    split = tin.get("SplitType", "None")
    if split not in ("None", "Line", "RecordIO"):
        raise ValidationError(f"SplitType {split!r} is not supported by Shipyard; use None, Line or RecordIO.")
    if params.get("BatchStrategy") == "MultiRecord" and split == "None":
        raise ValidationError("BatchStrategy MultiRecord needs a SplitType (Line or RecordIO); with SplitType None "
                              "each object is sent whole.")
    payload = int(params.get("MaxPayloadInMB", 6))
    concurrent = int(params.get("MaxConcurrentTransforms") or 1)
    if payload * concurrent > 100:
        raise ValidationError(f"MaxPayloadInMB ({payload}) x MaxConcurrentTransforms ({concurrent}) must not exceed "
                              "100 MB.")
    capture = params.get("DataCaptureConfig")
    if capture is not None:
        check_s3_uri(services, capture.get("DestinationS3Uri", ""), "DataCaptureConfig.DestinationS3Uri")
    if tin.get("CompressionType", "None") not in ("None", None):
        raise ValidationError("CompressionType Gzip is not supported by Shipyard's batch transform yet.")
    return split, payload


def create(services: Services, params: dict) -> dict:
    """Validate and store a CreateTransformJob request (the controller starts it); returns the response."""
    name = params["TransformJobName"]
    split, payload = _check_request(services, params)
    arn = services.arn(KIND, name)
    doc: dict[str, Any] = {k: v for k, v in params.items() if v is not None and k != "Tags"}
    doc.update(TransformJobArn=arn)
    if params.get("Tags"):
        doc["_tags"] = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in params["Tags"]]  # ListTags reads them
    doc.setdefault("MaxPayloadInMB", payload)
    doc.setdefault("BatchStrategy", "MultiRecord" if split != "None" else "SingleRecord")
    if services.meta.find(KIND, name) is not None:
        raise ResourceInUse(f"Job name must be unique within an AWS account and region, and a job with this name "
                            f"already exists ({arn})")
    check_budget(services, params.get("Tags"))  # a spent budget for these tags refuses new work (shipyard.usage)
    kms_jobs.transform_job(services, params)  # KmsKeyId fields: checked; the output encrypted under the key
    job_events.job_created(services, KIND, services.meta.create(KIND, name, arn, "InProgress", stamp(doc)))
    services.wake(KIND)
    return {"TransformJobArn": arn}


def describe(resource: Resource) -> dict:
    """The DescribeTransformJob view of a stored job."""
    out = public(resource.doc)
    out.update(TransformJobStatus=resource.status, CreationTime=resource.created)
    return out


def summary(resource: Resource) -> dict:
    """One ListTransformJobs entry."""
    item = {"TransformJobName": resource.name, "TransformJobArn": resource.arn, "CreationTime": resource.created,
            "LastModifiedTime": resource.modified, "TransformJobStatus": resource.status}
    for key in ("TransformEndTime", "FailureReason"):
        if resource.doc.get(key):
            item[key] = resource.doc[key]
    return item


def stop(services: Services, name: str) -> None:
    """StopTransformJob: an InProgress job becomes Stopping (the controller stops its process); stopping a job
    that is already Stopping or Stopped is a no-op."""
    r = get(services, name)
    if r.status in ("Stopping", "Stopped"):
        return
    if r.status != "InProgress":
        raise ValidationError(f"Transform job {r.name} is in status {r.status} and cannot be stopped.")
    try:
        services.meta.update(KIND, r.name, {"_stop_requested": time.time()}, status="Stopping",
                             expect_status={"InProgress"})
    except ConflictError:
        pass
    services.wake(KIND)
