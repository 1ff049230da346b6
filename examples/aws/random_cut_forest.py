"""An Introduction to SageMaker Random Cut Forests (NYC taxi anomalies), converted to a script.

Source notebook: aws/amazon-sagemaker-examples,
introduction_to_amazon_algorithms/random_cut_forest/random_cut_forest.ipynb

sagemaker.RandomCutForest with record_set, deploy, CSV in / JSON out, anomaly scores and a 3-sigma cutoff.
Adaptations are marked ``# SHIPYARD:``.
"""

import numpy as np
import pandas as pd
import sagemaker
from sagemaker import RandomCutForest
from sagemaker.deserializers import JSONDeserializer
from sagemaker.serializers import CSVSerializer

bucket = sagemaker.Session().default_bucket()
prefix = "sagemaker/rcf-benchmarks"

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
execution_role = "arn:aws:iam::123456789012:role/Shipyard"

# SHIPYARD: the notebook downloads nyc_taxi.csv from the Numenta Anomaly Benchmark (10,320 half-hourly
# passenger counts). No downloads at run time: a generated series with the same columns (timestamp, value),
# a daily and weekly pattern, noise and three injected anomalies; 30 days (1,440 rows).
rng = np.random.default_rng(2)
timestamps = pd.date_range("2014-07-01 00:00:00", periods=1440, freq="30min")
t = np.arange(len(timestamps))
value = 15000 + 8000 * np.sin(2 * np.pi * t / 48 - 2) + 2000 * np.sin(2 * np.pi * t / 336) + rng.normal(0, 600, len(t))
for i in (300, 800, 1200):
    value[i:i + 4] += 25000
taxi_data = pd.DataFrame({"timestamp": timestamps.strftime("%Y-%m-%d %H:%M:%S"), "value": value.round().astype(int)})
taxi_data.to_csv("nyc_taxi.csv", index=False)

taxi_data = pd.read_csv("nyc_taxi.csv", delimiter=",")
print(taxi_data.head())

session = sagemaker.Session()

# specify general training job information
rcf = RandomCutForest(
    role=execution_role,
    instance_count=1,
    instance_type="ml.m4.xlarge",
    data_location=f"s3://{bucket}/{prefix}/",
    output_path=f"s3://{bucket}/{prefix}/output",
    num_samples_per_tree=512,
    num_trees=50,
)

# automatically upload the training data to S3 and run the training job
rcf.fit(rcf.record_set(taxi_data.value.to_numpy().reshape(-1, 1)))

print(f"Training job name: {rcf.latest_training_job.job_name}")

rcf_inference = rcf.deploy(initial_instance_count=1, instance_type="ml.m4.xlarge")

print(f"Endpoint name: {rcf_inference.endpoint_name}")

rcf_inference.serializer = CSVSerializer()
rcf_inference.deserializer = JSONDeserializer()

taxi_data_numpy = taxi_data.value.to_numpy().reshape(-1, 1)
print(taxi_data_numpy[:6])
results = rcf_inference.predict(taxi_data_numpy[:6])
print(results)

results = rcf_inference.predict(taxi_data_numpy)
scores = [datum["score"] for datum in results["scores"]]

# add scores to taxi data frame and print first few values
taxi_data["score"] = pd.Series(scores, index=taxi_data.index)
print(taxi_data.head())

score_mean = taxi_data["score"].mean()
score_std = taxi_data["score"].std()
score_cutoff = score_mean + 3 * score_std

anomalies = taxi_data[taxi_data["score"] > score_cutoff]
print(anomalies)
injected = {300, 301, 302, 303, 800, 801, 802, 803, 1200, 1201, 1202, 1203}
found = injected & set(anomalies.index)
print(f"{len(found)} of the {len(injected)} injected anomalous points score above the cutoff")
assert found, "no injected anomaly found"  # SHIPYARD: sanity check in place of the notebook's plot

sagemaker.Session().delete_endpoint(rcf_inference.endpoint_name)
