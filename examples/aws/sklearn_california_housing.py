"""Develop, train, optimize and deploy a scikit-learn Random Forest (California housing), as a script.

Source notebook: aws/amazon-sagemaker-examples,
sagemaker-python-sdk/scikit_learn_randomforest/Sklearn_on_SageMaker_end2end.ipynb

SKLearn estimator (script mode, sklearn_california_housing/script.py unchanged) with metric definitions and
named train/test channels, then SKLearnModel from the training artifact, deploy, predict a data frame.
Adaptations are marked ``# SHIPYARD:``.
"""

from pathlib import Path

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.sklearn.estimator import SKLearn
from sagemaker.sklearn.model import SKLearnModel
from sklearn.model_selection import train_test_split

sm_boto3 = boto3.client("sagemaker")
sess = sagemaker.Session()
region = sess.boto_session.region_name
bucket = sess.default_bucket()  # this could also be a hard-coded bucket name
print(f"Using bucket {bucket}")

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"


# SHIPYARD: the notebook calls sklearn.datasets.fetch_california_housing(), which downloads. No downloads at
# run time: a generated set with the same 8 feature names and target (median house value in $100k), 1,600
# rows instead of 20,640.
class _Data:
    feature_names = ["MedInc", "HouseAge", "AveRooms", "AveBedrms", "Population", "AveOccup", "Latitude",
                     "Longitude"]

    def __init__(self, n=1600, seed=0):
        rng = np.random.default_rng(seed)
        med_inc = rng.gamma(4.0, 1.0, n)
        house_age = rng.integers(1, 53, n).astype(float)
        ave_rooms = rng.normal(5.4, 1.2, n).clip(1)
        ave_bedrms = (ave_rooms * rng.normal(0.2, 0.02, n)).clip(0.5)
        population = rng.gamma(2.0, 700.0, n)
        ave_occup = rng.normal(3.0, 0.7, n).clip(1)
        latitude = rng.uniform(32.5, 42.0, n)
        longitude = rng.uniform(-124.3, -114.3, n)
        self.data = np.column_stack([med_inc, house_age, ave_rooms, ave_bedrms, population, ave_occup,
                                     latitude, longitude])
        self.target = (0.45 * med_inc + 0.01 * house_age - 0.05 * (latitude - 34) + rng.normal(0, 0.3, n)).clip(
            0.15, 5.0)


data = _Data()

X_train, X_test, y_train, y_test = train_test_split(data.data, data.target, test_size=0.25, random_state=42)

trainX = pd.DataFrame(X_train, columns=data.feature_names)
trainX["target"] = y_train

testX = pd.DataFrame(X_test, columns=data.feature_names)
testX["target"] = y_test

print(trainX.head())

trainX.to_csv("california_housing_train.csv")
testX.to_csv("california_housing_test.csv")

# send data to S3. SageMaker will take training data from s3
trainpath = sess.upload_data(
    path="california_housing_train.csv", bucket=bucket, key_prefix="sagemaker/sklearncontainer"
)

testpath = sess.upload_data(
    path="california_housing_test.csv", bucket=bucket, key_prefix="sagemaker/sklearncontainer"
)

# SHIPYARD: the notebook writes script.py with %%writefile; it is in sklearn_california_housing/ here.
script = str(Path(__file__).resolve().parent / "sklearn_california_housing" / "script.py")

# We use the Estimator from the SageMaker Python SDK
FRAMEWORK_VERSION = "1.2-1"

sklearn_estimator = SKLearn(
    entry_point=script,
    role=role,
    instance_count=1,
    instance_type="ml.c5.xlarge",
    framework_version=FRAMEWORK_VERSION,
    base_job_name="rf-scikit",
    metric_definitions=[{"Name": "median-AE", "Regex": "AE-at-50th-percentile: ([0-9.]+).*$"}],
    hyperparameters={
        "n-estimators": 100,
        "min-samples-leaf": 3,
        "features": "MedInc HouseAge AveRooms AveBedrms Population AveOccup Latitude Longitude",
        "target": "target",
    },
)

# launch training job, with asynchronous call
sklearn_estimator.fit({"train": trainpath, "test": testpath}, wait=False)

sklearn_estimator.latest_training_job.wait(logs="None")
artifact = sm_boto3.describe_training_job(
    TrainingJobName=sklearn_estimator.latest_training_job.name
)["ModelArtifacts"]["S3ModelArtifacts"]

print("Model artifact persisted at " + artifact)

metrics = sm_boto3.describe_training_job(TrainingJobName=sklearn_estimator.latest_training_job.name).get(
    "FinalMetricDataList", [])
print("final metrics:", metrics)
assert any(m["MetricName"] == "median-AE" for m in metrics), metrics  # SHIPYARD: the notebook shows them

model = SKLearnModel(
    model_data=artifact,
    role=role,
    entry_point=script,
    framework_version=FRAMEWORK_VERSION,
)

predictor = model.deploy(instance_type="ml.c5.large", initial_instance_count=1)

# the SKLearnPredictor does the serialization from pandas for us
predictions = predictor.predict(testX[data.feature_names])
print(predictions[:10])
assert len(predictions) == len(testX)  # SHIPYARD: sanity check

sm_boto3.delete_endpoint(EndpointName=predictor.endpoint_name)
