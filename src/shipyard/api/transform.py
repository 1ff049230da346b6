"""Batch transform operations: CreateTransformJob, DescribeTransformJob, ListTransformJobs, StopTransformJob.

Checks made before anything runs: the model exists, the S3 input and output are ``s3://`` URIs in buckets that
exist, ``BatchStrategy`` needs a ``SplitType`` other than None, and ``MaxPayloadInMB x MaxConcurrentTransforms``
stays within 100 MB, as on AWS.
"""

from __future__ import annotations

import time

from ..domain.arns import name_from
from ..errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..resources.training_job import check_s3_uri, public
from .listing import list_page
from .registry import operation

KIND = "transform-job"


def _get(services, name: str):
    try:
        return services.meta.get(KIND, name_from(name))
    except MissingResource:
        raise ValidationError(f"Could not find requested job with name {name_from(name)}") from None


@operation("sagemaker", "CreateTransformJob")
def create_transform_job(services, params: dict) -> dict:
    name = params["TransformJobName"]
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
    if tin.get("CompressionType", "None") not in ("None", None):
        raise ValidationError("CompressionType Gzip is not supported by Shipyard's batch transform yet.")
    arn = services.arn(KIND, name)
    doc = {k: v for k, v in params.items() if v is not None and k != "Tags"}
    doc.update(TransformJobArn=arn)
    doc.setdefault("MaxPayloadInMB", payload)
    doc.setdefault("BatchStrategy", "MultiRecord" if split != "None" else "SingleRecord")
    if services.meta.find(KIND, name) is not None:
        raise ResourceInUse(f"Job name must be unique within an AWS account and region, and a job with this name "
                            f"already exists ({arn})")
    services.meta.create(KIND, name, arn, "InProgress", doc)
    services.wake(KIND)
    return {"TransformJobArn": arn}


def describe(r) -> dict:
    out = public(r.doc)
    out.update(TransformJobStatus=r.status, CreationTime=r.created)
    return out


@operation("sagemaker", "DescribeTransformJob")
def describe_transform_job(services, params: dict) -> dict:
    return describe(_get(services, params["TransformJobName"]))


@operation("sagemaker", "ListTransformJobs")
def list_transform_jobs(services, params: dict) -> dict:
    def summary(r) -> dict:
        item = {"TransformJobName": r.name, "TransformJobArn": r.arn, "CreationTime": r.created,
                "LastModifiedTime": r.modified, "TransformJobStatus": r.status}
        for key in ("TransformEndTime", "FailureReason"):
            if r.doc.get(key):
                item[key] = r.doc[key]
        return item

    return list_page(services, KIND, params, "TransformJobSummaries", summary)


@operation("sagemaker", "StopTransformJob")
def stop_transform_job(services, params: dict) -> dict:
    r = _get(services, params["TransformJobName"])
    if r.status in ("Stopping", "Stopped"):
        return {}
    if r.status != "InProgress":
        raise ValidationError(f"Transform job {r.name} is in status {r.status} and cannot be stopped.")
    try:
        services.meta.update(KIND, r.name, {"_stop_requested": time.time()}, status="Stopping",
                             expect_status={"InProgress"})
    except ConflictError:
        pass
    services.wake(KIND)
    return {}
