"""Model / endpoint-config / endpoint API shapes and errors, through boto3 against the real server."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from hosting_helpers import XGB_IMAGE

ARN = "arn:aws:sagemaker:us-east-1:123456789012"


def _err(exc_info) -> tuple[str, str]:
    e = exc_info.value.response["Error"]
    return e["Code"], e["Message"]


def test_model_and_config_crud_and_errors(server):
    sm = server.client("sagemaker")
    before = time.time() - 1
    for i in range(3):
        sm.create_model(ModelName=f"api-model-{i}", ExecutionRoleArn="arn:aws:iam::123456789012:role/x",
                        PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": "s3://b/k/model.tar.gz",
                                          "Environment": {"A": "1"}})
    d = sm.describe_model(ModelName="api-model-1")
    assert d["ModelArn"] == f"{ARN}:model/api-model-1" and d["PrimaryContainer"]["Environment"] == {"A": "1"}
    with pytest.raises(ClientError) as e:
        sm.create_model(ModelName="api-model-1", PrimaryContainer={"Image": XGB_IMAGE})
    assert _err(e) == ("ResourceInUse", f'Cannot create already existing model "{ARN}:model/api-model-1".')
    with pytest.raises(ClientError) as e:
        sm.describe_model(ModelName="nope")
    assert _err(e) == ("ValidationException", f'Could not find model "{ARN}:model/nope".')
    page = sm.list_models(NameContains="api-model", SortBy="Name", SortOrder="Ascending", MaxResults=2,
                          CreationTimeAfter=before)
    assert [m["ModelName"] for m in page["Models"]] == ["api-model-0", "api-model-1"] and page["NextToken"]
    rest = sm.list_models(NameContains="api-model", SortBy="Name", SortOrder="Ascending", MaxResults=2,
                          NextToken=page["NextToken"])
    assert [m["ModelName"] for m in rest["Models"]] == ["api-model-2"] and "NextToken" not in rest

    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName="api-cfg", ProductionVariants=[
            {"VariantName": "v", "ModelName": "missing", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    assert _err(e) == ("ValidationException", f'Could not find model "{ARN}:model/missing".')
    sm.create_endpoint_config(EndpointConfigName="api-cfg", ProductionVariants=[
        {"VariantName": "v", "ModelName": "api-model-0", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    cfg = sm.describe_endpoint_config(EndpointConfigName="api-cfg")
    assert cfg["ProductionVariants"][0]["InitialVariantWeight"] == 1.0
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName="api-cfg", ProductionVariants=[
            {"VariantName": "v", "ModelName": "api-model-0", "InitialInstanceCount": 1}])
    assert _err(e)[0] == "ResourceInUse" and "already existing endpoint configuration" in _err(e)[1]
    assert [c["EndpointConfigName"] for c in sm.list_endpoint_configs(NameContains="api-cfg")["EndpointConfigs"]] \
        == ["api-cfg"]
    with pytest.raises(ClientError) as e:
        sm.create_endpoint(EndpointName="api-ep", EndpointConfigName="no-cfg")
    assert _err(e) == ("ValidationException", f'Could not find endpoint configuration "{ARN}:endpoint-config/no-cfg".')
    with pytest.raises(ClientError) as e:
        sm.describe_endpoint(EndpointName="api-ep")
    assert _err(e) == ("ValidationException", f'Could not find endpoint "{ARN}:endpoint/api-ep".')
    with pytest.raises(ClientError) as e:
        sm.update_endpoint_weights_and_capacities(EndpointName="api-ep", DesiredWeightsAndCapacities=[
            {"VariantName": "v", "DesiredWeight": 1}])
    assert _err(e)[0] == "ValidationException"
    for i in range(3):
        sm.delete_model(ModelName=f"api-model-{i}")
    sm.delete_endpoint_config(EndpointConfigName="api-cfg")
    with pytest.raises(ClientError) as e:
        sm.delete_endpoint_config(EndpointConfigName="api-cfg")
    assert _err(e)[0] == "ValidationException"
    rt = server.client("sagemaker-runtime")
    with pytest.raises(ClientError) as e:
        rt.invoke_endpoint(EndpointName="api-ep", Body=b"1", ContentType="text/csv")
    assert _err(e) == ("ValidationException", "Endpoint api-ep of account 123456789012 not found.")
