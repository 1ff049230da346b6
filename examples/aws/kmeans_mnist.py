"""End-to-end example of k-means with the high-level SDK (MNIST), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/1P_kmeans_highlevel/kmeans_mnist.ipynb

sagemaker.KMeans with record_set (the SDK writes RecordIO-protobuf to S3), two ml.c4.8xlarge instances,
deploy, predict on the validation set and read the closest_cluster labels.
Adaptations are marked ``# SHIPYARD:``.
"""

import numpy as np
import sagemaker
from sagemaker import KMeans
from sklearn.datasets import load_digits

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker.Session().default_bucket()

# SHIPYARD: the notebook downloads mnist.pkl.gz (28x28 images). No downloads at run time: scikit-learn's
# bundled 8x8 digits (64 features), split into train/validation/test.
digits = load_digits()
X, y = (digits.data / 16.0).astype("float32"), digits.target.astype("float32")
train_set, valid_set, test_set = (X[:1200], y[:1200]), (X[1200:1500], y[1200:1500]), (X[1500:], y[1500:])

data_location = f"s3://{bucket}/kmeans_highlevel_example/data"
output_location = f"s3://{bucket}/kmeans_example/output"

print(f"training data will be uploaded to: {data_location}")
print(f"training artifacts will be uploaded to: {output_location}")

kmeans = KMeans(
    role=role,
    instance_count=2,
    instance_type="ml.c4.8xlarge",
    output_path=output_location,
    k=10,
    data_location=data_location,
)

kmeans.fit(kmeans.record_set(train_set[0]))

kmeans_predictor = kmeans.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")

result = kmeans_predictor.predict(valid_set[0][0:100])
clusters = [r.label["closest_cluster"].float32_tensor.values[0] for r in result]

for cluster in range(10):
    print(f"\n\n\nCluster {int(cluster)}:")
    digits_in_cluster = [int(valid_set[1][i]) for i, r in enumerate(clusters) if r == cluster]
    print(digits_in_cluster)  # SHIPYARD: prints the true digits instead of drawing the images
assert len(clusters) == 100 and len(set(clusters)) > 1, clusters  # SHIPYARD: sanity check

result = kmeans_predictor.predict(valid_set[0][230:231])
print(result)

kmeans_predictor.delete_endpoint()
