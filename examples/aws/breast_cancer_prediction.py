"""Breast Cancer Prediction with built-in Linear Learner (boto3 low-level API), converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_applying_machine_learning/breast_cancer_prediction/Breast Cancer Prediction.ipynb

Wisconsin Diagnostic Breast Cancer data, RecordIO-protobuf train/validation channels, CreateTrainingJob,
CreateModel, CreateEndpointConfig, CreateEndpoint, InvokeEndpoint with CSV and JSON scores.
Adaptations are marked ``# SHIPYARD:``.
"""

import io
import json
import os
import time

import boto3
import numpy as np
import pandas as pd
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import image_uris
from sklearn.datasets import load_breast_cancer

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/DEMO-breast-cancer-prediction"

# SHIPYARD: the notebook reads wdbc.data from the UCI repository (id, diagnosis, 30 features). scikit-learn
# bundles the same data set; rebuilt here as a data frame with the notebook's columns.
raw = load_breast_cancer()
data = pd.DataFrame(raw.data)
data.insert(0, "diagnosis", np.where(raw.target == 0, "M", "B"))
data.insert(0, "id", np.arange(len(data)))
data.columns = ["id", "diagnosis", "radius_mean", "texture_mean", "perimeter_mean", "area_mean",
                "smoothness_mean", "compactness_mean", "concavity_mean", "concave points_mean",
                "symmetry_mean", "fractal_dimension_mean", "radius_se", "texture_se", "perimeter_se", "area_se",
                "smoothness_se", "compactness_se", "concavity_se", "concave points_se", "symmetry_se",
                "fractal_dimension_se", "radius_worst", "texture_worst", "perimeter_worst", "area_worst",
                "smoothness_worst", "compactness_worst", "concavity_worst", "concave points_worst",
                "symmetry_worst", "fractal_dimension_worst"]
print(data.head(8))
print(data.diagnosis.value_counts())

rand_split = np.random.rand(len(data))
train_list = rand_split < 0.8
val_list = (rand_split >= 0.8) & (rand_split < 0.9)
test_list = rand_split >= 0.9

data_train = data[train_list]
data_val = data[val_list]
data_test = data[test_list]

train_y = ((data_train.iloc[:, 1] == "M") + 0).to_numpy()
train_X = data_train.iloc[:, 2:].to_numpy()

val_y = ((data_val.iloc[:, 1] == "M") + 0).to_numpy()
val_X = data_val.iloc[:, 2:].to_numpy()

test_y = ((data_test.iloc[:, 1] == "M") + 0).to_numpy()
test_X = data_test.iloc[:, 2:].to_numpy()

train_file = "linear_train.data"

f = io.BytesIO()
smac.write_numpy_to_dense_tensor(f, train_X.astype("float32"), train_y.astype("float32"))
f.seek(0)

boto3.Session().resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train", train_file)).upload_fileobj(f)

validation_file = "linear_validation.data"

f = io.BytesIO()
smac.write_numpy_to_dense_tensor(f, val_X.astype("float32"), val_y.astype("float32"))
f.seek(0)

boto3.Session().resource("s3").Bucket(bucket).Object(
    os.path.join(prefix, "validation", validation_file)).upload_fileobj(f)

container = image_uris.retrieve(region=boto3.Session().region_name, framework="linear-learner")

linear_job = "DEMO-linear-" + time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())

print("Job name is:", linear_job)

linear_training_params = {
    "RoleArn": role,
    "TrainingJobName": linear_job,
    "AlgorithmSpecification": {"TrainingImage": container, "TrainingInputMode": "File"},
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c4.2xlarge", "VolumeSizeInGB": 10},
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{prefix}/train/",
                    "S3DataDistributionType": "ShardedByS3Key",
                }
            },
            "CompressionType": "None",
            "RecordWrapperType": "None",
        },
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/{prefix}/validation/",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "CompressionType": "None",
            "RecordWrapperType": "None",
        },
    ],
    "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/{prefix}/"},
    "HyperParameters": {
        "feature_dim": "30",
        "mini_batch_size": "100",
        "predictor_type": "regressor",
        "epochs": "10",
        "num_models": "32",
        "loss": "absolute_loss",
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 60 * 60},
}

