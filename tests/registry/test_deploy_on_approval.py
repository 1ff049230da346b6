"""Deploy on approval: a group tagged ``shipyard:deploy-on-approval`` keeps its endpoint on the newest approved
version, with no failed request while the endpoint moves (real server, boto3, real XGBoost model servers)."""

from __future__ import annotations

import io
import json
import tarfile
import threading
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError

from shipyard.resources import deploy_on_approval, model_package_events

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/r"
GROUP = "doa-group"
ENDPOINT = "doa-endpoint"


def _upload_model(s3, key: str, slope: float) -> str:
    """An XGBoost model predicting about ``slope * x0``: version 1 and 2 answer with opposite signs."""
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=X[:, 0] * slope), num_boost_round=5)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        raw = bytes(booster.save_raw("ubj"))
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3.put_object(Bucket="doa", Key=key, Body=buf.getvalue())
    return f"s3://doa/{key}"


def _spec(url: str) -> dict:
    return {"Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": url}], "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"]}


def _predict(runtime) -> float:
    body = runtime.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv", Body=b"1,0,0")["Body"].read()
    return float(body.decode().strip().strip(",").split(",")[0])


def _wait_status(sm, status: str, timeout: float = 40.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ep = sm.describe_endpoint(EndpointName=ENDPOINT)
        if ep["EndpointStatus"] == status:
            return ep
        assert ep["EndpointStatus"] not in ("Failed",), ep.get("FailureReason")
        time.sleep(0.2)
    raise AssertionError(f"endpoint not {status} in {timeout}s: {ep['EndpointStatus']}")


class Client(threading.Thread):
    """Invokes the endpoint back to back until stopped, counting answers and failures."""

    def __init__(self, runtime) -> None:
        super().__init__(daemon=True)
        self.runtime, self.stop_event = runtime, threading.Event()
        self.answers: list[float] = []
        self.failures: list[str] = []

    def run(self) -> None:
        deadline = time.monotonic() + 60
        while not self.stop_event.is_set() and time.monotonic() < deadline:
            try:
                self.answers.append(_predict(self.runtime))
            except Exception as e:  # noqa: BLE001 - any failure is what the test counts
                self.failures.append(repr(e))
            time.sleep(0.02)


def test_an_approved_version_replaces_the_endpoint_model_without_a_failed_request(server_factory):
    server = server_factory()
    sm, s3, runtime = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    s3.create_bucket(Bucket="doa")
    url1, url2 = _upload_model(s3, "v1/model.tar.gz", 2.0), _upload_model(s3, "v2/model.tar.gz", -2.0)
    sm.create_model_package_group(ModelPackageGroupName=GROUP)
    arn1 = sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
                                   InferenceSpecification=_spec(url1))["ModelPackageArn"]
    sm.create_model(ModelName="doa-v1", ExecutionRoleArn=ROLE, Containers=[{"ModelPackageName": arn1}])
    sm.create_endpoint_config(EndpointConfigName="doa-v1", ProductionVariants=[{
        "VariantName": "main", "ModelName": "doa-v1", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="doa-v1")
    _wait_status(sm, "InService")
    assert _predict(runtime) > 0

    group_arn = sm.describe_model_package_group(ModelPackageGroupName=GROUP)["ModelPackageGroupArn"]
    with pytest.raises(ClientError) as e:  # a tag naming no endpoint is refused, naming the tag
        sm.add_tags(ResourceArn=group_arn, Tags=[{"Key": deploy_on_approval.TAG, "Value": "no-such-endpoint"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert deploy_on_approval.TAG in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError, match=deploy_on_approval.TAG):  # and at CreateModelPackageGroup
        sm.create_model_package_group(ModelPackageGroupName="doa-typo",
                                      Tags=[{"Key": deploy_on_approval.TAG, "Value": "no-such-endpoint"}])
    sm.add_tags(ResourceArn=group_arn, Tags=[{"Key": deploy_on_approval.TAG, "Value": ENDPOINT}])

    arn2 = sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="PendingManualApproval",
                                   InferenceSpecification=_spec(url2))["ModelPackageArn"]
    ep = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert ep["EndpointStatus"] == "InService" and ep["EndpointConfigName"] == "doa-v1"  # pending: nothing moves

    client = Client(runtime)
    client.start()
    try:
        sm.update_model_package(ModelPackageArn=arn2, ModelApprovalStatus="Approved")
        assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
        ep = _wait_status(sm, "InService")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (client.answers and client.answers[-1] < 0):
            time.sleep(0.05)
    finally:
        client.stop_event.set()
        client.join(timeout=10)
    assert not client.failures, client.failures[:3]
    assert client.answers and client.answers[0] > 0 and client.answers[-1] < 0

    config = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
    assert ep["EndpointConfigName"] != "doa-v1" and len(config["ProductionVariants"]) == 1
    model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
    assert [c["ModelPackageName"] for c in model["Containers"]] == [arn2]
    assert model["ExecutionRoleArn"] == ROLE  # copied from the model it replaces

    # a repeated approval does not redeploy; the deployment is its own event
    sm.update_model_package(ModelPackageArn=arn2, ModelApprovalStatus="Rejected")
    sm.update_model_package(ModelPackageArn=arn2, ModelApprovalStatus="Approved")
    again = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert again["EndpointStatus"] == "InService" and again["EndpointConfigName"] == ep["EndpointConfigName"]
    events = [json.loads(e["message"]) for e in server.client("logs").filter_log_events(
        logGroupName=model_package_events.LOG_GROUP, logStreamNames=[deploy_on_approval.LOG_STREAM])["events"]]
    assert [(e["detail-type"], e["detail"]["DeploymentStatus"]) for e in events] == [
        (deploy_on_approval.DETAIL_TYPE, "Deployed")]
    assert events[0]["detail"]["ModelPackageArn"] == arn2

    # a version created Approved deploys too; one that cannot be deployed leaves the approval standing, and the
    # reason is its own event (here: the endpoint's current config was deleted, so there is nothing to copy)
    arn3 = sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
                                   InferenceSpecification=_spec(url1))["ModelPackageArn"]
    assert sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
    ep3 = _wait_status(sm, "InService")
    assert _predict(runtime) > 0
    sm.delete_endpoint_config(EndpointConfigName=ep3["EndpointConfigName"])
    arn4 = sm.create_model_package(ModelPackageGroupName=GROUP, ModelApprovalStatus="Approved",
                                   InferenceSpecification=_spec(url2))["ModelPackageArn"]
    assert sm.describe_model_package(ModelPackageName=arn4)["ModelApprovalStatus"] == "Approved"
    after = sm.describe_endpoint(EndpointName=ENDPOINT)
    assert after["EndpointStatus"] == "InService" and after["EndpointConfigName"] == ep3["EndpointConfigName"]
    events = [json.loads(e["message"])["detail"] for e in server.client("logs").filter_log_events(
        logGroupName=model_package_events.LOG_GROUP, logStreamNames=[deploy_on_approval.LOG_STREAM])["events"]]
    assert [(e["ModelPackageArn"], e["DeploymentStatus"]) for e in events] == [
        (arn2, "Deployed"), (arn3, "Deployed"), (arn4, "Failed")]
    assert "was deleted" in events[-1]["Error"]
    sm.delete_endpoint(EndpointName=ENDPOINT)


@pytest.fixture
def services(tmp_path):
    from shipyard.config import load_settings
    from shipyard.context import build_services

    s = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    try:
        yield s
    finally:
        s.meta.close()


def test_the_replaced_variant_is_the_only_one_or_the_one_serving_the_group(services):
    from shipyard.errors import ValidationError

    def model(name: str, package: str | None) -> dict:
        container = {"Image": XGB_IMAGE, **({"ModelPackageName": package} if package else {})}
        services.meta.create("model", name, services.arn("model", name), "Created",
                             {"ModelName": name, "Containers": [container]})
        return {"VariantName": name, "ModelName": name}

    ours = model("ours", services.arn("model-package", f"{GROUP}/1"))
    theirs, plain = model("theirs", services.arn("model-package", "other/3")), model("plain", None)
    pick = deploy_on_approval._pick_variant
    assert pick(services, {"ProductionVariants": [plain]}, GROUP, "arn:ep") == "plain"
    assert pick(services, {"ProductionVariants": [theirs, ours, plain]}, GROUP.upper(), "arn:ep") == "ours"
    with pytest.raises(ValidationError, match="2 variants and 0 of them"):
        pick(services, {"ProductionVariants": [theirs, plain]}, GROUP, "arn:ep")


def test_a_roll_out_keeps_the_variants_weights_and_counts_as_they_are_now(services):
    """Autoscaling moved the variant to 3 instances and a weight of 0.5: the new model comes in at those, not
    at the copied config's InitialInstanceCount, and with the container definitions of the package."""
    from shipyard.resources.endpoint import snapshot

    services.meta.create("model", "m1", services.arn("model", "m1"), "Created",
                         {"ModelName": "m1", "ExecutionRoleArn": ROLE,
                          "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": "s3://doa/v1/model.tar.gz"}]})
    services.meta.create("endpoint-config", "c1", services.arn("endpoint-config", "c1"), "Created", {
        "EndpointConfigName": "c1", "ProductionVariants": [{"VariantName": "main", "ModelName": "m1",
                                                           "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}]})
    spec = snapshot(services, "c1")
    spec["variants"][0].update(count=3, weight=0.5)
    services.meta.create("endpoint", "ep", services.arn("endpoint", "ep"), "InService",
                         {"EndpointName": "ep", "EndpointConfigName": "c1", "_spec": spec})
    package = services.meta.create("model-package", f"{GROUP}/2", services.arn("model-package", f"{GROUP}/2"),
                                   "Completed", {"ModelPackageGroupName": GROUP, "ModelPackageVersion": 2,
                                                 "InferenceSpecification": {"Containers": [
                                                     {"Image": XGB_IMAGE, "ModelDataUrl": "s3://doa/v2/model.tar.gz"}]}})
    made = deploy_on_approval._roll_out(services, package, GROUP, "ep")
    [variant] = services.meta.get("endpoint", "ep").doc["_next"]["variants"]
    assert (variant["name"], variant["count"], variant["weight"], variant["model"]) == (
        "main", 3, 0.5, made["ModelName"])
    assert [c["ModelDataUrl"] for c in variant["containers"]] == ["s3://doa/v2/model.tar.gz"]
