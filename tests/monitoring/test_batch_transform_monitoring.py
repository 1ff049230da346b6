"""Model Monitor over batch transform (``BatchTransformInput``): a transform job with ``DataCaptureConfig`` writes
its input/output manifests in AWS's layout; a NOW schedule reads the window's input manifests as ManifestFile
processing inputs and finds the drift of the transformed data from the baseline; bad inputs are refused."""

from __future__ import annotations

import io
import json
import time

import numpy as np
import pyarrow as pa
import pytest
from botocore.exceptions import ClientError
from monitoring_helpers import ANALYZER, BUCKET, ROLE, wait_until

from shipyard.monitor.analyzer import constraints as mon_constraints
from shipyard.monitor.analyzer import statistics as mon_statistics

pytestmark = [pytest.mark.integration]

CAPTURE = f"s3://{BUCKET}/batch-capture"
LOCAL = "/opt/ml/processing/input/batch"


def _csv(rows: np.ndarray) -> bytes:
    out = io.StringIO()
    for row in rows:
        out.write(",".join(f"{v:.4f}" for v in row) + "\n")
    return out.getvalue().encode()


def _definition(name: str, baseline: dict | None = None, **batch_extra) -> dict:
    batch = {"DataCapturedDestinationS3Uri": CAPTURE, "DatasetFormat": {"Csv": {"Header": False}},
             "LocalPath": LOCAL, **batch_extra}
    request = {
        "JobDefinitionName": name, "DataQualityAppSpecification": {"ImageUri": ANALYZER},
        "DataQualityJobInput": {"BatchTransformInput": batch},
        "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{BUCKET}/batch-reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE}
    if baseline:
        request["DataQualityBaselineConfig"] = {"ConstraintsResource": {"S3Uri": baseline["constraints"]},
                                                "StatisticsResource": {"S3Uri": baseline["statistics"]}}
    return request


def _baseline(s3) -> dict[str, str]:
    """statistics/constraints of 500 uniform [0, 1) rows, made by the analyzer's own functions."""
    data = np.random.default_rng(1).random((500, 4))
    table = pa.table({f"_c{i}": data[:, i] for i in range(4)})
    profiles = mon_statistics.profile(table)
    stats = mon_statistics.statistics_document(profiles, table.num_rows)
    cons = mon_constraints.constraints_document(profiles)
    s3.put_object(Bucket=BUCKET, Key="batch-baseline/statistics.json", Body=json.dumps(stats).encode())
    s3.put_object(Bucket=BUCKET, Key="batch-baseline/constraints.json", Body=json.dumps(cons).encode())
    return {"statistics": f"s3://{BUCKET}/batch-baseline/statistics.json",
            "constraints": f"s3://{BUCKET}/batch-baseline/constraints.json"}


def _transform(sm, s3, name: str, rows: np.ndarray) -> dict:
    s3.put_object(Bucket=BUCKET, Key=f"batch-in/{name}/data.csv", Body=_csv(rows))
    sm.create_transform_job(
        TransformJobName=name, ModelName="monitored-model",
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                        "S3Uri": f"s3://{BUCKET}/batch-in/{name}/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch-out/{name}", "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
        DataCaptureConfig={"DestinationS3Uri": CAPTURE})
    return wait_until(lambda: (d := sm.describe_transform_job(TransformJobName=name))["TransformJobStatus"]
                      not in ("InProgress", "Stopping") and d, 120, f"transform job {name}")


def _keys(s3, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_a_batch_transform_input_is_checked(mon_server):
    sm = mon_server.client("sagemaker")
    both = _definition("bt-both")
    both["DataQualityJobInput"]["EndpointInput"] = {"EndpointName": "monitored", "LocalPath": LOCAL}
    with pytest.raises(ClientError) as e:
        sm.create_data_quality_job_definition(**both)
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "BatchTransformInput" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_data_quality_job_definition(**_definition("bt-noformat", DatasetFormat={}))
    assert "DatasetFormat" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_data_quality_job_definition(**_definition("bt-path", LocalPath="/tmp/x"))
    assert "LocalPath" in e.value.response["Error"]["Message"]
    sm.create_data_quality_job_definition(**_definition("bt-ok"))
    d = sm.describe_data_quality_job_definition(JobDefinitionName="bt-ok")
    batch = d["DataQualityJobInput"]["BatchTransformInput"]
    assert batch["DataCapturedDestinationS3Uri"] == CAPTURE and batch["S3InputMode"] == "File"
    sm.delete_data_quality_job_definition(JobDefinitionName="bt-ok")


def test_a_transform_job_captures_its_input_and_output_manifests(mon_server):
    sm, s3 = mon_server.client("sagemaker"), mon_server.client("s3")
    rows = np.random.default_rng(2).random((50, 4))
    d = _transform(sm, s3, "bt-capture", rows)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    assert d["DataCaptureConfig"]["DestinationS3Uri"] == CAPTURE
    hour = time.strftime("%Y/%m/%d/", time.gmtime())
    inputs = [k for k in _keys(s3, "batch-capture/input/") if "bt-capture-" in k]
    outputs = [k for k in _keys(s3, "batch-capture/output/") if "bt-capture-" in k]
    assert len(inputs) == 1 and len(outputs) == 1 and inputs[0].startswith(f"batch-capture/input/{hour}")
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=inputs[0])["Body"].read())
    assert manifest == [{"prefix": f"s3://{BUCKET}/batch-in/bt-capture/"}, "data.csv"]
    out = json.loads(s3.get_object(Bucket=BUCKET, Key=outputs[0])["Body"].read())
    assert out == [{"prefix": f"s3://{BUCKET}/batch-out/bt-capture/"}, "data.csv.out"]