region = boto3.Session().region_name
sm = boto3.client("sagemaker")

sm.create_training_job(**linear_training_params)

status = sm.describe_training_job(TrainingJobName=linear_job)["TrainingJobStatus"]
print(status)
sm.get_waiter("training_job_completed_or_stopped").wait(
    TrainingJobName=linear_job, WaiterConfig={"Delay": 2, "MaxAttempts": 120})  # SHIPYARD: shorter waits
if status == "Failed":
    message = sm.describe_training_job(TrainingJobName=linear_job)["FailureReason"]
    print(f"Training failed with the following error: {message}")
    raise Exception("Training job failed")
status = sm.describe_training_job(TrainingJobName=linear_job)["TrainingJobStatus"]
assert status == "Completed", sm.describe_training_job(TrainingJobName=linear_job).get("FailureReason")

linear_hosting_container = {
    "Image": container,
    "ModelDataUrl": sm.describe_training_job(TrainingJobName=linear_job)["ModelArtifacts"]["S3ModelArtifacts"],
}

create_model_response = sm.create_model(
    ModelName=linear_job, ExecutionRoleArn=role, PrimaryContainer=linear_hosting_container
)

print(create_model_response["ModelArn"])

linear_endpoint_config = "DEMO-linear-endpoint-config-" + time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
print(linear_endpoint_config)
create_endpoint_config_response = sm.create_endpoint_config(
    EndpointConfigName=linear_endpoint_config,
    ProductionVariants=[
        {
            "InstanceType": "ml.m4.xlarge",
            "InitialInstanceCount": 1,
            "ModelName": linear_job,
            "VariantName": "AllTraffic",
        }
    ],
)

print("Endpoint Config Arn: " + create_endpoint_config_response["EndpointConfigArn"])

linear_endpoint = "DEMO-linear-endpoint-" + time.strftime("%Y%m%d%H%M", time.gmtime())
print(linear_endpoint)
create_endpoint_response = sm.create_endpoint(
    EndpointName=linear_endpoint, EndpointConfigName=linear_endpoint_config
)
print(create_endpoint_response["EndpointArn"])

resp = sm.describe_endpoint(EndpointName=linear_endpoint)
status = resp["EndpointStatus"]
print("Status: " + status)

try:
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=linear_endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 120})  # SHIPYARD: shorter
finally:
    resp = sm.describe_endpoint(EndpointName=linear_endpoint)
    status = resp["EndpointStatus"]
    print("Arn: " + resp["EndpointArn"])
    print("Create endpoint ended with status: " + status)

    if status != "InService":
        message = sm.describe_endpoint(EndpointName=linear_endpoint)["FailureReason"]
        print(f"Training failed with the following error: {message}")
        raise Exception("Endpoint creation did not succeed")


def np2csv(arr):
    csv = io.BytesIO()
    np.savetxt(csv, arr, delimiter=",", fmt="%g")
    return csv.getvalue().decode().rstrip()


runtime = boto3.client("runtime.sagemaker")

payload = np2csv(test_X)
response = runtime.invoke_endpoint(EndpointName=linear_endpoint, ContentType="text/csv", Body=payload)
result = json.loads(response["Body"].read().decode())
test_pred = np.array([r["score"] for r in result["predictions"]])

test_mae_linear = np.mean(np.abs(test_y - test_pred))
test_mae_baseline = np.mean(np.abs(test_y - np.median(train_y)))  # training median as baseline predictor

print("Test MAE Baseline :", round(test_mae_baseline, 3))
print("Test MAE Linear:", round(test_mae_linear, 3))

test_pred_class = (test_pred > 0.5) + 0
test_pred_baseline = np.repeat(np.median(train_y), len(test_y))

prediction_accuracy = np.mean((test_y == test_pred_class)) * 100
baseline_accuracy = np.mean((test_y == test_pred_baseline)) * 100

print("Prediction Accuracy:", round(prediction_accuracy, 1), "%")
print("Baseline Accuracy:", round(baseline_accuracy, 1), "%")
assert len(test_pred) == len(test_y)  # SHIPYARD: sanity check

sm.delete_endpoint(EndpointName=linear_endpoint)
