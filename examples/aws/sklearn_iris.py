"""Iris training and prediction with SageMaker Scikit-learn (script mode), with batch transform.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-python-sdk/scikit_learn_iris/scikit_learn_estimator_example_with_batch_transform.ipynb

SKLearn estimator running sklearn_iris/scikit_learn_iris.py (the notebook's script, unchanged), deploy and
predict with the SDK's default numpy (application/x-npy) serializer, then a batch transform of a CSV file
with sklearn.transformer(). Adaptations are marked ``# SHIPYARD:``.
"""

import os
from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.sklearn.estimator import SKLearn
from sklearn import datasets

# S3 prefix
prefix = "Scikit-iris"

sagemaker_session = sagemaker.Session()

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# Load Iris dataset, then join labels and features
iris = datasets.load_iris()
joined_iris = np.insert(iris.data, 0, iris.target, axis=1)

# Create directory and write csv
os.makedirs("./data", exist_ok=True)
np.savetxt("./data/iris.csv", joined_iris, delimiter=",", fmt="%1.1f, %1.3f, %1.3f, %1.3f, %1.3f")

WORK_DIRECTORY = "data"

train_input = sagemaker_session.upload_data(
    WORK_DIRECTORY, key_prefix=f"{prefix}/{WORK_DIRECTORY}"
)

FRAMEWORK_VERSION = "1.2-1"
# SHIPYARD: the notebook's script sits next to it; here it is in sklearn_iris/ beside this file.
script_path = str(Path(__file__).resolve().parent / "sklearn_iris" / "scikit_learn_iris.py")

sklearn = SKLearn(
    entry_point=script_path,
    framework_version=FRAMEWORK_VERSION,
    instance_type="ml.c4.xlarge",
    role=role,
    sagemaker_session=sagemaker_session,
    hyperparameters={"max_leaf_nodes": 30},
)

sklearn.fit({"train": train_input})

predictor = sklearn.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")

# SHIPYARD: the notebook picks a few rows at random; here every 10th row, deterministic.
test_X = iris.data[::10]
test_y = iris.target[::10]
predictions = predictor.predict(test_X)
print(predictions)
print(test_y)
assert (np.asarray(predictions) == test_y).mean() > 0.9  # SHIPYARD: sanity check

predictor.delete_endpoint()

# Batch transform
# Define a SKLearn Transformer from the trained SKLearn Estimator
transformer = sklearn.transformer(instance_count=1, instance_type="ml.m5.xlarge")

# Prepare the data without the labels, one file for the transform job
shape = pd.read_csv("data/iris.csv", header=None)
batch_file = "batch_data.csv"
os.makedirs("batch", exist_ok=True)
shape.iloc[:, 1:].to_csv(os.path.join("batch", batch_file), header=False, index=False)
batch_input_s3 = sagemaker_session.upload_data(os.path.join("batch", batch_file), key_prefix=f"{prefix}/batch")
print(batch_input_s3)

# Start a transform job and wait for it to finish
transformer.transform(batch_input_s3, content_type="text/csv")
print(f"Waiting for transform job: {transformer.latest_transform_job.job_name}")
transformer.wait()

# Download the output data from S3 to local filesystem
output_uri = transformer.output_path
print(output_uri)
parsed = output_uri[len("s3://"):].split("/", 1)
obj = boto3.client("s3").get_object(Bucket=parsed[0], Key=f"{parsed[1]}/{batch_file}.out")
body = obj["Body"].read().decode()
print(body[:300])
assert body.strip(), "empty transform output"  # SHIPYARD: sanity check
