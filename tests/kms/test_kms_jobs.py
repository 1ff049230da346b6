"""SageMaker's KmsKeyId fields: a training job's model is written SSE-KMS under its key and still deploys; keys
that cannot be used are refused at Create time, naming the field."""

from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
from botocore.exceptions import ClientError

pytestmark = pytest.mark.integration  # a server process of its own (module fixture)

ROLE = "arn:aws:iam::123456789012:role/ShipyardTest"
XGBOOST = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
SKLEARN = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    proc = ShipyardProcess(tmp_path_factory.mktemp("kms-jobs-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def _wait(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last is not None:
            return last
        time.sleep(0.3)
    raise AssertionError(f"{what} not reached in {timeout} s")


def _training(name: str, bucket: str, key_id: str | None, volume_key: str | None = None) -> dict:
    output = {"S3OutputPath": f"s3://{bucket}/output"}
    if key_id:
        output["KmsKeyId"] = key_id
    resources = {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5}
    if volume_key:
        resources["VolumeKmsKeyId"] = volume_key
    return {"TrainingJobName": name, "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": XGBOOST, "TrainingInputMode": "File"},
            "HyperParameters": {"objective": "reg:squarederror", "num_round": "10", "max_depth": "3"},
            "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train",
                "S3DataDistributionType": "FullyReplicated"}}}],
            "OutputDataConfig": output, "ResourceConfig": resources,
            "StoppingCondition": {"MaxRuntimeInSeconds": 300}}


