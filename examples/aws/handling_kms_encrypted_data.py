"""Handling KMS encrypted data with SageMaker model training and encrypting the generated model artifacts,
converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
advanced_functionality/handling_kms_encrypted_data/handling_kms_encrypted_data.ipynb

Low-level boto3 flow: upload the data with SSE-KMS (ServerSideEncryption aws:kms + SSEKMSKeyId), train the built-in
XGBoost with ``OutputDataConfig.KmsKeyId`` and ``ResourceConfig.VolumeKmsKeyId``, host it behind an endpoint
config with ``KmsKeyId``, predict, and run a batch transform whose output is encrypted with the key. Adaptations
are marked ``# SHIPYARD:``; the KMS calls are the notebook's, unmodified.
"""

import os
import time

import boto3
import numpy as np
import sagemaker

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
region = boto3.Session().region_name
bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/DEMO-kms-encrypted-data"

# SHIPYARD: the notebook takes the ARN of a KMS key you already have ("kms_key_arn = '<your-kms-key-arn>'").
# Here the key is created with boto3's kms client, against Shipyard's own key service.
kms = boto3.client("kms")
kms_key_arn = kms.create_key(Description="SageMaker KMS example")["KeyMetadata"]["Arn"]
print("Using KMS key", kms_key_arn)
s3 = boto3.client("s3")


# SHIPYARD: the notebook loads the Boston housing data from scikit-learn (since removed from it, and no
# downloads at run time here): a generated regression set of the same shape (13 features, a price target).
def housing(n, seed):
    rng = np.random.default_rng(seed)
    features = rng.normal(0, 1, size=(n, 13))
    price = 22 + 4 * features[:, 5] - 3 * features[:, 12] + 1.5 * features[:, 0] + rng.normal(0, 1, size=n)
    return features, price


def write_file(features, target, fname, include_labels=True):
    with open(fname, "w") as f:
        for row, y in zip(features, target):
            values = ([f"{y:.4f}"] if include_labels else []) + [f"{v:.5f}" for v in row]
            f.write(",".join(values) + "\n")
    return fname


x_all, y_all = housing(506, 0)
train_file = write_file(x_all[:339], y_all[:339], "train.csv")
validation_file = write_file(x_all[339:422], y_all[339:422], "validation.csv")
test_file = write_file(x_all[422:], y_all[422:], "test.csv", include_labels=False)
y_test = y_all[422:]


def upload_to_s3(fname, bucket):
    with open(fname, "rb") as data:
        s3.put_object(Bucket=bucket, Key=f"{prefix}/{fname.rsplit('.', 1)[0]}/{fname}", Body=data,
                      ServerSideEncryption="aws:kms", SSEKMSKeyId=kms_key_arn)


for f in (train_file, validation_file, test_file):
    upload_to_s3(f, bucket)
head = s3.head_object(Bucket=bucket, Key=f"{prefix}/train/{train_file}")
assert head["ServerSideEncryption"] == "aws:kms" and head["SSEKMSKeyId"] == kms_key_arn, head

container = sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")
job_name = f"DEMO-xgboost-single-regression{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
print("Training job", job_name)

create_training_params = {
    "AlgorithmSpecification": {"TrainingImage": container, "TrainingInputMode": "File"},
    "RoleArn": role,
    "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{prefix}/output", "KmsKeyId": kms_key_arn},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 5,
                       "VolumeKmsKeyId": kms_key_arn},
    "TrainingJobName": job_name,
    "HyperParameters": {"max_depth": "5", "eta": "0.2", "gamma": "4", "min_child_weight": "6",
                        "subsample": "0.7", "objective": "reg:squarederror", "num_round": "50"},
    "StoppingCondition": {"MaxRuntimeInSeconds": 86400},
    "InputDataConfig": [
        {"ChannelName": channel, "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/{prefix}/{channel}",
            "S3DataDistributionType": "FullyReplicated"}}, "ContentType": "csv", "CompressionType": "None"}
        for channel in ("train", "validation")
    ],
}

client = boto3.client("sagemaker", region_name=region)
client.create_training_job(**create_training_params)
status = client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
print(status)
while status not in ("Completed", "Failed", "Stopped"):
    time.sleep(2)  # SHIPYARD: the notebook waits with a waiter polling every minute; local jobs take seconds.
    status = client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
desc = client.describe_training_job(TrainingJobName=job_name)
assert status == "Completed", desc.get("FailureReason")
model_data = desc["ModelArtifacts"]["S3ModelArtifacts"]
print("Model artifacts", model_data)

