"""The model deployment template through boto3 against a real server, with real XGBoost model servers: an
approved version goes to ``<project>-staging``; the second approval (CustomerMetadataProperties
``ProductionApproval = Approved``) puts it on ``<project>-prod``; a newer approved version moves staging only;
deleting the project deletes its endpoints."""

from __future__ import annotations

import io
import tarfile
import uuid

import numpy as np
import pytest

from .helpers import tags_of, wait_for, wait_project

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

DEPLOY = "prod-shipyard-model-deployment"
XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
BUCKET = "deploy-project-models"


def _model(s3, key: str, slope: float) -> str:
    """An XGBoost model answering about ``slope * x0``."""
    import xgboost as xgb

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(X, label=X[:, 0] * slope), num_boost_round=5)
    raw = bytes(booster.save_raw("ubj"))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("xgboost-model")
        info.size = len(raw)
        tar.addfile(info, io.BytesIO(raw))
    s3.put_object(Bucket=BUCKET, Key=key, Body=buf.getvalue())
    return f"s3://{BUCKET}/{key}"


def _register(sm, group: str, url: str) -> str:
    return sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification={
        "Containers": [{"Image": XGB_IMAGE, "ModelDataUrl": url}], "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]


def _in_service(sm, endpoint: str, package: str) -> dict:
    """The endpoint once InService on a model made from ``package``."""
    def probe():
        try:
            ep = sm.describe_endpoint(EndpointName=endpoint)
        except sm.exceptions.ClientError:
            return None
        assert ep["EndpointStatus"] != "Failed", ep.get("FailureReason")
        if ep["EndpointStatus"] != "InService":
            return None
        config = sm.describe_endpoint_config(EndpointConfigName=ep["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        sources = [c.get("ModelPackageName") for c in model.get("Containers") or [model.get("PrimaryContainer")]]
        return ep if package in sources else None

    return wait_for(f"{endpoint} InService on {package}", probe, timeout=90)


def _predict(runtime, endpoint: str) -> float:
    body = runtime.invoke_endpoint(EndpointName=endpoint, ContentType="text/csv", Body=b"1,0,0")["Body"].read()
    return float(body.decode().strip().strip(",").split(",")[0])


@pytest.fixture(params=["sqlite", "postgresql"])
def store_server(request, server):
    """The shared server (SQLite), or one of its own on a fresh PostgreSQL schema: each stage's deployment is
    claimed with a compare-and-set on the package, which both stores must honour."""
    if request.param == "sqlite":
        yield server
        return
    import psycopg

    pg_url = request.getfixturevalue("pg_url")
    schema = f"shipyard_projects_{uuid.uuid4().hex[:8]}"
    own = request.getfixturevalue("server_factory")(
        env={"SHIPYARD_DATABASE_URL": f"{pg_url}{'&' if '?' in pg_url else '?'}schema={schema}"})
    try:
        yield own
    finally:
        own.stop(kill_children=True)  # before its schema goes
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_approvals_move_a_version_to_staging_then_production(store_server):
    server = store_server
    sm, s3, runtime = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    s3.create_bucket(Bucket=BUCKET)
    sm.create_model_package_group(ModelPackageGroupName="fraud-models")
    v1 = _register(sm, "fraud-models", _model(s3, "v1.tar.gz", 1.0))
    pid = sm.create_project(ProjectName="fraud", ServiceCatalogProvisioningDetails={
        "ProductId": DEPLOY, "ProvisioningArtifactId": "pa-shipyard-v1",
        "ProvisioningParameters": [{"Key": "SourceModelPackageGroupName", "Value": "fraud-models"}]})["ProjectId"]
    wait_project(sm, "fraud")
    assert not sm.list_endpoints(NameContains="fraud-")["Endpoints"]  # nothing approved yet: nothing deployed

    sm.update_model_package(ModelPackageArn=v1, ModelApprovalStatus="Approved")
    staging = _in_service(sm, "fraud-staging", v1)
    assert tags_of(sm, staging["EndpointArn"]) == {"sagemaker:project-name": "fraud", "sagemaker:project-id": pid}
    assert _predict(runtime, "fraud-staging") > 0.5
    assert not [e for e in sm.list_endpoints(NameContains="fraud-prod")["Endpoints"]]  # no second approval yet

    sm.update_model_package(ModelPackageArn=v1, CustomerMetadataProperties={"ProductionApproval": "Approved"})
    prod = _in_service(sm, "fraud-prod", v1)
    assert tags_of(sm, prod["EndpointArn"])["sagemaker:project-id"] == pid
    assert _predict(runtime, "fraud-prod") > 0.5

    # version 2 (the opposite sign), approved: staging moves to it, production stays on version 1
    v2 = _register(sm, "fraud-models", _model(s3, "v2.tar.gz", -1.0))
    sm.update_model_package(ModelPackageArn=v2, ModelApprovalStatus="Approved")
    _in_service(sm, "fraud-staging", v2)
    assert _predict(runtime, "fraud-staging") < -0.5
    assert _predict(runtime, "fraud-prod") > 0.5

    sm.delete_project(ProjectName="fraud")

    def gone():
        names = {e["EndpointName"] for e in sm.list_endpoints(NameContains="fraud-")["Endpoints"]}
        projects = [p["ProjectName"] for p in sm.list_projects()["ProjectSummaryList"]]
        return not names and "fraud" not in projects

    wait_for("the project and its endpoints deleted", gone, timeout=60)
    assert not sm.list_models(NameContains="fraud-models")["Models"]  # the models and configs it made, too
    assert not sm.list_endpoint_configs(NameContains="fraud-")["EndpointConfigs"]
    # the source group and its versions belong to whoever made them: kept
    assert len(sm.list_model_packages(ModelPackageGroupName="fraud-models")["ModelPackageSummaryList"]) == 2
