"""Helpers for the monitoring tests: an endpoint that captures data, job definitions, bounded waits."""

from __future__ import annotations

import time

from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service

BUCKET = "monitoring-tests"
ENDPOINT = "monitored"
ROLE = "arn:aws:iam::123456789012:role/monitor"
ANALYZER = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
ROWS = [f"{i / 20:.2f},{(i % 5) / 5:.2f},0.70,0.20" for i in range(12)]


def deploy_capturing_endpoint(server) -> None:
    """``ENDPOINT`` (an XGBoost model, data capture on) and 12 captured invocations, written to S3."""
    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    data, _ = model_tarball(2.0)
    url = upload(s3, BUCKET, "model/model.tar.gz", data)
    sm.create_model(ModelName="monitored-model", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(
        EndpointConfigName=ENDPOINT,
        ProductionVariants=[{"VariantName": "AllTraffic", "ModelName": "monitored-model", "InitialInstanceCount": 1,
                             "InstanceType": "ml.m5.large"}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100,
                           "DestinationS3Uri": f"s3://{BUCKET}/capture",
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                           "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}})
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    wait_in_service(sm, ENDPOINT)
    for row in ROWS:
        rt.invoke_endpoint(EndpointName=ENDPOINT, Body=row.encode(), ContentType="text/csv")
    wait_until(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"capture/{ENDPOINT}/").get("KeyCount"), 20,
               "captured records in S3")


def wait_until(predicate, timeout: float, what: str, interval: float = 0.3):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


def data_quality_definition(name: str, endpoint: str = ENDPOINT, baseline: dict | None = None, **extra) -> dict:
    request = {
        "JobDefinitionName": name,
        "DataQualityAppSpecification": {"ImageUri": ANALYZER},
        "DataQualityJobInput": {"EndpointInput": {"EndpointName": endpoint,
                                                  "LocalPath": "/opt/ml/processing/input/endpoint"}},
        "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{BUCKET}/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE, **extra}
    if baseline:
        request["DataQualityBaselineConfig"] = {"ConstraintsResource": {"S3Uri": baseline["constraints"]},
                                                "StatisticsResource": {"S3Uri": baseline["statistics"]}}
    return request


def model_quality_definition(name: str, endpoint: str = ENDPOINT) -> dict:
    return {
        "JobDefinitionName": name,
        "ModelQualityAppSpecification": {"ImageUri": ANALYZER, "ProblemType": "Regression"},
        "ModelQualityJobInput": {
            "EndpointInput": {"EndpointName": endpoint, "LocalPath": "/opt/ml/processing/input/endpoint",
                              "InferenceAttribute": "0"},
            "GroundTruthS3Input": {"S3Uri": f"s3://{BUCKET}/ground-truth"}},
        "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{BUCKET}/mq-reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE}
