"""Batch Transform, associating predictions with their input (breast cancer, XGBoost), as a script.

Source notebook: aws/amazon-sagemaker-examples, sagemaker_batch_transform/
batch_transform_associate_predictions_with_input/Batch Transform - breast cancer prediction with high level SDK.ipynb

Built-in XGBoost through the generic Estimator, then two batch transforms of the test set: a plain one, and
one with input_filter="$[1:]" (drop the id), join_source="Input" and output_filter="$[0,-1]" (keep the id
and the prediction). Adaptations are marked ``# SHIPYARD:``.
"""

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.inputs import TrainingInput
from sklearn.datasets import load_breast_cancer

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
sess = sagemaker.Session()

bucket = sess.default_bucket()
prefix = "sagemaker/breast-cancer-prediction-xgboost-highlevel"

# SHIPYARD: the notebook copies wdbc.csv from the sagemaker-sample-files bucket (id, diagnosis, 30 features).
# scikit-learn bundles the same data set; rebuilt here with the notebook's columns.
raw = load_breast_cancer()
data = pd.DataFrame(raw.data)
data.insert(0, "diagnosis", np.where(raw.target == 0, "M", "B"))
data.insert(0, "id", np.arange(8670, 8670 + len(data)))
data.columns = ["id", "diagnosis", "radius_mean", "texture_mean", "perimeter_mean", "area_mean",
                "smoothness_mean", "compactness_mean", "concavity_mean", "concave points_mean",
                "symmetry_mean", "fractal_dimension_mean", "radius_se", "texture_se", "perimeter_se", "area_se",
                "smoothness_se", "compactness_se", "concavity_se", "concave points_se", "symmetry_se",
                "fractal_dimension_se", "radius_worst", "texture_worst", "perimeter_worst", "area_worst",
                "smoothness_worst", "compactness_worst", "concavity_worst", "concave points_worst",
                "symmetry_worst", "fractal_dimension_worst"]

# replace the M/B diagnosis with a 1/0 boolean value
data["diagnosis"] = data["diagnosis"].apply(lambda x: ((x == "M")) + 0)
print(data.sample(8))

# data split in three sets, training, validation and batch inference
rand_split = np.random.rand(len(data))
train_list = rand_split < 0.8
val_list = (rand_split >= 0.8) & (rand_split < 0.9)
batch_list = rand_split >= 0.9

data_train = data[train_list].drop(["id"], axis=1)
data_val = data[val_list].drop(["id"], axis=1)
data_batch = data[batch_list].drop(["diagnosis"], axis=1)
data_batch_noID = data_batch.drop(["id"], axis=1)

train_file = "train_data.csv"
data_train.to_csv(train_file, index=False, header=False)
sess.upload_data(train_file, key_prefix=f"{prefix}/train")

validation_file = "validation_data.csv"
data_val.to_csv(validation_file, index=False, header=False)
sess.upload_data(validation_file, key_prefix=f"{prefix}/validation")

batch_file = "batch_data.csv"
data_batch.to_csv(batch_file, index=False, header=False)
sess.upload_data(batch_file, key_prefix=f"{prefix}/batch")

batch_file_noID = "batch_data_noID.csv"
data_batch_noID.to_csv(batch_file_noID, index=False, header=False)
sess.upload_data(batch_file_noID, key_prefix=f"{prefix}/batch")

job_name = "xgb-" + sagemaker.utils.sagemaker_timestamp()  # SHIPYARD: the notebook uses strftime
output_location = f"s3://{bucket}/{prefix}/output/{job_name}"
image = sagemaker.image_uris.retrieve(framework="xgboost", region=boto3.Session().region_name, version="1.7-1")

sm_estimator = sagemaker.estimator.Estimator(
    image,
    role,
    instance_count=1,
    instance_type="ml.m5.4xlarge",
    volume_size=50,
    input_mode="File",
    output_path=output_location,
    sagemaker_session=sess,
)

sm_estimator.set_hyperparameters(
    objective="binary:logistic",
    max_depth=5,
    eta=0.2,
    gamma=4,
    min_child_weight=6,
    subsample=0.8,
    verbosity=0,
    num_round=100,
)

train_data = TrainingInput(
    f"s3://{bucket}/{prefix}/train",
    distribution="FullyReplicated",
    content_type="text/csv",
    s3_data_type="S3Prefix",
)
validation_data = TrainingInput(
    f"s3://{bucket}/{prefix}/validation",
    distribution="FullyReplicated",
    content_type="text/csv",
    s3_data_type="S3Prefix",
)
data_channels = {"train": train_data, "validation": validation_data}

# Start training by calling the fit method in the estimator
sm_estimator.fit(inputs=data_channels, logs=True)

# The location of the test dataset
batch_input = f"s3://{bucket}/{prefix}/batch/{batch_file_noID}"

# The location to store the results of the batch transform job
batch_output = f"s3://{bucket}/{prefix}/batch-inference"

transformer = sm_estimator.transformer(
    instance_count=1, instance_type="ml.m4.xlarge", output_path=batch_output
)

transformer.transform(data=batch_input, data_type="S3Prefix", content_type="text/csv", split_type="Line")

transformer.wait()

s3 = boto3.client("s3")
obj = s3.get_object(Bucket=bucket, Key=f"{prefix}/batch-inference/{batch_file_noID}.out")
results = pd.read_csv(obj["Body"], header=None, names=["Probability"])
print(results.head())
assert len(results) == len(data_batch_noID), (len(results), len(data_batch_noID))  # SHIPYARD: sanity check

# Join the input and the prediction results
batch_input = f"s3://{bucket}/{prefix}/batch/{batch_file}"  # use input data with ID column
batch_output = f"s3://{bucket}/{prefix}/batch-inference"

transformer = sm_estimator.transformer(
    instance_count=1, instance_type="ml.m4.xlarge", output_path=batch_output, assemble_with="Line",
    accept="text/csv",
)

# content_type / accept and split_type / assemble_with are required to use IO joining feature
transformer.transform(
    data=batch_input,
    data_type="S3Prefix",
    content_type="text/csv",
    split_type="Line",
    input_filter="$[1:]",
    join_source="Input",
    output_filter="$[0,-1]",
)
transformer.wait()

obj = s3.get_object(Bucket=bucket, Key=f"{prefix}/batch-inference/{batch_file}.out")
joined = pd.read_csv(obj["Body"], header=None, names=["ID", "Probability"])
print(joined.head())
assert len(joined) == len(data_batch), (len(joined), len(data_batch))  # SHIPYARD: sanity checks
assert list(joined["ID"]) == list(data_batch["id"]), "the ids were not kept by output_filter"
assert joined["Probability"].between(0, 1).all()
