"""An Introduction to the Amazon SageMaker IP Insights Algorithm, converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/ipinsights_login/ipinsights-tutorial.ipynb

(user, IP address) login pairs as headerless CSV, the generic Estimator with image_uris.retrieve("ipinsights"),
deploy, dot_product scores (and verbose embeddings) for known and for random pairs.
Adaptations are marked ``# SHIPYARD:``.
"""

import os

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer

bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/ipinsights-tutorial"
# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
execution_role = "arn:aws:iam::123456789012:role/Shipyard"
region = boto3.Session().region_name

# SHIPYARD: the notebook generates an Apache web log with its data_generation/generate_data.py (a separate
# file of the notebook's folder) and parses the GET /login/ lines into (user, ip_address, timestamp). Here the
# same frame is generated directly: 200 users, each logging in from a few addresses of "their" subnets.
rng = np.random.default_rng(8)
rows = []
for u in range(200):
    subnet = f"{rng.integers(1, 223)}.{rng.integers(0, 255)}.{rng.integers(0, 255)}"
    ips = [f"{subnet}.{rng.integers(1, 255)}" for _ in range(rng.integers(1, 4))]
    for _ in range(rng.integers(5, 15)):
        ts = pd.Timestamp("2018-11-01") + pd.Timedelta(minutes=int(rng.integers(0, 60 * 24 * 20)))
        rows.append((f"user_{u}", ips[rng.integers(0, len(ips))], ts))
df = pd.DataFrame(rows, columns=["user", "ip_address", "timestamp"])
print(df.head())

df.sort_values(by="timestamp", inplace=True)
time_partition = df["timestamp"].iloc[int(0.9 * len(df))]  # SHIPYARD: the notebook cuts at 2018-11-11
train_df = df[df["timestamp"] <= time_partition]
test_df = df[df["timestamp"] > time_partition]

# Shuffle train data
train_df = train_df.sample(frac=1)

# Output dataset as headerless CSV
train_data = train_df.to_csv(index=False, header=False, columns=["user", "ip_address"])

# Upload data to S3 key
train_data_file = "train.csv"
key = os.path.join(prefix, "train", train_data_file)
s3_train_data = f"s3://{bucket}/{key}"

print(f"Uploading data to: {s3_train_data}")
boto3.resource("s3").Bucket(bucket).Object(key).put(Body=train_data)

# Configure SageMaker IP Insights Input Channels
input_data = {
    "train": sagemaker.session.TrainingInput(
        s3_train_data, distribution="FullyReplicated", content_type="text/csv"
    )
}

image = sagemaker.image_uris.retrieve("ipinsights", boto3.Session().region_name)

# Set up the estimator with training job configuration
ip_insights = sagemaker.estimator.Estimator(
    image,
    execution_role,
    instance_count=1,
    instance_type="ml.p3.2xlarge",
    output_path=f"s3://{bucket}/{prefix}/output",
    sagemaker_session=sagemaker.Session(),
)

# Configure algorithm-specific hyperparameters
ip_insights.set_hyperparameters(
    num_entity_vectors="20000",
    random_negative_sampling_rate="5",
    vector_dim="128",
    mini_batch_size="1000",
    epochs="5",
    learning_rate="0.01",
)

# Start the training job (wait for it to complete)
ip_insights.fit(input_data)

print(f"Training job name: {ip_insights.latest_training_job.job_name}")

predictor = ip_insights.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")

print(f"Endpoint name: {predictor.endpoint_name}")

predictor.serializer = CSVSerializer()
predictor.deserializer = JSONDeserializer()

inference_data = [(data[0], data[1]) for data in train_df[:5].values]
predictor.predict(
    inference_data, initial_args={"ContentType": "text/csv", "Accept": "application/json"}
)
print(predictor.predict(inference_data))

verbose = predictor.predict(
    inference_data, initial_args={"ContentType": "text/csv", "Accept": "application/json; verbose=True"}
)
print(str(verbose)[:400])

# Compute anomaly scores: known pairs from the test period vs. the same users with random addresses
num_samples = min(len(test_df), 100)
test_df = test_df[:num_samples]


def create_test_case(train_df, test_df, num_samples, attack_freq):
    """Creates a test case from provided train and test data frames."""
    # Get all possible accounts. The IP Insights model can only make predictions on users it has seen in training
    valid_accounts = set(train_df["user"])
    test_df = test_df[test_df["user"].isin(valid_accounts)].sample(frac=1)
    num_malicious = int(len(test_df) * attack_freq)
    malicious = test_df[:num_malicious].copy()
    malicious["ip_address"] = [f"{rng.integers(1, 223)}.{rng.integers(0, 255)}.{rng.integers(0, 255)}."
                               f"{rng.integers(1, 255)}" for _ in range(num_malicious)]
    malicious["label"] = 1
    benign = test_df[num_malicious:].copy()
    benign["label"] = 0
    return pd.concat([benign, malicious])


test_case = create_test_case(train_df, test_df, num_samples=num_samples, attack_freq=0.5)
test_case_data = [(data[0], data[1]) for data in test_case[["user", "ip_address"]].values]
predictions = predictor.predict(test_case_data)
test_case_scores = [prediction["dot_product"] for prediction in predictions["predictions"]]
test_case["score"] = test_case_scores
print(test_case.groupby("label")["score"].mean())
assert len(test_case_scores) == len(test_case)  # SHIPYARD: sanity check in place of the notebook's plots

predictor.delete_endpoint()

# SHIPYARD: checked last, so that a failure here still lets the steps above run: with "verbose=True" in Accept
# each prediction also carries the entity and IP embeddings.
assert "embedding" in str(verbose), verbose
