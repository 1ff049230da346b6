"""CreateProject / Describe / List / Update / Delete through boto3: bad input refused with the AWS error code and
a message naming the field, and the calls' shapes (no pipeline runs here: the deployment template's project
creates nothing until a version is approved)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .helpers import wait_for, wait_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(120)]

DEPLOY = "prod-shipyard-model-deployment"


def _refused(call, **kwargs) -> str:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    assert e.value.response["Error"]["Code"] == "ValidationException", e.value.response
    return e.value.response["Error"]["Message"]


def _deploy(group: str, **extra) -> dict:
    return {"ProductId": DEPLOY, "ProvisioningParameters": [{"Key": "SourceModelPackageGroupName", "Value": group}],
            **extra}


def test_bad_input_is_refused_naming_the_field(server):
    sm = server.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="api-models")
    message = _refused(sm.create_project, ProjectName="p1",
                       ServiceCatalogProvisioningDetails={"ProductId": "prod-abcdefghijklm"})
    assert "ServiceCatalogProvisioningDetails.ProductId" in message and "prod-shipyard-model-building" in message
    message = _refused(sm.create_project, ProjectName="p1",
                       ServiceCatalogProvisioningDetails=_deploy("api-models", ProvisioningArtifactId="pa-old"))
    assert "ServiceCatalogProvisioningDetails.ProvisioningArtifactId" in message
    message = _refused(sm.create_project, ProjectName="p1",
                       ServiceCatalogProvisioningDetails={"ProductId": DEPLOY})
    assert "ProvisioningParameters" in message and "SourceModelPackageGroupName" in message
    message = _refused(sm.create_project, ProjectName="p1",
                       ServiceCatalogProvisioningDetails=_deploy("no-such-group"))
    assert "SourceModelPackageGroupName" in message and "no-such-group" in message
    message = _refused(sm.create_project, ProjectName="p1", ServiceCatalogProvisioningDetails={
        "ProductId": DEPLOY, "ProvisioningParameters": [{"Key": "SourceModelPackageGroupName", "Value": "api-models"},
                                                         {"Key": "Colour", "Value": "blue"}]})
    assert "Colour" in message and "ProvisioningParameters" in message
    assert "nope" in _refused(sm.describe_project, ProjectName="nope")
    assert not [p for p in sm.list_projects()["ProjectSummaryList"] if p["ProjectName"] == "p1"]


def test_describe_list_update_and_delete(server):
    sm = server.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="crud-models")
    made = sm.create_project(ProjectName="crud-a", ProjectDescription="first",
                             ServiceCatalogProvisioningDetails=_deploy("crud-models"),
                             Tags=[{"Key": "team", "Value": "ml"}])
    sm.create_project(ProjectName="crud-b", ServiceCatalogProvisioningDetails=_deploy("crud-models"))
    desc = wait_project(sm, "crud-a")
    assert desc["ProjectArn"] == made["ProjectArn"] and desc["ProjectId"] == made["ProjectId"]
    assert desc["ProjectDescription"] == "first"
    assert desc["ServiceCatalogProvisionedProductDetails"]["ProvisionedProductId"].startswith("pp-")
    assert "already exists" in _refused(sm.create_project, ProjectName="crud-a",
                                        ServiceCatalogProvisioningDetails=_deploy("crud-models"))
    names = [p["ProjectName"] for p in sm.list_projects(NameContains="crud", SortBy="Name",
                                                        SortOrder="Ascending")["ProjectSummaryList"]]
    assert names == ["crud-a", "crud-b"]
    page = sm.list_projects(NameContains="crud", MaxResults=1)
    assert len(page["ProjectSummaryList"]) == 1 and page["NextToken"]

    sm.update_project(ProjectName="crud-a", ProjectDescription="second", Tags=[{"Key": "stage", "Value": "dev"}])
    desc = sm.describe_project(ProjectName="crud-a")
    assert desc["ProjectDescription"] == "second" and desc["ProjectStatus"] == "UpdateCompleted"
    tags = {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=desc["ProjectArn"])["Tags"]}
    assert tags == {"team": "ml", "stage": "dev"}
    assert "ProvisioningArtifactId" in _refused(
        sm.update_project, ProjectName="crud-a",
        ServiceCatalogProvisioningUpdateDetails={"ProvisioningArtifactId": "pa-other"})

    for name in ("crud-a", "crud-b"):
        sm.delete_project(ProjectName=name)
    wait_for("both deleted", lambda: not sm.list_projects(NameContains="crud")["ProjectSummaryList"], timeout=30)
