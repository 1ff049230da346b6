"""The SageMaker SDK's monitors, unmodified, against a real server: ``DefaultModelMonitor.suggest_baseline``
runs a processing job on the model-monitor analyzer image, and ``baseline_statistics()`` /
``suggested_constraints()`` read AWS's documents back; ``ModelQualityMonitor.suggest_baseline`` likewise."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from analyzer_helpers import write_csv  # noqa: E402

from shipyard.testing.sdk import sdk_environment, sdk_session  # noqa: E402

pytestmark = [pytest.mark.integration]

REGION = "us-east-1"
BUCKET = "monitor-sdk"
ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"


@pytest.fixture(scope="module")
def sdk(server, tmp_path_factory):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket=BUCKET, region=REGION):
        s3 = server.client("s3")
        try:
            s3.head_bucket(Bucket=BUCKET)
        except Exception:  # noqa: BLE001 - not there yet: make it
            s3.create_bucket(Bucket=BUCKET)
        yield sdk_session(REGION, BUCKET), server.client("sagemaker")


def _wait(sm, name: str, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        desc = sm.describe_processing_job(ProcessingJobName=name)
        if desc["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc
        assert time.monotonic() < deadline, f"{name} still {desc['ProcessingJobStatus']}"
        time.sleep(0.2)


def test_default_model_monitor_suggest_baseline(sdk, tmp_path):
    from sagemaker.model_monitor import DefaultModelMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    session, sm = sdk
    rng = np.random.default_rng(0)
    rows = [[int(rng.integers(0, 2)), int(rng.integers(18, 90)), f"{rng.normal(5e4, 1e4):.2f}", "xyz"[i % 3]]
            for i in range(500)]
    data = write_csv(tmp_path / "train.csv", ["Churn", "Age", "Income", "State"], rows)
    monitor = DefaultModelMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                  volume_size_in_gb=5, max_runtime_in_seconds=300, sagemaker_session=session)
    job = monitor.suggest_baseline(baseline_dataset=str(data), dataset_format=DatasetFormat.csv(header=True),
                                   output_s3_uri=f"s3://{BUCKET}/baselines/data-quality", wait=True, logs=False)
    desc = sm.describe_processing_job(ProcessingJobName=job.job_name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert "sagemaker-model-monitor-analyzer" in desc["AppSpecification"]["ImageUri"]
    statistics = monitor.baseline_statistics().body_dict
    assert statistics["dataset"]["item_count"] == 500
    by_name = {f["name"]: f for f in statistics["features"]}
    assert by_name["Age"]["inferred_type"] == "Integral"
    assert by_name["Income"]["numerical_statistics"]["distribution"]["kll"]["sketch"]["parameters"]["k"] == 2048
    assert by_name["State"]["string_statistics"]["distinct_count"] == 3
    constraints = monitor.suggested_constraints().body_dict
    assert {f["name"]: f["inferred_type"] for f in constraints["features"]} == {
        "Churn": "Integral", "Age": "Integral", "Income": "Fractional", "State": "String"}
    assert constraints["monitoring_config"]["distribution_constraints"]["comparison_threshold"] == 0.1


def test_model_quality_monitor_suggest_baseline(sdk, tmp_path):
    from sagemaker.model_monitor import ModelQualityMonitor
    from sagemaker.model_monitor.dataset_format import DatasetFormat

    session, sm = sdk
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 400)
    scores = np.clip(labels * 0.4 + rng.random(400) * 0.6, 0, 1)
    data = write_csv(tmp_path / "validation.csv", ["probability", "prediction", "label"],
                     [[f"{s:.4f}", int(s >= 0.5), int(y)] for s, y in zip(scores, labels)])
    monitor = ModelQualityMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.xlarge",
                                  volume_size_in_gb=5, max_runtime_in_seconds=300, sagemaker_session=session)
    job = monitor.suggest_baseline(baseline_dataset=str(data), dataset_format=DatasetFormat.csv(header=True),
                                   problem_type="BinaryClassification", inference_attribute="prediction",
                                   probability_attribute="probability", ground_truth_attribute="label",
                                   output_s3_uri=f"s3://{BUCKET}/baselines/model-quality", wait=False, logs=False)
    desc = _wait(sm, job.job_name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    metrics = monitor.baseline_statistics().body_dict["binary_classification_metrics"]
    assert metrics["accuracy"]["value"] == pytest.approx(float(np.mean((scores >= 0.5) == labels)))
    constraints = monitor.suggested_constraints().body_dict["binary_classification_constraints"]
    assert constraints["auc"]["comparison_operator"] == "LessThanThreshold"


def test_scheduled_style_job_ends_completed_with_violations(sdk, tmp_path):
    """A processing job shaped as AWS's scheduler shapes a monitoring execution (captured data at
    /opt/ml/processing/input/endpoint, the baseline documents mounted, output at /opt/ml/processing/resultdata):
    it ends ``Completed`` with ``ExitMessage`` ``CompletedWithViolations: ...`` when violations fire."""
    import json

    from sagemaker import image_uris

    session, sm = sdk
    s3 = session.boto_session.client("s3")
    prefix = "scheduled"
    constraints = {"version": 0.0, "features": [
        {"name": "x", "inferred_type": "Integral", "completeness": 1.0, "num_constraints": {"is_non_negative": True}},
        {"name": "c", "inferred_type": "String", "completeness": 1.0, "string_constraints": {"domains": ["a", "b"]}}],
        "monitoring_config": {"evaluate_constraints": "Enabled", "datatype_check_threshold": 1.0,
                              "domain_content_threshold": 1.0}}
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/baseline/constraints.json", Body=json.dumps(constraints).encode())
    records = [json.dumps({"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT",
                                                             "data": f"{i},{'abz'[i % 3]}", "encoding": "CSV"}},
                           "eventMetadata": {"eventId": f"e{i}", "inferenceTime": "2024-05-01T12:10:00Z"},
                           "eventVersion": "0"}) for i in range(30)]
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/capture/ep/AllTraffic/2024/05/01/12/a.jsonl",
                  Body=("\n".join(records) + "\n").encode())
    name = f"model-monitoring-{int(time.time() * 1000)}"

    def s3_input(input_name: str, uri: str, local: str) -> dict:
        return {"InputName": input_name, "S3Input": {"S3Uri": uri, "LocalPath": local, "S3DataType": "S3Prefix",
                                                     "S3InputMode": "File"}}

    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        AppSpecification={"ImageUri": image_uris.retrieve("model-monitor", REGION)},
        ProcessingInputs=[
            s3_input("endpoint", f"s3://{BUCKET}/{prefix}/capture/ep", "/opt/ml/processing/input/endpoint/ep"),
            s3_input("baseline", f"s3://{BUCKET}/{prefix}/baseline", "/opt/ml/processing/baseline/constraints")],
        ProcessingOutputConfig={"Outputs": [{"OutputName": "result", "S3Output": {
            "S3Uri": f"s3://{BUCKET}/{prefix}/result", "LocalPath": "/opt/ml/processing/resultdata",
            "S3UploadMode": "EndOfJob"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge",
                                               "VolumeSizeInGB": 5}},
        StoppingCondition={"MaxRuntimeInSeconds": 300},
        Environment={"dataset_format": '{"sagemakerCaptureJson": {"captureIndexNames": ["endpointInput"]}}',
                     "dataset_source": "/opt/ml/processing/input/endpoint",
                     "output_path": "/opt/ml/processing/resultdata",
                     "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json",
                     "publish_cloudwatch_metrics": "Disabled", "sagemaker_endpoint_name": "ep",
                     "sagemaker_monitoring_schedule_name": "sched",
                     "start_time": "2024-05-01T12:00:00Z", "end_time": "2024-05-01T13:00:00Z"})
    desc = _wait(sm, name)
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ExitMessage"].startswith("CompletedWithViolations")
    body = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/result/constraint_violations.json")["Body"].read()
    found = {(v["feature_name"], v["constraint_check_type"]) for v in json.loads(body)["violations"]}
    assert found == {("c", "categorical_values_check")}
