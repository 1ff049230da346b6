"""Bring your own k-means model: train with scikit-learn, host with the built-in k-means container.

Source notebook: aws/amazon-sagemaker-examples,
advanced_functionality/kmeans_bring_your_own_model/kmeans_bring_your_own_model.ipynb

Fits sklearn.cluster.KMeans locally, saves the centroids as an MXNet NDArray file named ``model_algo-1`` in
``model.tar.gz`` (the built-in k-means model format), then CreateModel with the kmeans image, endpoint,
InvokeEndpoint with CSV and reads closest_cluster from the JSON answer. Adaptations are marked ``# SHIPYARD:``.
"""

import io
import json
import os
import struct
import tarfile
import time

import boto3
import numpy as np
import pandas as pd
import sagemaker
import sklearn.cluster
from sagemaker import image_uris
from sklearn.datasets import load_digits

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/DEMO-kmeans-byom"

# SHIPYARD: the notebook downloads mnist.pkl.gz (28x28 images). No downloads at run time: scikit-learn's
# bundled 8x8 digits (64 features).
digits = load_digits()
X, y = (digits.data / 16.0).astype("float32"), digits.target.astype("float32")
train_set, valid_set, test_set = (X[:1200], y[:1200]), (X[1200:1500], y[1200:1500]), (X[1500:], y[1500:])

kmeans = sklearn.cluster.KMeans(n_clusters=10, n_init=10).fit(train_set[0])


# SHIPYARD: the notebook writes the file with MXNet (`mx.ndarray.save("model_algo-1", [centroids])`); MXNet is
# not installed here, so the same bytes are written with shipyard.io.ndarray.save (MXNet's NDArray list format
# in numpy), or, without Shipyard installed, by the few lines below: magic 0x112, reserved 0, count; per array
# the V2 magic 0xF993FAC9, storage type 0 (dense), uint32 ndim + int64 dims, context cpu(0), type flag 0
# (float32), the data; then 0 names.
def save_ndarray_list(path, arrays):
    try:
        from shipyard.io.ndarray import save
    except ImportError:
        save = None
    if save is not None:
        save(path, arrays)
        return
    with open(path, "wb") as f:
        f.write(struct.pack("<QQQ", 0x112, 0, len(arrays)))
        for a in arrays:
            a = np.ascontiguousarray(a, dtype="<f4")
            f.write(struct.pack("<Ii", 0xF993FAC9, 0))
            f.write(struct.pack("<I", a.ndim) + struct.pack(f"<{a.ndim}q", *a.shape))
            f.write(struct.pack("<iii", 1, 0, 0))
            f.write(a.tobytes())
        f.write(struct.pack("<Q", 0))


centroids = kmeans.cluster_centers_.astype("float32")
save_ndarray_list("model_algo-1", [centroids])

tar = tarfile.open("model.tar.gz", "w:gz")
tar.add("model_algo-1")
tar.close()

boto3.Session().resource("s3").Bucket(bucket).Object(os.path.join(prefix, "model.tar.gz")).upload_file(
    "model.tar.gz")

kmeans_model = "DEMO-kmeans-byom-" + time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())

sm = boto3.client("sagemaker")
container = image_uris.retrieve(region=boto3.Session().region_name, framework="kmeans")

create_model_response = sm.create_model(
    ModelName=kmeans_model,
    ExecutionRoleArn=role,
    PrimaryContainer={"Image": container, "ModelDataUrl": f"s3://{bucket}/{prefix}/model.tar.gz"},
)

print(create_model_response["ModelArn"])

kmeans_endpoint_config = "DEMO-kmeans-byom-endpoint-config-" + time.strftime("%Y-%m-%d-%H-%M-%S", time.gmtime())
print(kmeans_endpoint_config)
create_endpoint_config_response = sm.create_endpoint_config(
    EndpointConfigName=kmeans_endpoint_config,
    ProductionVariants=[
        {
            "InstanceType": "ml.m4.xlarge",
            "InitialInstanceCount": 1,
            "ModelName": kmeans_model,
            "VariantName": "AllTraffic",
        }
    ],
)

print("Endpoint Config Arn: " + create_endpoint_config_response["EndpointConfigArn"])

kmeans_endpoint = "DEMO-kmeans-byom-endpoint-" + time.strftime("%Y%m%d%H%M", time.gmtime())
print(kmeans_endpoint)
create_endpoint_response = sm.create_endpoint(
    EndpointName=kmeans_endpoint, EndpointConfigName=kmeans_endpoint_config
)
print(create_endpoint_response["EndpointArn"])

resp = sm.describe_endpoint(EndpointName=kmeans_endpoint)
status = resp["EndpointStatus"]
print("Status: " + status)

try:
    sm.get_waiter("endpoint_in_service").wait(
        EndpointName=kmeans_endpoint, WaiterConfig={"Delay": 1, "MaxAttempts": 120})  # SHIPYARD: shorter
finally:
    resp = sm.describe_endpoint(EndpointName=kmeans_endpoint)
    status = resp["EndpointStatus"]
    print("Arn: " + resp["EndpointArn"])
    print("Create endpoint ended with status: " + status)

    if status != "InService":
        message = sm.describe_endpoint(EndpointName=kmeans_endpoint)["FailureReason"]
        print(f"Endpoint creation failed with the following error: {message}")
        raise Exception("Endpoint creation did not succeed")


def np2csv(arr):
    csv = io.BytesIO()
    np.savetxt(csv, arr, delimiter=",", fmt="%g")
    return csv.getvalue().decode().rstrip()


runtime = boto3.Session().client("runtime.sagemaker")

payload = np2csv(valid_set[0][0:100])
response = runtime.invoke_endpoint(EndpointName=kmeans_endpoint, ContentType="text/csv", Body=payload)
result = json.loads(response["Body"].read().decode())
scored_labels = np.array([r["closest_cluster"] for r in result["predictions"]])

local_labels = kmeans.predict(valid_set[0][0:100])
print(pd.crosstab(scored_labels, local_labels, rownames=["hosted"], colnames=["local"]))
agreement = float(np.mean(scored_labels == local_labels))
print(f"hosted and local clusters agree on {agreement:.0%} of the rows")
assert agreement > 0.95, agreement  # SHIPYARD: the notebook compares them in a table

sm.delete_endpoint(EndpointName=kmeans_endpoint)
