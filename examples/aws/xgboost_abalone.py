"""Regression with Amazon SageMaker XGBoost algorithm (abalone), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/xgboost_abalone/xgboost_abalone.ipynb

Low-level boto3 flow: CreateTrainingJob with libsvm channels, CreateModel, CreateEndpointConfig,
CreateEndpoint, InvokeEndpoint with text/x-libsvm. Adaptations are marked ``# SHIPYARD:``.
"""

import os
import time

import boto3
import numpy as np
import sagemaker

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
region = boto3.Session().region_name

# S3 bucket for saving code and model artifacts.
bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/DEMO-xgboost-abalone-default"
s3_client = boto3.client("s3")

FILE_TRAIN = "abalone.train"
FILE_VALIDATION = "abalone.validation"
FILE_TEST = "abalone.test"


# SHIPYARD: the notebook downloads the abalone libsvm file from the LIBSVM site and splits it 70/15/15. No
# downloads at run time here: a generated set of the same schema (label = rings; features 1..8 = sex code,
# length, diameter, height, whole/shucked/viscera/shell weight), small, in the same libsvm format.
def generate_abalone(n, seed):
    rng = np.random.default_rng(seed)
    sex = rng.integers(1, 4, size=n)
    length = rng.uniform(0.1, 0.8, size=n)
    diameter = length * rng.uniform(0.7, 0.85, size=n)
    height = length * rng.uniform(0.2, 0.4, size=n)
    whole = 4 * length ** 3 * rng.uniform(0.8, 1.2, size=n)
    shucked, viscera, shell = whole * 0.43, whole * 0.22, whole * 0.29
    rings = np.clip(np.round(3 + 15 * shell + 8 * length + rng.normal(0, 1.5, size=n)), 1, 29)
    features = np.column_stack([sex, length, diameter, height, whole, shucked, viscera, shell])
    return rings, features


def write_libsvm(path, labels, features):
    with open(path, "w") as f:
        for label, row in zip(labels, features):
            f.write(f"{int(label)} " + " ".join(f"{i + 1}:{v:.4f}" for i, v in enumerate(row)) + "\n")


for name, n, seed in ((FILE_TRAIN, 700, 1), (FILE_VALIDATION, 150, 2), (FILE_TEST, 150, 3)):
    write_libsvm(name, *generate_abalone(n, seed))


def upload_to_s3(bucket, channel, filename):
    s3 = boto3.resource("s3")
    data = open(filename, "rb")
    key = f"{prefix}/{channel}/{filename}"
    url = f"s3://{bucket}/{key}"
    print(f"Writing to {url}")
    s3.Bucket(bucket).put_object(Key=key, Body=data)


upload_to_s3(bucket, "train", FILE_TRAIN)
upload_to_s3(bucket, "validation", FILE_VALIDATION)
upload_to_s3(bucket, "test", FILE_TEST)

container = sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")

job_name = f"DEMO-xgboost-regression-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
print("Training job", job_name)

# Ensure that the training and validation data folders generated above are reflected in the "InputDataConfig"
# parameter below.
create_training_params = {
    "AlgorithmSpecification": {"TrainingImage": container, "TrainingInputMode": "File"},
    "RoleArn": role,
    "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{prefix}/single-xgboost"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.2xlarge", "VolumeSizeInGB": 5},
    "TrainingJobName": job_name,
    "HyperParameters": {
        "max_depth": "5",
        "eta": "0.2",
        "gamma": "4",
        "min_child_weight": "6",
        "subsample": "0.7",
        "objective": "reg:linear",
        "num_round": "50",
        "verbosity": "2",
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{prefix}/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "libsvm",
            "CompressionType": "None",
        },
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{prefix}/validation",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "libsvm",
            "CompressionType": "None",
        },
    ],
}

client = boto3.client("sagemaker", region_name=region)
client.create_training_job(**create_training_params)

status = client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
print(status)
while status != "Completed" and status != "Failed":
    time.sleep(2)  # SHIPYARD: the notebook polls every 60 s; local jobs take seconds.
    status = client.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
    print(status)
assert status == "Completed", client.describe_training_job(TrainingJobName=job_name).get("FailureReason")

# Set up hosting for the model
model_name = f"{job_name}-model"
print(model_name)

info = client.describe_training_job(TrainingJobName=job_name)
model_data = info["ModelArtifacts"]["S3ModelArtifacts"]
print(model_data)

primary_container = {"Image": container, "ModelDataUrl": model_data}

create_model_response = client.create_model(
    ModelName=model_name, ExecutionRoleArn=role, PrimaryContainer=primary_container
)
print(create_model_response["ModelArn"])

endpoint_config_name = f"DEMO-XGBoostEndpointConfig-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
print(endpoint_config_name)
create_endpoint_config_response = client.create_endpoint_config(
    EndpointConfigName=endpoint_config_name,
    ProductionVariants=[
        {
            "InstanceType": "ml.m5.xlarge",
            "InitialVariantWeight": 1,
            "InitialInstanceCount": 1,
            "ModelName": model_name,
            "VariantName": "AllTraffic",
        }
    ],
)
print(f"Endpoint Config Arn: {create_endpoint_config_response['EndpointConfigArn']}")

endpoint_name = f"DEMO-XGBoostEndpoint-{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
print(endpoint_name)
create_endpoint_response = client.create_endpoint(
    EndpointName=endpoint_name, EndpointConfigName=endpoint_config_name
)
print(create_endpoint_response["EndpointArn"])

resp = client.describe_endpoint(EndpointName=endpoint_name)
status = resp["EndpointStatus"]
while status == "Creating":
    print(f"Status: {status}")
    time.sleep(1)  # SHIPYARD: the notebook polls every 60 s.
    resp = client.describe_endpoint(EndpointName=endpoint_name)
    status = resp["EndpointStatus"]
print(f"Arn: {resp['EndpointArn']}")
print(f"Status: {status}")
assert status == "InService", resp.get("FailureReason")

# Validate the model for use
runtime_client = boto3.client("runtime.sagemaker", region_name=region)

with open(FILE_TEST, "r") as f:
    single = f.readline().strip()
response = runtime_client.invoke_endpoint(EndpointName=endpoint_name, ContentType="text/x-libsvm", Body=single)
result = response["Body"].read().decode("ascii")
print(f"Predicted label is {result}.")

# batch prediction over the test file
with open(FILE_TEST) as f:
    lines = [l.strip() for l in f if l.strip()]
labels = [float(l.split(" ", 1)[0]) for l in lines]
preds = []
for i in range(0, len(lines), 50):
    response = runtime_client.invoke_endpoint(
        EndpointName=endpoint_name, ContentType="text/x-libsvm", Body="\n".join(lines[i:i + 50])
    )
    body = response["Body"].read().decode("ascii")
    preds += [float(v) for v in body.replace("\n", ",").split(",") if v.strip()]
assert len(preds) == len(labels), (len(preds), len(labels))
mae = float(np.mean(np.abs(np.array(preds) - np.array(labels))))
print(f"test MAE: {mae:.3f} rings")
assert mae < 3.0, mae  # SHIPYARD: a sanity check in place of the notebook's plots

client.delete_endpoint(EndpointName=endpoint_name)
client.delete_endpoint_config(EndpointConfigName=endpoint_config_name)
client.delete_model(ModelName=model_name)
