"""The model registry through boto3 against a real server: groups, versioned and unversioned packages, listing,
approval transitions, customer metadata, deletion rules, concurrent versioning, and the errors a boto3 user
sees (each checked by its AWS error code and a message naming what to fix)."""

from __future__ import annotations

import threading
import uuid

import pytest
from botocore.exceptions import ClientError

from .conftest import spec

pytestmark = [pytest.mark.timeout(120)]


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def test_group_create_describe_list_duplicate_and_unknown(sm):
    name = _name("Churn")
    arn = sm.create_model_package_group(ModelPackageGroupName=name,
                                        ModelPackageGroupDescription="churn models")["ModelPackageGroupArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:{arn.split(':')[4]}:model-package-group/{name.lower()}"
    d = sm.describe_model_package_group(ModelPackageGroupName=name)
    assert (d["ModelPackageGroupName"], d["ModelPackageGroupStatus"], d["ModelPackageGroupDescription"]) == (
        name, "Completed", "churn models")
    assert sm.describe_model_package_group(ModelPackageGroupName=arn)["ModelPackageGroupArn"] == arn
    listed = sm.list_model_package_groups(NameContains=name)["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == [name]
    with pytest.raises(ClientError) as e:
        sm.create_model_package_group(ModelPackageGroupName=name)
    assert _code(e) == "ResourceInUse" and "already exists" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.describe_model_package_group(ModelPackageGroupName="no-such-group")
    assert _code(e) == "ValidationException" and "no-such-group" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.create_model_package(ModelPackageGroupName="no-such-group", InferenceSpecification=spec("s3://x/y"))
    assert _code(e) == "ValidationException" and "does not exist" in str(e.value)


def test_list_groups_sort_and_pagination(sm):
    tag = uuid.uuid4().hex[:6]
    names = [f"pg-{tag}-{c}" for c in "cab"]
    for n in names:
        sm.create_model_package_group(ModelPackageGroupName=n)
    seen, token = [], None
    for _ in range(10):
        kwargs = {"NameContains": tag, "SortBy": "Name", "SortOrder": "Ascending", "MaxResults": 2}
        page = sm.list_model_package_groups(**kwargs, **({"NextToken": token} if token else {}))
        seen += [g["ModelPackageGroupName"] for g in page["ModelPackageGroupSummaryList"]]
        token = page.get("NextToken")
        if not token:
            break
    assert seen == sorted(names)


def test_versioned_packages_describe_list_and_filters(sm, model_data):
    _, url = model_data
    group = _name("Fraud")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arns = [sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url),
                                    ModelApprovalStatus=status,
                                    ModelMetrics={"ModelQuality": {"Statistics": {
                                        "ContentType": "application/json", "S3Uri": f"{url}.metrics.json"}}},
                                    MetadataProperties={"CommitId": "abc123", "Repository": "git@x:y.git"},
                                    DriftCheckBaselines={"ModelQuality": {"Statistics": {
                                        "ContentType": "application/json", "S3Uri": f"{url}.baseline.json"}}},
                                    CustomerMetadataProperties={"team": "risk"})["ModelPackageArn"]
            for status in ("PendingManualApproval", "Approved", "PendingManualApproval")]
    assert [a.rsplit(":", 1)[1] for a in arns] == [f"model-package/{group.lower()}/{v}" for v in (1, 2, 3)]
    d = sm.describe_model_package(ModelPackageName=arns[1])
    assert (d["ModelPackageGroupName"], d["ModelPackageVersion"], d["ModelApprovalStatus"],
            d["ModelPackageStatus"]) == (group, 2, "Approved", "Completed")
    assert d["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == url
    assert d["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == f"{url}.metrics.json"
    assert d["MetadataProperties"]["CommitId"] == "abc123"
    assert d["DriftCheckBaselines"]["ModelQuality"]["Statistics"]["S3Uri"] == f"{url}.baseline.json"
    assert d["CustomerMetadataProperties"] == {"team": "risk"}
    assert "ValidationStatuses" in d["ModelPackageStatusDetails"]
    assert sm.describe_model_package(ModelPackageName=f"{group}/3")["ModelPackageArn"] == arns[2]
    with pytest.raises(ClientError) as e:
        sm.describe_model_package(ModelPackageName=arns[0].rsplit("/", 1)[0] + "/99")
    assert _code(e) == "ValidationException" and "does not exist" in str(e.value)

    def listed(**kw):
        return [p["ModelPackageArn"] for p in sm.list_model_packages(ModelPackageGroupName=group, **kw)[
            "ModelPackageSummaryList"]]

    assert listed() == arns[::-1]  # newest first by default
    assert listed(SortOrder="Ascending") == arns
    assert listed(ModelApprovalStatus="Approved") == [arns[1]]
    assert listed(ModelApprovalStatus="PendingManualApproval", SortOrder="Ascending") == [arns[0], arns[2]]
    first = sm.list_model_packages(ModelPackageGroupName=group, MaxResults=2, SortOrder="Ascending")
    rest = sm.list_model_packages(ModelPackageGroupName=group, MaxResults=2, SortOrder="Ascending",
                                  NextToken=first["NextToken"])
    assert [p["ModelPackageVersion"] for p in first["ModelPackageSummaryList"] + rest["ModelPackageSummaryList"]
            ] == [1, 2, 3]
    with pytest.raises(ClientError) as e:
        sm.list_model_packages(ModelPackageGroupName="no-such-group")
    assert _code(e) == "ValidationException"


def test_unversioned_package_and_type_filter(sm, model_data):
    _, url = model_data
    name = _name("standalone")
    arn = sm.create_model_package(ModelPackageName=name, InferenceSpecification={
        **spec(url), "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        "SupportedTransformInstanceTypes": ["ml.m5.large"]})["ModelPackageArn"]
    assert arn.endswith(f":model-package/{name.lower()}")
    d = sm.describe_model_package(ModelPackageName=name)
    assert d["ModelPackageArn"] == arn and "ModelPackageVersion" not in d
    unversioned = [p["ModelPackageArn"] for p in sm.list_model_packages(NameContains=name)[
        "ModelPackageSummaryList"]]
    assert unversioned == [arn]
    assert sm.list_model_packages(NameContains=name, ModelPackageType="Versioned")["ModelPackageSummaryList"] == []
    assert [p["ModelPackageArn"] for p in sm.list_model_packages(NameContains=name, ModelPackageType="Both")[
        "ModelPackageSummaryList"]] == [arn]
    with pytest.raises(ClientError) as e:
        sm.create_model_package(ModelPackageName=name, InferenceSpecification=spec(url))
    assert _code(e) == "ResourceInUse"
    sm.delete_model_package(ModelPackageName=arn)
    with pytest.raises(ClientError) as e:
        sm.describe_model_package(ModelPackageName=arn)
    assert _code(e) == "ValidationException"


def test_inference_specification_is_checked(sm, model_data):
    bucket, url = model_data
    group = _name("checked")
    sm.create_model_package_group(ModelPackageGroupName=group)
    cases = [
        (spec(f"s3://{bucket}/missing.tar.gz"), "no such object"),
        (spec("s3://no-such-bucket-xyz/model.tar.gz"), "does not exist"),
        (spec("https://example.com/model.tar.gz"), "S3 URI"),
        (spec(url, image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:0.1-bad"), "Image"),
    ]
    for bad, words in cases:
        with pytest.raises(ClientError) as e:
            sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=bad)
        assert _code(e) == "ValidationException", bad
        assert words in e.value.response["Error"]["Message"], e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_model_package(ModelPackageGroupName=group, ModelPackageName="both", InferenceSpecification=spec(url))
    assert _code(e) == "ValidationException" and "Both" in str(e.value)
    # nothing was stored, and no version number was used up by the refused requests
    assert sm.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"] == []
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url))["ModelPackageArn"]
    assert arn.endswith("/1")


def test_approval_transitions_and_metadata(sm, model_data):
    _, url = model_data
    group = _name("approve")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url),
                                  CustomerMetadataProperties={"a": "1", "b": "2"})["ModelPackageArn"]
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "PendingManualApproval"
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="looks good",
                            CustomerMetadataProperties={"c": "3"}, CustomerMetadataPropertiesToRemove=["a"])
    d = sm.describe_model_package(ModelPackageName=arn)
    assert (d["ModelApprovalStatus"], d["ApprovalDescription"]) == ("Approved", "looks good")
    assert d["CustomerMetadataProperties"] == {"b": "2", "c": "3"}
    with pytest.raises(ClientError) as e:  # an approved package's containers are what gets deployed
        sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=spec(url, env={"X": "1"}))
    assert _code(e) == "ValidationException" and "Approved" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="PendingManualApproval")
    assert _code(e) == "ValidationException"
    assert "from Approved to PendingManualApproval" in e.value.response["Error"]["Message"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected")
    assert sm.describe_model_package(ModelPackageName=arn)["ModelApprovalStatus"] == "Rejected"
    sm.update_model_package(ModelPackageArn=arn, InferenceSpecification=spec(url, env={"X": "1"}))
    d = sm.describe_model_package(ModelPackageName=arn)
    assert d["InferenceSpecification"]["Containers"][0]["Environment"] == {"X": "1"}
    with pytest.raises(ClientError) as e:
        sm.update_model_package(ModelPackageArn=arn.rsplit("/", 1)[0] + "/42", ModelApprovalStatus="Approved")
    assert _code(e) == "ValidationException" and "does not exist" in str(e.value)
    with pytest.raises(ClientError) as e:
        sm.update_model_package(ModelPackageArn=arn, CustomerMetadataProperties={f"k{i}": "v" for i in range(60)})
    assert _code(e) == "ValidationException" and "50" in str(e.value)


def test_group_with_packages_cannot_be_deleted(sm, model_data):
    _, url = model_data
    group = _name("keep")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url))["ModelPackageArn"]
    with pytest.raises(ClientError) as e:
        sm.delete_model_package_group(ModelPackageGroupName=group)
    assert _code(e) == "ConflictException" and "delete its model packages" in str(e.value)
    sm.add_tags(ResourceArn=arn, Tags=[{"Key": "stage", "Value": "dev"}])  # tags find a versioned package by ARN
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "stage", "Value": "dev"}]
    sm.delete_model_package(ModelPackageName=arn)
    sm.delete_model_package_group(ModelPackageGroupName=group)
    with pytest.raises(ClientError) as e:
        sm.describe_model_package_group(ModelPackageGroupName=group)
    assert _code(e) == "ValidationException"


def test_concurrent_creates_get_distinct_versions(server, model_data):
    _, url = model_data
    group = _name("race")
    sm = server.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName=group)
    arns: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def register() -> None:
        client = server.client("sagemaker")
        for _ in range(3):
            try:
                arn = client.create_model_package(ModelPackageGroupName=group,
                                                  InferenceSpecification=spec(url))["ModelPackageArn"]
            except BaseException as e:  # noqa: BLE001 - reported below
                with lock:
                    errors.append(e)
                return
            with lock:
                arns.append(arn)

    threads = [threading.Thread(target=register) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert sorted(int(a.rsplit("/", 1)[1]) for a in arns) == list(range(1, 25))
    listed = sm.list_model_packages(ModelPackageGroupName=group, MaxResults=100)["ModelPackageSummaryList"]
    assert sorted(p["ModelPackageVersion"] for p in listed) == list(range(1, 25))
