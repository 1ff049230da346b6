"""CreateModel with a model package (the SDK's ModelPackage.deploy()): the package's containers are resolved,
and the endpoint serves the package's model."""

from __future__ import annotations

import io
import tarfile

import numpy as np
import pytest
from botocore.exceptions import ClientError

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def _model_url(s3) -> str:
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=X[:, 0] * 2), num_boost_round=5)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        raw = bytes(booster.save_raw("ubj"))
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3.create_bucket(Bucket="pkg-deploy")
    s3.put_object(Bucket="pkg-deploy", Key="m/model.tar.gz", Body=buf.getvalue())
    return "s3://pkg-deploy/m/model.tar.gz"


def test_a_model_from_a_package_resolves_its_containers_and_serves(server):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    url = _model_url(s3)
    sm.create_model_package_group(ModelPackageGroupName="deploy-group")
    arn = sm.create_model_package(
        ModelPackageGroupName="deploy-group", ModelApprovalStatus="PendingManualApproval",
        InferenceSpecification={"Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": url}],
                                "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]},
    )["ModelPackageArn"]
    sm.create_model(ModelName="from-package", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                    PrimaryContainer={"ModelPackageName": arn, "Environment": {"A": "1"}})
    container = sm.describe_model(ModelName="from-package")["PrimaryContainer"]
    assert container["ModelPackageName"] == arn and container["Image"] == XGB_IMAGE
    assert container["ModelDataUrl"] == url and container["Environment"] == {"A": "1"}

    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName="from-nothing", ExecutionRoleArn="arn:aws:iam::123456789012:role/r",
                        PrimaryContainer={"ModelPackageName": arn.replace("/1", "/9")})
    assert e.value.response["Error"]["Code"] == "ValidationException"

    sm.create_endpoint_config(EndpointConfigName="from-package", ProductionVariants=[{
        "VariantName": "main", "ModelName": "from-package", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="from-package", EndpointConfigName="from-package")
    sm.get_waiter("endpoint_in_service").wait(EndpointName="from-package",
                                              WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    body = server.client("sagemaker-runtime").invoke_endpoint(
        EndpointName="from-package", ContentType="text/csv", Body=b"1,0,0\n-1,0,0")["Body"].read()
    first, second = (float(v) for v in body.decode().replace("\n", ",").strip(",").split(","))
    assert first > second
    sm.delete_endpoint(EndpointName="from-package")