def test_kms_key_fields_are_checked_at_create(srv):
    sm, kms, s3 = srv.client("sagemaker"), srv.client("kms"), srv.client("s3")
    s3.create_bucket(Bucket="kms-checks")
    s3.put_object(Bucket="kms-checks", Key="train/data.csv", Body=b"1,2\n3,4\n")
    missing = str(uuid.uuid4())
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**_training("bad-output-key", "kms-checks", missing))
    assert e.value.response["Error"]["Code"] == "ValidationException"
    assert "OutputDataConfig.KmsKeyId" in e.value.response["Error"]["Message"]
    disabled = kms.create_key()["KeyMetadata"]["KeyId"]
    kms.disable_key(KeyId=disabled)
    with pytest.raises(ClientError) as e:
        sm.create_training_job(**_training("bad-volume-key", "kms-checks", None, volume_key=disabled))
    assert "ResourceConfig.VolumeKmsKeyId" in e.value.response["Error"]["Message"]
    assert "disabled" in e.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as e:
        sm.create_endpoint_config(EndpointConfigName="bad-kms", KmsKeyId=missing, ProductionVariants=[
            {"VariantName": "v", "ModelName": "none", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    assert e.value.response["Error"]["Code"] == "ValidationException"


def test_training_output_is_encrypted_and_the_endpoint_serves_it(srv):
    sm, kms, s3 = srv.client("sagemaker"), srv.client("kms"), srv.client("s3")
    runtime = srv.client("sagemaker-runtime")
    key = kms.create_key(Description="model artifacts")["KeyMetadata"]
    bucket = "kms-training"
    s3.create_bucket(Bucket=bucket)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, size=(300, 3))
    y = 3 * x[:, 0] + x[:, 1]
    rows = "\n".join(",".join(f"{v:.5f}" for v in (t, *r)) for t, r in zip(y, x)) + "\n"
    s3.put_object(Bucket=bucket, Key="train/data.csv", Body=rows.encode(), ServerSideEncryption="aws:kms",
                  SSEKMSKeyId=key["KeyId"])  # the job reads its encrypted input as plaintext
    sm.create_training_job(**_training("kms-train", bucket, key["Arn"], volume_key=key["KeyId"]))
    desc = _wait(lambda: (d if (d := sm.describe_training_job(TrainingJobName="kms-train"))["TrainingJobStatus"]
                          in ("Completed", "Failed", "Stopped") else None), 240, "training job end")
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    artifact = desc["ModelArtifacts"]["S3ModelArtifacts"]
    model_key = artifact.split(f"s3://{bucket}/", 1)[1]
    head = s3.head_object(Bucket=bucket, Key=model_key)
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert s3.get_object(Bucket=bucket, Key=model_key)["Body"].read()[:2] == b"\x1f\x8b"  # plaintext to a reader
    stored = [p for p in (srv.home / "objects" / bucket).rglob("*") if p.is_file()]
    assert stored and not [p for p in stored if p.read_bytes()[:2] == b"\x1f\x8b"]  # no gzip stored in the clear
    # VolumeKmsKeyId: the job's folder keeps no plaintext input or model once the job has ended
    job_files = [p for p in (srv.home / "runs").rglob("*") if p.is_file() and "kms-train" in str(p)]
    assert job_files, "the job folder is found"
    first_row = rows.splitlines()[0].encode()
    assert not [p for p in job_files if first_row in p.read_bytes()]
    assert not [p for p in job_files if "/model/" in str(p) or "/input/data/" in str(p)]

    sm.create_model(ModelName="kms-model", ExecutionRoleArn=ROLE,
                    PrimaryContainer={"Image": XGBOOST, "ModelDataUrl": artifact})
    capture = {"EnableCapture": True, "InitialSamplingPercentage": 100, "KmsKeyId": key["Arn"],
               "DestinationS3Uri": f"s3://{bucket}/capture", "CaptureOptions": [{"CaptureMode": "Input"}]}
    sm.create_endpoint_config(EndpointConfigName="kms-config", KmsKeyId=key["KeyId"], DataCaptureConfig=capture,
                              ProductionVariants=[{"VariantName": "v", "ModelName": "kms-model",
                                                   "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="kms-endpoint", EndpointConfigName="kms-config")
    status = _wait(lambda: (s if (s := sm.describe_endpoint(EndpointName="kms-endpoint"))["EndpointStatus"]
                            != "Creating" else None), 180, "endpoint out of Creating")
    assert status["EndpointStatus"] == "InService", status.get("FailureReason")
    body = runtime.invoke_endpoint(EndpointName="kms-endpoint", ContentType="text/csv",
                                   Body="0.9,0.1,0.5\n0.1,0.1,0.5")["Body"].read().decode()
    predictions = [float(v) for v in body.replace("\n", ",").split(",") if v.strip()]
    assert len(predictions) == 2 and predictions[0] > predictions[1] + 1.0
    # the data capture the server writes for the endpoint is encrypted under the capture key too
    captured = _wait(lambda: s3.list_objects_v2(Bucket=bucket, Prefix="capture/").get("Contents"), 30, "capture")
    head = s3.head_object(Bucket=bucket, Key=captured[0]["Key"])
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    assert b'"captureData"' in s3.get_object(Bucket=bucket, Key=captured[0]["Key"])["Body"].read()
    stored = [p.read_bytes() for p in (srv.home / "objects" / bucket).rglob("*") if p.is_file()]
    assert not [b for b in stored if b'"captureData"' in b]
    sm.delete_endpoint(EndpointName="kms-endpoint")


def test_processing_outputs_are_encrypted_under_the_output_key(srv):
    sm, kms, s3 = srv.client("sagemaker"), srv.client("kms"), srv.client("s3")
    key = kms.create_key()["KeyMetadata"]
    bucket, name = "kms-processing", "kms-process"
    s3.create_bucket(Bucket=bucket)
    script = (b"import pathlib\n"
              b"pathlib.Path('/opt/ml/processing/output/out/result.txt').write_text('processed ' + 'secret'.upper())\n")
    s3.put_object(Bucket=bucket, Key=f"{name}/code/process.py", Body=script)
    sm.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE,
        ProcessingInputs=[{"InputName": "code", "S3Input": {
            "S3Uri": f"s3://{bucket}/{name}/code/process.py", "LocalPath": "/opt/ml/processing/input/code",
            "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
        ProcessingOutputConfig={"KmsKeyId": key["KeyId"], "Outputs": [
            {"OutputName": "out", "S3Output": {"S3Uri": f"s3://{bucket}/{name}/output/out", "S3UploadMode": "EndOfJob",
                                               "LocalPath": "/opt/ml/processing/output/out"}}]},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 5, "VolumeKmsKeyId": key["Arn"]}},
        AppSpecification={"ImageUri": SKLEARN,
                          "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/process.py"]},
        StoppingCondition={"MaxRuntimeInSeconds": 120})
    desc = _wait(lambda: (d if (d := sm.describe_processing_job(ProcessingJobName=name))["ProcessingJobStatus"]
                          in ("Completed", "Failed", "Stopped") else None), 180, "processing job end")
    assert desc["ProcessingJobStatus"] == "Completed", desc.get("FailureReason")
    got = s3.get_object(Bucket=bucket, Key=f"{name}/output/out/result.txt")
    assert got["Body"].read() == b"processed SECRET"
    assert (got["ServerSideEncryption"], got["SSEKMSKeyId"]) == ("aws:kms", key["Arn"])
    stored = [p.read_bytes() for p in (srv.home / "objects" / bucket).rglob("*") if p.is_file()]
    assert not [b for b in stored if b"processed SECRET" in b]