# The model artifact is encrypted with the job's KmsKeyId.
model_key = model_data.split(f"s3://{bucket}/", 1)[1]
artifact_head = s3.head_object(Bucket=bucket, Key=model_key)
print("Artifact encryption:", artifact_head["ServerSideEncryption"], artifact_head["SSEKMSKeyId"])
assert artifact_head["ServerSideEncryption"] == "aws:kms" and artifact_head["SSEKMSKeyId"] == kms_key_arn

model_name = f"{job_name}-mod"
client.create_model(ModelName=model_name, ExecutionRoleArn=role,
                    PrimaryContainer={"Image": container, "ModelDataUrl": model_data})

endpoint_config_name = f"DEMO-XGBoostEndpointConfig-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
client.create_endpoint_config(
    EndpointConfigName=endpoint_config_name,
    KmsKeyId=kms_key_arn,
    ProductionVariants=[{"InstanceType": "ml.m5.xlarge", "InitialVariantWeight": 1, "InitialInstanceCount": 1,
                         "ModelName": model_name, "VariantName": "AllTraffic"}],
)

endpoint_name = f"DEMO-XGBoostEndpoint-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
client.create_endpoint(EndpointName=endpoint_name, EndpointConfigName=endpoint_config_name)
status = client.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
deadline = time.monotonic() + 240
while status == "Creating" and time.monotonic() < deadline:
    time.sleep(1)  # SHIPYARD: the notebook uses a waiter.
    status = client.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
print("Endpoint status", status)
assert status == "InService", client.describe_endpoint(EndpointName=endpoint_name).get("FailureReason")

# Predict on the test set (downloaded from the encrypted object, as the notebook does).
runtime_client = boto3.client("runtime.sagemaker", region_name=region)
test_body = s3.get_object(Bucket=bucket, Key=f"{prefix}/test/{test_file}")["Body"].read().decode()
rows = [r for r in test_body.splitlines() if r.strip()]
predictions = []
for i in range(0, len(rows), 20):
    response = runtime_client.invoke_endpoint(EndpointName=endpoint_name, ContentType="text/csv",
                                              Body="\n".join(rows[i:i + 20]))
    body = response["Body"].read().decode().replace("\n", ",")
    predictions += [float(v) for v in body.split(",") if v.strip()]
predictions = np.array(predictions)
rmse = float(np.sqrt(np.mean((predictions - y_test) ** 2)))
print(f"Endpoint RMSE on {len(rows)} test rows: {rmse:.3f} (target spread {y_test.std():.3f})")
assert len(predictions) == len(rows) and rmse < y_test.std(), (rmse, y_test.std())

# Batch transform over the encrypted test set, its output encrypted with the same key.
transform_job = f"{job_name}-transform"[:63]
client.create_transform_job(
    TransformJobName=transform_job, ModelName=model_name,
    TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                    "S3Uri": f"s3://{bucket}/{prefix}/test"}},
                    "ContentType": "text/csv", "SplitType": "Line"},
    TransformOutput={"S3OutputPath": f"s3://{bucket}/{prefix}/batch-output", "KmsKeyId": kms_key_arn},
    TransformResources={"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeKmsKeyId": kms_key_arn},
)
status = client.describe_transform_job(TransformJobName=transform_job)["TransformJobStatus"]
deadline = time.monotonic() + 240
while status in ("InProgress", "Stopping") and time.monotonic() < deadline:
    time.sleep(1)
    status = client.describe_transform_job(TransformJobName=transform_job)["TransformJobStatus"]
assert status == "Completed", client.describe_transform_job(TransformJobName=transform_job).get("FailureReason")
out_key = f"{prefix}/batch-output/{test_file}.out"
out_head = s3.head_object(Bucket=bucket, Key=out_key)
assert out_head["ServerSideEncryption"] == "aws:kms" and out_head["SSEKMSKeyId"] == kms_key_arn, out_head
batch = [float(v) for v in s3.get_object(Bucket=bucket, Key=out_key)["Body"].read().decode().split() if v]
print(f"Batch transform wrote {len(batch)} encrypted predictions")
assert len(batch) == len(rows) and np.allclose(batch, predictions, atol=1e-3)

# Clean up (the notebook deletes the endpoint).
client.delete_endpoint(EndpointName=endpoint_name)
for f in (train_file, validation_file, test_file):
    os.remove(f)
print("KMS example done")