def test_a_bad_capture_destination_is_refused(mon_server):
    sm = mon_server.client("sagemaker")
    with pytest.raises(ClientError) as e:
        sm.create_transform_job(
            TransformJobName="bt-bad-capture", ModelName="monitored-model",
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": f"s3://{BUCKET}/batch-in/"}}},
            TransformOutput={"S3OutputPath": f"s3://{BUCKET}/batch-out/bad"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1},
            DataCaptureConfig={"DestinationS3Uri": "s3://no-such-bucket-h10/capture"})
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "DataCaptureConfig.DestinationS3Uri" in e.value.response["Error"]["Message"]


def test_a_now_schedule_over_batch_transform_capture_finds_the_drift(mon_server):
    sm, s3 = mon_server.client("sagemaker"), mon_server.client("s3")
    baseline = _baseline(s3)
    drifted = np.random.default_rng(3).random((300, 4))
    drifted[:, 1] = drifted[:, 1] * 3 + 2.0   # _c1 moved far from [0, 1)
    d = _transform(sm, s3, "bt-drifted", drifted)
    assert d["TransformJobStatus"] == "Completed", d.get("FailureReason")
    sm.create_data_quality_job_definition(**_definition("bt-dq", baseline))
    sm.create_monitoring_schedule(MonitoringScheduleName="bt-now", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "bt-dq", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}})
    ex = wait_until(lambda: next((e for e in sm.list_monitoring_executions(MonitoringScheduleName="bt-now")[
        "MonitoringExecutionSummaries"] if e["MonitoringExecutionStatus"] not in ("Pending", "InProgress")), None),
        120, "the batch monitoring execution")
    assert ex["MonitoringExecutionStatus"] == "CompletedWithViolations", ex
    job = sm.describe_processing_job(ProcessingJobName=ex["ProcessingJobArn"].split("/")[-1])
    batch_inputs = [i for i in job["ProcessingInputs"] if i["InputName"].startswith("batch_transform_input_")]
    assert batch_inputs and all(i["S3Input"]["S3DataType"] == "ManifestFile" for i in batch_inputs)
    assert json.loads(job["Environment"]["dataset_format"]) == {"csv": {"header": False}}
    result = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    bucket, key = result[5:].split("/", 1)
    doc = json.loads(s3.get_object(Bucket=bucket, Key=f"{key}/constraint_violations.json")["Body"].read())
    drift = {v["feature_name"] for v in doc["violations"] if v["constraint_check_type"] == "baseline_drift_check"}
    assert "_c1" in drift and "_c0" not in drift
