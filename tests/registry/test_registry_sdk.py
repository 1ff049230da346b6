"""The SageMaker Python SDK's model registry, unmodified, against a real Shipyard server: ``model.register(...)``
on an XGBoost model (which finds or creates the group itself), ``ModelPackage.update_approval_status`` and
``update_customer_metadata``, and the ``sagemaker.Session`` calls that wait for and create packages."""

from __future__ import annotations

import uuid

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(120), pytest.mark.usefixtures("quick_sagemaker_sdk")]

ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


@pytest.fixture(scope="module")
def sess(server, model_data, tmp_path_factory):
    bucket, _ = model_data
    with sdk_environment(server, tmp_path_factory.mktemp("registry-sdk"), bucket=bucket):
        yield sdk_session(bucket=bucket)


def test_register_approve_and_describe(sess, model_data):
    from sagemaker import image_uris
    from sagemaker.model import Model, ModelPackage

    _, url = model_data
    group = f"sdk-{uuid.uuid4().hex[:8]}"
    image = image_uris.retrieve("xgboost", "us-east-1", "1.7-1")
    model = Model(image_uri=image, model_data=url, role=ROLE, sagemaker_session=sess)
    package = model.register(content_types=["text/csv"], response_types=["text/csv"],
                             inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
                             model_package_group_name=group, approval_status="PendingManualApproval",
                             customer_metadata_properties={"owner": "ds-team"}, description="first")
    assert isinstance(package, ModelPackage)
    arn = package.model_package_arn
    assert arn.endswith(f":model-package/{group}/1")
    # a second registration reuses the group the SDK created, and gets version 2
    second = model.register(content_types=["text/csv"], response_types=["text/csv"],
                            inference_instances=["ml.m5.large"], transform_instances=["ml.m5.large"],
                            model_package_group_name=group, approval_status="Approved")
    assert second.model_package_arn.endswith(f"/{group}/2")
    desc = sess.wait_for_model_package(arn, poll=1)
    assert desc["ModelPackageStatus"] == "Completed"
    container = desc["InferenceSpecification"]["Containers"][0]
    assert (container["Image"], container["ModelDataUrl"]) == (image, url)
    assert desc["ModelPackageDescription"] == "first"

    package.update_approval_status("Approved", approval_description="validated on holdout")
    package.update_customer_metadata({"stage": "prod"})
    desc = sess.sagemaker_client.describe_model_package(ModelPackageName=arn)
    assert (desc["ModelApprovalStatus"], desc["ApprovalDescription"]) == ("Approved", "validated on holdout")
    assert desc["CustomerMetadataProperties"] == {"owner": "ds-team", "stage": "prod"}

    approved = sess.sagemaker_client.list_model_packages(ModelPackageGroupName=group, ModelApprovalStatus="Approved",
                                                         SortBy="CreationTime", SortOrder="Ascending")
    assert [p["ModelPackageVersion"] for p in approved["ModelPackageSummaryList"]] == [1, 2]
    again = ModelPackage(role=ROLE, model_package_arn=arn, sagemaker_session=sess)
    again.update_approval_status("Rejected")
    assert sess.sagemaker_client.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"


def test_unversioned_package_from_the_session(sess, model_data):
    _, url = model_data
    name = f"sdk-plain-{uuid.uuid4().hex[:8]}"
    sess.create_model_package_from_containers(
        containers=[{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                     "ModelDataUrl": url}],
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_name=name)
    desc = sess.wait_for_model_package(name, poll=1)
    assert desc["ModelPackageName"] == name and "ModelPackageVersion" not in desc
