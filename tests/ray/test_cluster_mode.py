"""Cluster mode end to end: a Shipyard server on the Ray runner, PostgreSQL metadata, an external S3 server (moto),
and a real two-node Ray cluster. Train built-in XGBoost, deploy it, invoke it, batch-transform with it."""

from __future__ import annotations

import os
import time
import uuid

import boto3
import numpy as np
import pytest

XGB_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::123456789012:role/Shipyard"


@pytest.fixture
def pg_schema_url(pg_url):
    import psycopg

    schema = f"shipyard_cluster_{uuid.uuid4().hex[:8]}"
    yield f"{pg_url}?schema={schema}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _wait(fn, done, timeout=180.0, every=0.5):
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if done(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; last value: {value}")
        time.sleep(every)


def test_train_deploy_transform_on_ray_postgres_and_external_s3(ray_cluster, moto_s3, pg_schema_url,
                                                                server_factory):
    import ray

    env = {
        "SHIPYARD_RUNNER": "ray",
        "RAY_ADDRESS": ray_cluster.loopback_address,
        "SHIPYARD_DATABASE_URL": pg_schema_url,
        "SHIPYARD_OBJECT_STORE_URL": f"s3://?endpoint_url={moto_s3}&region=us-east-1&access_key=test&secret_key=test",
        "RAY_AUTH_MODE": os.environ["RAY_AUTH_MODE"],
        "RAY_AUTH_TOKEN": os.environ["RAY_AUTH_TOKEN"],
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    server = server_factory(env=env)
    s3, sm, rt = server.client("s3"), server.client("sagemaker"), server.client("sagemaker-runtime")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 4))
    y = (X[:, 0] - X[:, 2] > 0).astype(int)
    rows = "\n".join(f"{label}," + ",".join(f"{v:.5f}" for v in x) for label, x in zip(y, X)) + "\n"
    s3.create_bucket(Bucket="cluster")
    s3.put_object(Bucket="cluster", Key="train/data.csv", Body=rows.encode())
    s3.put_object(Bucket="cluster", Key="batch/in.csv",
                  Body=("\n".join(",".join(f"{v:.5f}" for v in x) for x in X[:50]) + "\n").encode())
    # the objects went through Shipyard's S3 API into the external store
    direct = boto3.client("s3", endpoint_url=moto_s3, region_name="us-east-1", aws_access_key_id="test",
                          aws_secret_access_key="test")
    assert direct.head_object(Bucket="cluster", Key="train/data.csv")["ContentLength"] == len(rows)

    sm.create_training_job(
        TrainingJobName="cluster-xgb", RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        HyperParameters={"objective": "binary:logistic", "num_round": "20", "max_depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://cluster/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://cluster/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 600})
    job = _wait(lambda: sm.describe_training_job(TrainingJobName="cluster-xgb"),
                lambda d: d["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"))
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    assert artifact == "s3://cluster/output/cluster-xgb/output/model.tar.gz"
    assert direct.head_object(Bucket="cluster", Key="output/cluster-xgb/output/model.tar.gz")["ContentLength"] > 0
    events = server.client("logs").get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                  logStreamName=_stream(server, "cluster-xgb"))["events"]
    assert any("train-logloss" in e["message"] for e in events)

    sm.create_model(ModelName="cluster-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": artifact})
    sm.create_endpoint_config(EndpointConfigName="cluster-config", ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": "cluster-model", "InitialInstanceCount": 1,
        "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="cluster-ep", EndpointConfigName="cluster-config")
    ep = _wait(lambda: sm.describe_endpoint(EndpointName="cluster-ep"),
               lambda d: d["EndpointStatus"] in ("InService", "Failed"))
    assert ep["EndpointStatus"] == "InService", ep.get("FailureReason")
    named = {a["name"] if isinstance(a, dict) else a for a in ray.util.list_named_actors(all_namespaces=True)}
    assert any("endpoint/cluster-ep" in str(n) for n in named), named
    out = rt.invoke_endpoint(EndpointName="cluster-ep", ContentType="text/csv", Body="2.0,0.0,-2.0,0.0")
    assert float(out["Body"].read()) > 0.5
    assert out["InvokedProductionVariant"] == "AllTraffic"

    sm.create_transform_job(
        TransformJobName="cluster-batch", ModelName="cluster-model", BatchStrategy="MultiRecord",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": "s3://cluster/batch/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": "s3://cluster/batch-out", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    tj = _wait(lambda: sm.describe_transform_job(TransformJobName="cluster-batch"),
               lambda d: d["TransformJobStatus"] in ("Completed", "Failed", "Stopped"))
    assert tj["TransformJobStatus"] == "Completed", tj.get("FailureReason")
    scores = direct.get_object(Bucket="cluster", Key="batch-out/in.csv.out")["Body"].read().split()
    assert len(scores) == 50

    sm.delete_endpoint(EndpointName="cluster-ep")
    _wait(lambda: [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]], lambda names: "cluster-ep" not in names)


def _stream(server, job: str) -> str:
    streams = server.client("logs").describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                                         logStreamNamePrefix=job)["logStreams"]
    return streams[0]["logStreamName"]
