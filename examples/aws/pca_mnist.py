"""An Introduction to PCA with MNIST ("eigendigits"), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/pca_mnist/pca_mnist.ipynb

The notebook transposes MNIST so that each pixel is an observation and each image a feature, trains
built-in PCA (randomized mode, 10 components) through the generic Estimator and image_uris.retrieve("pca"),
deploys it and projects every pixel. Adaptations are marked ``# SHIPYARD:``.
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
prefix = "sagemaker/DEMO-pca-mnist"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads mnist.pkl.gz (50,000 training images of 28x28). No downloads at run time:
# scikit-learn's bundled 8x8 digits, first 1,200 as the training set (so 64 rows of 1,200 features after
# the transpose, instead of 784 rows of 50,000).
digits = load_digits()
X, y = (digits.data / 16.0).astype("float32"), digits.target.astype("float32")
train_set, valid_set, test_set = (X[:1200], y[:1200]), (X[1200:1500], y[1200:1500]), (X[1500:], y[1500:])

vectors = np.array([t.tolist() for t in train_set[0]]).T.astype("float32")

buf = io.BytesIO()
smac.write_numpy_to_dense_tensor(buf, vectors)
buf.seek(0)

key = "recordio-pb-data"
boto3.resource("s3").Bucket(bucket).Object(os.path.join(prefix, "train", key)).upload_fileobj(buf)
s3_train_data = f"s3://{bucket}/{prefix}/train/{key}"
print(f"uploaded training data location: {s3_train_data}")

output_location = f"s3://{bucket}/{prefix}/output"
print(f"training artifacts will be uploaded to: {output_location}")

container = image_uris.retrieve(region=boto3.Session().region_name, framework="pca")

pca = sagemaker.estimator.Estimator(
    container,
    role,
    instance_count=1,
    instance_type="ml.c4.xlarge",
    output_path=output_location,
    sagemaker_session=sess,
)
pca.set_hyperparameters(
    feature_dim=1200,  # SHIPYARD: 50000 in the notebook (the number of training images)
    num_components=10,
    subtract_mean=True,
    algorithm_mode="randomized",
    mini_batch_size=200,
)

pca.fit({"train": s3_train_data})

pca_predictor = pca.deploy(
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",
    serializer=CSVSerializer(),
    deserializer=JSONDeserializer(),
)

result = pca_predictor.predict(train_set[0][:, 0:1].T)  # SHIPYARD: one pixel across all training images
print(result)

eigendigits = []
for array in np.array_split(train_set[0].T, 10):  # SHIPYARD: 10 chunks instead of 100 (64 rows here)
    result = pca_predictor.predict(array)
    eigendigits += [r["projection"] for r in result["projections"]]

eigendigits = np.array(eigendigits).T
print("eigendigits", eigendigits.shape)
assert eigendigits.shape == (10, 64), eigendigits.shape  # SHIPYARD: sanity check in place of the plot

pca_predictor.delete_model()
pca_predictor.delete_endpoint()
