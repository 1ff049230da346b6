"""Multiclass classification with Amazon SageMaker XGBoost algorithm (MNIST), converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/xgboost_mnist/xgboost_mnist.ipynb

boto3 CreateTrainingJob on libsvm data (multi:softmax, 10 classes), hosting, InvokeEndpoint with
text/x-libsvm and the error rate on the test set. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os
import time

import boto3
import numpy as np
import sagemaker
from sklearn.datasets import dump_svmlight_file, load_digits

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
region = boto3.Session().region_name

bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/DEMO-xgboost-multiclass-classification"
bucket_path = f"s3://{bucket}"

# SHIPYARD: the notebook downloads mnist.pkl.gz (28x28 images). No downloads at run time: scikit-learn's
# bundled 8x8 digits (64 features instead of 784, same labels 0-9), split into train/validation/test.
digits = load_digits()
X, y = digits.data.astype("float32") / 16.0, digits.target
train_set, valid_set, test_set = (X[:1200], y[:1200]), (X[1200:1500], y[1200:1500]), (X[1500:], y[1500:])


def to_libsvm(f, labels, values):
    f.write(bytes("\n".join([
        f"{label} {' '.join([f'{i}:{v}' for i, v in enumerate(vec) if v != 0])}" for label, vec in
        zip(labels, values)]), "utf-8"))
    return f


def write_to_s3(fobj, bucket, key):
    return boto3.Session(region_name=region).resource("s3").Bucket(bucket).Object(key).upload_fileobj(fobj)


def get_dataset():
    return train_set, valid_set, test_set


def upload_to_s3(partition_name, partition):
    labels = [t.tolist() for t in partition[1]]
    vectors = [t.tolist() for t in partition[0]]
    num_partition = 5  # partition file into 5 parts
    partition_bound = int(len(labels) / num_partition)
    for i in range(num_partition):
        f = io.BytesIO()
        to_libsvm(f, labels[i * partition_bound:(i + 1) * partition_bound],
                  vectors[i * partition_bound:(i + 1) * partition_bound])
        f.seek(0)
        key = f"{prefix}/{partition_name}/examples{i}"
        url = f"s3://{bucket}/{key}"
        print(f"Writing to {url}")
        write_to_s3(f, bucket, key)
        print(f"Done writing to {url}")


def convert_data():
    train_set, valid_set, test_set = get_dataset()
    partitions = [("train", train_set), ("validation", valid_set), ("test", test_set)]
    for partition_name, partition in partitions:
        print(f"{partition_name}: {partition[0].shape} {partition[1].shape}")
        upload_to_s3(partition_name, partition)


convert_data()

container = sagemaker.image_uris.retrieve("xgboost", region, "1.7-1")

client = boto3.client("sagemaker", region_name=region)

training_job_name = f"DEMO-xgboost-classification{time.strftime('%Y-%m-%d-%H-%M-%S', time.gmtime())}"
print("Training job", training_job_name)

create_training_params = {
    "AlgorithmSpecification": {"TrainingImage": container, "TrainingInputMode": "File"},
    "RoleArn": role,
    "OutputDataConfig": {"S3OutputPath": f"{bucket_path}/{prefix}/xgboost"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.4xlarge", "VolumeSizeInGB": 5},
    "TrainingJobName": training_job_name,
    "HyperParameters": {
        "max_depth": "5",
        "eta": "0.2",
        "gamma": "4",
        "min_child_weight": "6",
        "silent": "0",
        "objective": "multi:softmax",
        "num_class": "10",
        "num_round": "10",
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 60 * 60},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"{bucket_path}/{prefix}/train/",
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
                    "S3Uri": f"{bucket_path}/{prefix}/validation/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "libsvm",
            "CompressionType": "None",
        },
    ],
}

client.create_training_job(**create_training_params)
status = client.describe_training_job(TrainingJobName=training_job_name)["TrainingJobStatus"]
print(status)
try:
    client.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=training_job_name,
        WaiterConfig={"Delay": 2, "MaxAttempts": 120},  # SHIPYARD: shorter waits than the default 30 s
    )
finally:
    desc = client.describe_training_job(TrainingJobName=training_job_name)
    status = desc["TrainingJobStatus"]
    print("Training job ended with status: " + status)
    if status == "Failed":
        message = desc["FailureReason"]
        print(f"Training failed with the following error: {message}")
        raise Exception("Training job failed")

# Set up hosting for the model
model_name = f"{training_job_name}-mod"
print(model_name)
info = client.describe_training_job(TrainingJobName=training_job_name)
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
client.get_waiter("endpoint_in_service").wait(
    EndpointName=endpoint_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})  # SHIPYARD: shorter waits
resp = client.describe_endpoint(EndpointName=endpoint_name)
print(f"Arn: {resp['EndpointArn']}")
print(f"Status: {resp['EndpointStatus']}")

# Validate the model for use
runtime_client = boto3.client("runtime.sagemaker", region_name=region)

# SHIPYARD: the notebook downloads the test partition it uploaded; we read it back the same way.
download_bucket = boto3.resource("s3").Bucket(bucket)
download_bucket.download_file(f"{prefix}/test/examples0", "test.data")


def do_predict(data, endpoint_name, content_type):
    payload = "\n".join(data)
    response = runtime_client.invoke_endpoint(EndpointName=endpoint_name, ContentType=content_type,
                                              Body=payload)
    result = response["Body"].read()
    result = result.decode("utf-8")
    result = result.strip("\n").split("\n")
    preds = [float(num) for num in result]
    return preds


def batch_predict(data, batch_size, endpoint_name, content_type):
    items = len(data)
    arrs = []
    for offset in range(0, items, batch_size):
        if offset + batch_size < items:
            results = do_predict(data[offset:(offset + batch_size)], endpoint_name, content_type)
            arrs.extend(results)
        else:
            arrs.extend(do_predict(data[offset:items], endpoint_name, content_type))
    return arrs


with open("test.data", "r") as f:
    payload = f.read().strip()
labels = [int(line.split(" ")[0]) for line in payload.split("\n")]
test_data = [line for line in payload.split("\n")]
preds = batch_predict(test_data, 100, endpoint_name, "text/x-libsvm")

error_rate = sum(1 for i in range(len(preds)) if preds[i] != labels[i]) / float(len(preds))
print(f"\nerror rate={error_rate:.4f}")
assert len(preds) == len(labels) and error_rate < 0.5, error_rate  # SHIPYARD: sanity check

client.delete_endpoint(EndpointName=endpoint_name)
client.delete_endpoint_config(EndpointConfigName=endpoint_config_name)
client.delete_model(ModelName=model_name)
