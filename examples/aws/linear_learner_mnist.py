"""An Introduction to Linear Learner with MNIST, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/linear_learner_mnist/linear_learner_mnist.ipynb

Binary classifier "is the digit a 0?": RecordIO-protobuf via sagemaker.amazon.common, the generic Estimator
with image_uris.retrieve("linear-learner"), deploy, predict with CSV in / JSON out.
Adaptations are marked ``# SHIPYARD:``.
"""

import io
import os

import boto3
import numpy as np
import sagemaker
import sagemaker.amazon.common as smac
from sagemaker import image_uris
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer
from sklearn.datasets import load_digits

sess = sagemaker.Session()
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-linear-mnist"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads mnist.pkl.gz (28x28 images, 784 features). No downloads at run time:
# scikit-learn's bundled 8x8 digits (64 features), split into train/validation/test the same way.
digits = load_digits()
X, y = (digits.data / 16.0).astype("float32"), digits.target.astype("float32")
train_set, valid_set, test_set = (X[:1200], y[:1200]), (X[1200:1500], y[1200:1500]), (X[1500:], y[1500:])

vectors = np.array([t.tolist() for t in train_set[0]]).astype("float32")
labels = np.where(np.array([t.tolist() for t in train_set[1]]) == 0, 1, 0).astype("float32")

buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, vectors, labels)
buf.seek(0)

key = "recordio-pb-data"
boto3.resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train", key)).upload_fileobj(buf)
s3_train_data = f"s3://{bucket}/{prefix}/train/{key}"
print(f"uploaded training data location: {s3_train_data}")

output_location = f"s3://{bucket}/{prefix}/output"
print(f"training artifacts will be uploaded to: {output_location}")

container = image_uris.retrieve(region=boto3.Session().region_name, framework="linear-learner")

linear = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.c4.xlarge",
    output_path=output_location,
    sagemaker_session=sess,
)
linear.set_hyperparameters(feature_dim=64,  # SHIPYARD: 784 in the notebook; 8x8 digits have 64
                           predictor_type="binary_classifier", mini_batch_size=200)

linear.fit({"train": s3_train_data})

linear_predictor = linear.deploy(
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",
    serializer=CSVSerializer(),
    deserializer=JSONDeserializer(),
)

result = linear_predictor.predict(train_set[0][30:31])
print(result)

predictions = []
for array in np.array_split(test_set[0], 10):
    result = linear_predictor.predict(array)
    predictions += [r["predicted_label"] for r in result["predictions"]]

predictions = np.array(predictions)

import pandas as pd  # noqa: E402

print(pd.crosstab(np.where(test_set[1] == 0, 1, 0), predictions, rownames=["actuals"], colnames=["predictions"]))
accuracy = float(np.mean(np.where(test_set[1] == 0, 1, 0) == predictions))
print(f"accuracy {accuracy:.3f}")
assert len(predictions) == len(test_set[1]) and accuracy > 0.9, accuracy  # SHIPYARD: sanity check

linear_predictor.delete_model()
linear_predictor.delete_endpoint()
