"""Multiclass classification with Amazon SageMaker k-NN (forest cover type), converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/k_nearest_neighbors_covtype/k_nearest_neighbors_covtype.ipynb

RecordIO-protobuf train/test channels, the generic Estimator with image_uris.retrieve("knn"), deploy with
CSV in / JSON out, accuracy on the test set. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os
import time

import boto3
import numpy as np
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer
from sklearn.model_selection import train_test_split

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads covtype.data.gz (581,012 rows: 54 features, 10 quantitative + 4 wilderness
# + 40 soil one-hot columns, label 1-7). No downloads at run time: a generated set of the same shape, 1,500 rows.
rng = np.random.default_rng(4)
n = 1500
label = rng.integers(1, 8, n)
quantitative = rng.normal(0, 1, (n, 10)) + label[:, None] * np.linspace(0.3, 1.5, 10)[None, :]
wilderness = np.eye(4)[rng.integers(0, 4, n)]
soil = np.eye(40)[(label * 5 + rng.integers(0, 5, n)) % 40]
raw = np.column_stack([quantitative, wilderness, soil, label])

print(raw.shape)
feature = raw[:, :-1]
label = raw[:, -1]
train_features, test_features, train_labels, test_labels = train_test_split(
    feature, label, test_size=0.1, random_state=42)
train_features = train_features.astype("float32")
train_labels = train_labels.astype("float32")
test_features = test_features.astype("float32")
test_labels = test_labels.astype("float32")

print("train_features shape = ", train_features.shape)
print("train_labels shape = ", train_labels.shape)

buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, train_features, train_labels)
buf.seek(0)

bucket = sagemaker.Session().default_bucket()
prefix = "knn-blog-2018-04-17"
key = "recordio-pb-data"

boto3.resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train", key)).upload_fileobj(buf)
s3_train_data = f"s3://{bucket}/{prefix}/train/{key}"
print(f"uploaded training data location: {s3_train_data}")

print("test_features shape = ", test_features.shape)
print("test_labels shape = ", test_labels.shape)

buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, test_features, test_labels)
buf.seek(0)

boto3.resource("s3").Bucket(bucket).Object(os.path.join(prefix, "test", key)).upload_fileobj(buf)
s3_test_data = f"s3://{bucket}/{prefix}/test/{key}"
print(f"uploaded test data location: {s3_test_data}")


def trained_estimator_from_hyperparams(s3_train_data, hyperparams, output_path, s3_test_data=None):
    """
    Create an Estimator from the given hyperparams, fit to training data,
    and return a deployed predictor
    """
    # set up the estimator
    knn = sagemaker.estimator.Estimator(
        image_uris.retrieve("knn", boto3.Session().region_name),
        role,
        instance_count=1,
        instance_type="ml.m5.2xlarge",
        output_path=output_path,
        sagemaker_session=sagemaker.Session(),
    )
    knn.set_hyperparameters(**hyperparams)

    # train a model. fit_input contains the locations of the train and test data
    fit_input = {"train": s3_train_data}
    if s3_test_data is not None:
        fit_input["test"] = s3_test_data
    knn.fit(fit_input)
    return knn


hyperparams = {"feature_dim": 54, "k": 10, "sample_size": 200000, "predictor_type": "classifier"}
output_path = f"s3://{bucket}/{prefix}/default_example/output"
knn_estimator = trained_estimator_from_hyperparams(
    s3_train_data, hyperparams, output_path, s3_test_data=s3_test_data
)


def predictor_from_estimator(knn_estimator, estimator_name, instance_type, endpoint_name=None):
    knn_predictor = knn_estimator.deploy(
        initial_instance_count=1, instance_type=instance_type, endpoint_name=endpoint_name
    )
    knn_predictor.serializer = CSVSerializer()
    knn_predictor.deserializer = JSONDeserializer()
    return knn_predictor


instance_type = "ml.m4.xlarge"
model_name = f"knn_{instance_type}"
endpoint_name = "knn-ml-m4-xlarge-{}".format(str(time.time()).replace(".", "-"))
print(f"setting up the endpoint..")
predictor = predictor_from_estimator(knn_estimator, model_name, instance_type, endpoint_name=endpoint_name)

batches = np.array_split(test_features, 10)  # SHIPYARD: 100 batches in the notebook (58,102 test rows)
print(f"data split into {len(batches)} batches, of sizes {[b.shape[0] for b in batches]}.")

# obtain an np array with the predictions for the entire test set
start_time = time.time()
predictions = []
for batch in batches:
    result = predictor.predict(batch)
    cur_predictions = np.array([result["predictions"][i]["predicted_label"] for i in range(len(result["predictions"]))])
    predictions.append(cur_predictions)
predictions = np.concatenate(predictions)
run_time = time.time() - start_time

test_size = test_labels.shape[0]
num_correct = sum(predictions == test_labels)
accuracy = num_correct / float(test_size)
print("time required for predicting %d data point: %.2f seconds" % (test_size, run_time))
print("accuracy of model: %.1f%%" % (accuracy * 100))
assert accuracy > 0.5, accuracy  # SHIPYARD: sanity check


def delete_endpoint(predictor):
    try:
        predictor.delete_model()
        predictor.delete_endpoint()
        print(f"Deleted {predictor.endpoint_name}")
    except Exception:
        print(f"Already deleted: {predictor.endpoint_name}")


delete_endpoint(predictor)
