"""Image classification, full training, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/imageclassification_caltech/Image-classification-fulltraining.ipynb

The notebook trains the built-in image classification algorithm (a ResNet trained from scratch) on Caltech-256
packed as MXNet RecordIO (.rec) files, through the low-level boto3 API: CreateTrainingJob with
image_uris.retrieve("image-classification"), a waiter, CreateModel, a batch transform over a folder of test
images (reading ``prediction`` from each .out file), then a real-time endpoint that classifies one image sent
as application/x-image. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import json
import time
from urllib.parse import urlparse

import boto3
import numpy as np
import sagemaker
from sagemaker import image_uris

from shipyard.algorithms.image_classification import synthetic
from shipyard.io.image_record import ImageRecord, write_rec

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
# SHIPYARD: the notebook asks you to fill in a bucket; the session's default bucket is used.
bucket = sagemaker.Session().default_bucket()

training_image = image_uris.retrieve(region=boto3.Session().region_name, framework="image-classification")
print(training_image)


def upload_to_s3(channel, file):
    s3 = boto3.resource("s3")
    data = open(file, "rb")
    key = channel + "/" + file
    s3.Bucket(bucket).put_object(Key=key, Body=data)


# caltech-256
s3_train_key = "image-classification-full-training/train"
s3_validation_key = "image-classification-full-training/validation"
s3_train = "s3://{}/{}/".format(bucket, s3_train_key)
s3_validation = "s3://{}/{}/".format(bucket, s3_validation_key)

# SHIPYARD: the notebook downloads caltech-256-60-train.rec / caltech-256-60-val.rec (15,420 + 15,240 images of
# 257 categories). No downloads at run time: 4 categories of generated 32x32 shape images (circles, squares,
# triangles, crosses on noisy backgrounds), packed into .rec files with Shipyard's MXNet image-record writer
# (what im2rec.py writes).
object_categories = list(synthetic.SHAPES[:4])
for name, count, seed in (("caltech-256-60-train.rec", 480, 1), ("caltech-256-60-val.rec", 120, 2)):
    with open(name, "wb") as f:
        write_rec(f, (ImageRecord([float(label)], synthetic.encode(img), i)
                      for i, (img, label) in enumerate(synthetic.images(count, len(object_categories), 32, seed))))
upload_to_s3(s3_train_key, "caltech-256-60-train.rec")
upload_to_s3(s3_validation_key, "caltech-256-60-val.rec")

# The algorithm supports multiple network depth (number of layers). They are 18, 34, 50, 101, 152 and 200
# For this training, we will use 18 layers
# SHIPYARD: 20 layers (the CIFAR-style ResNet for small images) instead of 18, to train in seconds on a CPU.
num_layers = 20
# we need to specify the input image shape for the training data
# SHIPYARD: 32x32 generated images instead of 224x224 photographs.
image_shape = "3,32,32"
# we also need to specify the number of training samples in the training set
# for caltech it is 15420
num_training_samples = 480
# specify the number of output classes
num_classes = len(object_categories)
# batch size for training
# SHIPYARD: 32 instead of 64 (480 images).
mini_batch_size = 32
# number of epochs
# SHIPYARD: 3 epochs instead of 2 (a model trained from scratch on 480 images needs another pass).
epochs = 3
# learning rate
# SHIPYARD: 0.05 instead of 0.01 (few steps from scratch).
learning_rate = 0.05

s3 = boto3.client("s3")
# create unique job name
job_name_prefix = "DEMO-imageclassification"
timestamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.gmtime())
job_name = job_name_prefix + timestamp
training_params = {
    # specify the training docker image
    "AlgorithmSpecification": {"TrainingImage": training_image, "TrainingInputMode": "File"},
    "RoleArn": role,
    "OutputDataConfig": {"S3OutputPath": "s3://{}/{}/output".format(bucket, job_name_prefix)},
    # SHIPYARD: ml.c5.xlarge instead of ml.p2.xlarge (the job runs on this machine's CPUs; a GPU instance type
    # would train on CUDA where torch sees one).
    "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.c5.xlarge", "VolumeSizeInGB": 50},
    "TrainingJobName": job_name,
    "HyperParameters": {
        "image_shape": image_shape,
        "num_layers": str(num_layers),
        "num_training_samples": str(num_training_samples),
        "num_classes": str(num_classes),
        "mini_batch_size": str(mini_batch_size),
        "epochs": str(epochs),
        "learning_rate": str(learning_rate),
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 360000},
    # Training data should be inside a subdirectory called "train"
    # Validation data should be inside a subdirectory called "validation"
    # The algorithm currently only supports fullyreplicated model (where data is copied onto each machine)
    "InputDataConfig": [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": s3_train,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "application/x-recordio",
            "CompressionType": "None",
        },
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": s3_validation,
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "application/x-recordio",
            "CompressionType": "None",
        },
    ],
}
print("Training job name: {}".format(job_name))
print("\nInput Data Location: {}".format(training_params["InputDataConfig"][0]["DataSource"]["S3DataSource"]))

# create the Amazon SageMaker training job
sagemaker = boto3.client(service_name="sagemaker")
sagemaker.create_training_job(**training_params)

# confirm that the training job has started
status = sagemaker.describe_training_job(TrainingJobName=job_name)["TrainingJobStatus"]
print("Training job current status: {}".format(status))

try:
    # wait for the job to finish and report the ending status
    # SHIPYARD: the waiter polls every 2 s instead of 60 s.
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=job_name, WaiterConfig={"Delay": 2, "MaxAttempts": 300})
    training_info = sagemaker.describe_training_job(TrainingJobName=job_name)
    status = training_info["TrainingJobStatus"]
    print("Training job ended with status: " + status)
except Exception:
    print("Training failed to start")
    # if exception is raised, that means it has failed
    message = sagemaker.describe_training_job(TrainingJobName=job_name)["FailureReason"]
    print("Training failed with the following error: {}".format(message))

training_info = sagemaker.describe_training_job(TrainingJobName=job_name)
status = training_info["TrainingJobStatus"]
print("Training job ended with status: " + status)
# SHIPYARD: fail the script (not just print) when the job did not complete, and show the metrics.
assert status == "Completed", training_info.get("FailureReason")
print({m["MetricName"]: m["Value"] for m in training_info.get("FinalMetricDataList", [])})

# Inference: create the model
sage = boto3.Session().client(service_name="sagemaker")

model_name = "DEMO-full-image-classification-model" + time.strftime("-%Y-%m-%d-%H-%M-%S", time.gmtime())
print(model_name)
info = sage.describe_training_job(TrainingJobName=job_name)
model_data = info["ModelArtifacts"]["S3ModelArtifacts"]
print(model_data)

hosting_image = image_uris.retrieve(region=boto3.Session().region_name, framework="image-classification")

primary_container = {
    "Image": hosting_image,
    "ModelDataUrl": model_data,
}

create_model_response = sage.create_model(
    ModelName=model_name, ExecutionRoleArn=role, PrimaryContainer=primary_container
)

print(create_model_response["ModelArn"])

# Download test data
# SHIPYARD: the notebook downloads Caltech-256's 008.bathtub images; instead 12 generated test images (3 per
# category) are written as .jpg files and uploaded under the batch input prefix.
batch_input = "s3://{}/image-classification-full-training/test/".format(bucket)
test_set = synthetic.images(12, num_classes, 32, seed=3)
for i, (img, label) in enumerate(test_set):
    boto3.resource("s3").Bucket(bucket).put_object(
        Key="image-classification-full-training/test/{:03d}.{}.jpg".format(i, object_categories[label]),
        Body=synthetic.encode(img))

# Create batch transform job
timestamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.gmtime())
batch_job_name = "image-classification-model" + timestamp
request = {
    "TransformJobName": batch_job_name,
    "ModelName": model_name,
    "MaxConcurrentTransforms": 16,
    "MaxPayloadInMB": 6,
    "BatchStrategy": "SingleRecord",
    "TransformOutput": {"S3OutputPath": "s3://{}/{}/output".format(bucket, batch_job_name)},
    "TransformInput": {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": batch_input}},
        "ContentType": "application/x-image",
        "SplitType": "None",
        "CompressionType": "None",
    },
    # SHIPYARD: ml.c5.xlarge instead of ml.p2.xlarge.
    "TransformResources": {"InstanceType": "ml.c5.xlarge", "InstanceCount": 1},
}

print("Transform job name: {}".format(batch_job_name))
print("\nInput Data Location: {}".format(s3_validation))

sagemaker = boto3.client("sagemaker")
sagemaker.create_transform_job(**request)

print("Created Transform job with name: ", batch_job_name)

while True:
    response = sagemaker.describe_transform_job(TransformJobName=batch_job_name)
    status = response["TransformJobStatus"]
    if status == "Completed":
        print("Transform job ended with status: " + status)
        break
    if status == "Failed":
        message = response["FailureReason"]
        print("Transform failed with the following error: {}".format(message))
        raise Exception("Transform job failed")
    # SHIPYARD: 1 s between looks instead of 30 s.
    time.sleep(1)

s3_client = boto3.client("s3")


def list_objects(s3_client, bucket, prefix):
    response = s3_client.list_objects(Bucket=bucket, Prefix=prefix)
    objects = [content["Key"] for content in response["Contents"]]
    return objects


def get_label(s3_client, bucket, prefix):
    filename = prefix.split("/")[-1]
    # SHIPYARD: read the .out object in memory rather than download_file into the working directory.
    data = json.load(io.BytesIO(s3_client.get_object(Bucket=bucket, Key=prefix)["Body"].read()))
    index = np.argmax(data["prediction"])
    probability = data["prediction"][index]
    print("Result: label - " + object_categories[index] + ", probability - " + str(probability)
          + "  (" + filename + ")")
    return object_categories[index], probability


inputs = list_objects(s3_client, bucket, urlparse(batch_input).path.lstrip("/"))
print("Sample inputs: " + str(inputs[:2]))

outputs = list_objects(s3_client, bucket, batch_job_name + "/output")
print("Sample output: " + str(outputs[:2]))

# Check prediction result on the first 2 files
[get_label(s3_client, bucket, prefix) for prefix in outputs[0:2]]
# SHIPYARD: every output checked against the category in its file name, so the script fails if the model
# did not learn.
labels = [get_label(s3_client, bucket, prefix)[0] for prefix in outputs]
right = sum(label == prefix.split(".")[-3] for label, prefix in zip(labels, outputs))
print("batch transform: {} of {} test images classified right".format(right, len(outputs)))
assert len(outputs) == len(test_set) and right >= len(outputs) // 2, (right, outputs)

# Realtime inference: create endpoint configuration
timestamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.gmtime())
endpoint_config_name = job_name_prefix + "-epc-" + timestamp
endpoint_config_response = sage.create_endpoint_config(
    EndpointConfigName=endpoint_config_name,
    ProductionVariants=[
        {
            # SHIPYARD: ml.m5.large instead of ml.p2.xlarge.
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
            "ModelName": model_name,
            "VariantName": "AllTraffic",
        }
    ],
)

print("Endpoint configuration name: {}".format(endpoint_config_name))
print("Endpoint configuration arn:  {}".format(endpoint_config_response["EndpointConfigArn"]))

timestamp = time.strftime("-%Y-%m-%d-%H-%M-%S", time.gmtime())
endpoint_name = job_name_prefix + "-ep-" + timestamp
print("Endpoint name: {}".format(endpoint_name))

endpoint_params = {
    "EndpointName": endpoint_name,
    "EndpointConfigName": endpoint_config_name,
}
endpoint_response = sagemaker.create_endpoint(**endpoint_params)
print("EndpointArn = {}".format(endpoint_response["EndpointArn"]))

# get the status of the endpoint
response = sagemaker.describe_endpoint(EndpointName=endpoint_name)
status = response["EndpointStatus"]
print("EndpointStatus = {}".format(status))

try:
    # SHIPYARD: the waiter polls every 1 s instead of 30 s.
    sagemaker.get_waiter("endpoint_in_service").wait(
        EndpointName=endpoint_name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
finally:
    resp = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    status = resp["EndpointStatus"]
    print("Arn: " + resp["EndpointArn"])
    print("Create endpoint ended with status: " + status)

    if status != "InService":
        message = sagemaker.describe_endpoint(EndpointName=endpoint_name)["FailureReason"]
        print("Training failed with the following error: {}".format(message))
        raise Exception("Endpoint creation did not succeed")

# Perform inference
runtime = boto3.Session().client(service_name="runtime.sagemaker")

# SHIPYARD: the notebook downloads a Caltech-256 photo to /tmp/test.jpg; a generated triangle is used instead.
img, label = synthetic.images(3, num_classes, 32, seed=11)[2]
payload = bytearray(synthetic.encode(img))
response = runtime.invoke_endpoint(EndpointName=endpoint_name, ContentType="application/x-image", Body=payload)
result = response["Body"].read()
# result will be in json format and convert it to ndarray
result = json.loads(result)
# the result will output the probabilities for all classes
# find the class with maximum probability and print the class index
index = np.argmax(result)
print("Result: label - " + object_categories[index] + ", probability - " + str(result[index]))
print("(the image shows a " + object_categories[label] + ")")

# Clean up
sage.delete_endpoint(EndpointName=endpoint_name)
