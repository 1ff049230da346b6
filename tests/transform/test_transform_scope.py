"""What a transform job's own key may touch (unit level; tests/security runs a real job with one)."""

from __future__ import annotations

import pytest

from shipyard.controllers.transform import transform_scope
from shipyard.errors import AuthError
from shipyard.server.auth import authorize_call, authorize_s3

REQUEST = {
    "TransformInput": {"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://data/in/"}}},
    "TransformOutput": {"S3OutputPath": "s3://data/out/job-1"},
}
MODEL = {"ExecutionRoleArn": "arn:aws:iam::123456789012:role/InferRole",
         "PrimaryContainer": {"ModelDataUrl": "https://models.s3.us-east-1.amazonaws.com/m/model.tar.gz",
                              "Environment": {"SAGEMAKER_SUBMIT_DIRECTORY": "s3://code/src.tar.gz"}}}


def _s3(scope, method: str, path: str, query: dict | None = None) -> bool:
    try:
        authorize_s3(scope, method=method, path=path, query=query or {}, headers={})
        return True
    except AuthError as e:
        assert (e.code, e.http_status) == ("AccessDenied", 403)
        return False


def test_scope_reads_input_and_model_writes_output_only():
    scope = transform_scope("job-1", REQUEST, MODEL)
    assert scope.role_arn.endswith("role/InferRole")
    assert _s3(scope, "GET", "/data/in/a.csv") and _s3(scope, "GET", "/data", {"prefix": "in/"})
    assert _s3(scope, "GET", "/models/m/model.tar.gz")  # an https ModelDataUrl, as S3 names the object
    assert _s3(scope, "GET", "/code/src.tar.gz")
    assert _s3(scope, "PUT", "/data/out/job-1/a.csv.out")
    assert not _s3(scope, "PUT", "/data/out/job-10/a.csv.out")  # a sibling job's output folder
    assert not _s3(scope, "PUT", "/data/in/a.csv")  # its input is read-only
    assert not _s3(scope, "GET", "/models/other/model.tar.gz")
    assert not _s3(scope, "GET", "/data", {"prefix": ""})


def test_a_manifest_s_prefix_is_readable():
    request = dict(REQUEST, TransformInput={"DataSource": {"S3DataSource": {
        "S3DataType": "ManifestFile", "S3Uri": "s3://data/manifests/m.json"}}})
    scope = transform_scope("job-1", request, MODEL, manifest_base="s3://elsewhere/rows/")
    assert _s3(scope, "GET", "/data/manifests/m.json") and _s3(scope, "GET", "/elsewhere/rows/1.csv")
    assert not _s3(scope, "GET", "/elsewhere/private.csv")


@pytest.mark.parametrize("service,op,params,ok", [
    ("sagemaker", "DescribeTransformJob", {"TransformJobName": "job-1"}, True),
    ("sagemaker", "DescribeTransformJob", {"TransformJobName": "job-2"}, False),
    ("sagemaker", "StopTransformJob", {"TransformJobName": "job-1"}, False),
    ("logs", "PutLogEvents", {"logGroupName": "/aws/sagemaker/TransformJobs", "logStreamName": "job-1/x"}, True),
    ("logs", "PutLogEvents", {"logGroupName": "/aws/sagemaker/TrainingJobs", "logStreamName": "job-1/x"}, False),
    ("sts", "GetCallerIdentity", {}, True),
])
def test_calls(service, op, params, ok):
    scope = transform_scope("job-1", REQUEST, MODEL)
    if ok:
        authorize_call(scope, service, op, params)
    else:
        with pytest.raises(AuthError):
            authorize_call(scope, service, op, params)
