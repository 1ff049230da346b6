"""A/B Testing with Amazon SageMaker (production variants), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples, sagemaker_endpoints/a_b_testing/a_b_testing.ipynb

Two XGBoost churn models behind one endpoint as Variant1 / Variant2 (production_variant +
endpoint_from_production_variants), traffic split by weight, invocation with TargetVariant, then
UpdateEndpointWeightsAndCapacities to shift traffic, and the per-variant Invocations metric from CloudWatch.
Adaptations are marked ``# SHIPYARD:``.
"""

import os
import time
from datetime import datetime, timedelta

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.image_uris import retrieve
from sagemaker.inputs import TrainingInput
from sagemaker.s3 import S3Uploader
from sagemaker.session import production_variant

sess = sagemaker.Session()
sm = boto3.Session().client("sagemaker")
sm_runtime = boto3.Session().client("sagemaker-runtime")

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"

region = boto3.Session().region_name
bucket = sess.default_bucket()
prefix = "sagemaker/DEMO-VariantTargeting"

# SHIPYARD: the notebook copies two pre-trained churn models (xgb-churn-prediction-model.tar.gz and
# ...model2.tar.gz) and test_data/ from the sagemaker-sample-files bucket. No downloads at run time: a generated
# churn-like data set (label first, 20 numeric features), and the two models trained here with the same two
# XGBoost images the notebook hosts (0.90-1 and 0.90-2), each giving a model.tar.gz on S3.
rng = np.random.default_rng(3)
n_features = 20
w = rng.normal(size=n_features)
X = rng.normal(size=(700, n_features))
y = (X @ w + rng.normal(0, 0.5, 700) > 0).astype(int)
os.makedirs("data", exist_ok=True)
os.makedirs("test_data", exist_ok=True)
np.savetxt("data/train.csv", np.column_stack([y[:600], X[:600]]), delimiter=",", fmt="%g")
np.savetxt("test_data/test-dataset-input-cols.csv", X[600:], delimiter=",", fmt="%g")
np.savetxt("test_data/test-dataset-labels.csv", y[600:], fmt="%d")
train_uri = S3Uploader.upload(local_path="data/train.csv", desired_s3_uri=f"s3://{bucket}/{prefix}/train")
model_urls = []
for version, depth in (("0.90-1", 3), ("0.90-2", 6)):
    est = sagemaker.estimator.Estimator(retrieve("xgboost", region, version), role, instance_count=1,
                                        instance_type="ml.m5.large", output_path=f"s3://{bucket}/{prefix}/model",
                                        sagemaker_session=sess,
                                        hyperparameters={"objective": "binary:logistic", "num_round": 20,
                                                         "max_depth": depth})
    est.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, logs=False)
    model_urls.append(est.model_data)
model_url, model_url2 = model_urls
print(f"Model URI 1: {model_url}\nModel URI 2: {model_url2}")

# Step 1: Create and deploy the models
model_name = f"DEMO-xgb-churn-pred-{datetime.now():%Y-%m-%d-%H-%M-%S}"
model_name2 = f"DEMO-xgb-churn-pred2-{datetime.now():%Y-%m-%d-%H-%M-%S}"
image_uri = retrieve("xgboost", boto3.Session().region_name, "0.90-1")
image_uri2 = retrieve("xgboost", boto3.Session().region_name, "0.90-2")

sess.create_model(name=model_name, role=role, container_defs={"Image": image_uri, "ModelDataUrl": model_url})

sess.create_model(name=model_name2, role=role, container_defs={"Image": image_uri2, "ModelDataUrl": model_url2})

variant1 = production_variant(
    model_name=model_name,
    instance_type="ml.c5.4xlarge",
    initial_instance_count=1,
    variant_name="Variant1",
    initial_weight=1,
)
variant2 = production_variant(
    model_name=model_name2,
    instance_type="ml.c5.4xlarge",
    initial_instance_count=1,
    variant_name="Variant2",
    initial_weight=1,
)

print((variant1, variant2))

endpoint_name = f"DEMO-xgb-churn-pred-{datetime.now():%Y-%m-%d-%H-%M-%S}"
print(f"EndpointName={endpoint_name}")

sess.endpoint_from_production_variants(name=endpoint_name, production_variants=[variant1, variant2])


# Step 2: Invoke the deployed models
def invoke_endpoint_for_two_minutes():
    with open("test_data/test-dataset-input-cols.csv", "r") as f:
        for row in f:
            payload = row.rstrip("\n")
            response = sm_runtime.invoke_endpoint(EndpointName=endpoint_name, ContentType="text/csv",
                                                  Body=payload)
            response["Body"].read()
            time.sleep(0.01)  # SHIPYARD: 0.5 s between requests in the notebook


print(f"Sending test traffic to the endpoint {endpoint_name}. \nPlease wait...")
invoke_endpoint_for_two_minutes()
print("Done!")

variants_seen = set()
with open("test_data/test-dataset-input-cols.csv", "r") as f:
    for row in list(f)[:40]:
        response = sm_runtime.invoke_endpoint(EndpointName=endpoint_name, ContentType="text/csv",
                                              Body=row.rstrip("\n"))
        response["Body"].read()
        variants_seen.add(response.get("InvokedProductionVariant"))
print("variants seen:", variants_seen)
assert variants_seen == {"Variant1", "Variant2"}, variants_seen  # SHIPYARD: the notebook shows it in CloudWatch

try:
    # Step 3: Evaluate variant performance (invoke a specific variant)
    predictions = ""
    print("Sending test traffic to the endpoint {}. \nPlease wait...".format(endpoint_name))
    with open("test_data/test-dataset-input-cols.csv", "r") as f:
        for row in f:
            print(".", end="", flush=True)
            payload = row.rstrip("\n")
            response = sm_runtime.invoke_endpoint(
                EndpointName=endpoint_name, ContentType="text/csv", Body=payload, TargetVariant=variant1["VariantName"]
            )
            assert response["InvokedProductionVariant"] == "Variant1"  # SHIPYARD: sanity check
            predictions = ",".join([predictions, response["Body"].read().decode("utf-8")])
            time.sleep(0.01)  # SHIPYARD: 0.5 s in the notebook
    predictions = predictions[1:]
    labels = np.loadtxt("test_data/test-dataset-labels.csv")
    preds = np.array([float(p) > 0.5 for p in predictions.split(",")])
    print(f"\nVariant1 accuracy: {np.mean(preds == labels):.3f}")

    # Step 4: Dialing up our chosen variant in production
    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint_name,
        DesiredWeightsAndCapacities=[
            {"DesiredWeight": 25, "VariantName": variant1["VariantName"]},
            {"DesiredWeight": 75, "VariantName": variant2["VariantName"]},
        ],
    )
    print("Waiting for update to complete")
    while True:
        status = sm.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
        if status in ["InService", "Failed"]:
            print("Done")
            break
        print(".", end="", flush=True)
        time.sleep(1)

    weights = {variant["VariantName"]: variant["CurrentWeight"]
               for variant in sm.describe_endpoint(EndpointName=endpoint_name)["ProductionVariants"]}
    print(weights)
    assert weights == {"Variant1": 25.0, "Variant2": 75.0}, weights  # SHIPYARD: sanity check

    sm.update_endpoint_weights_and_capacities(
        EndpointName=endpoint_name,
        DesiredWeightsAndCapacities=[
            {"DesiredWeight": 0, "VariantName": variant1["VariantName"]},
            {"DesiredWeight": 1, "VariantName": variant2["VariantName"]},
        ],
    )
    print("Waiting for update to complete")
    while True:
        status = sm.describe_endpoint(EndpointName=endpoint_name)["EndpointStatus"]
        if status in ["InService", "Failed"]:
            print("Done")
            break
        print(".", end="", flush=True)
        time.sleep(1)
    weights = {variant["VariantName"]: variant["CurrentWeight"]
               for variant in sm.describe_endpoint(EndpointName=endpoint_name)["ProductionVariants"]}
    print(weights)
    seen = set()
    for _ in range(20):
        r = sm_runtime.invoke_endpoint(EndpointName=endpoint_name, ContentType="text/csv", Body=payload)
        r["Body"].read()
        seen.add(r["InvokedProductionVariant"])
    assert seen == {"Variant2"}, seen  # SHIPYARD: all traffic now goes to Variant2

    # SHIPYARD: the notebook plots per-variant Invocations from CloudWatch (get_metric_statistics) in step 2;
    # moved here, after the steps that need no CloudWatch metrics, so that they run either way.
    cw = boto3.Session().client("cloudwatch")

    def get_invocation_metrics_for_endpoint_variant(endpoint_name, variant_name, start_time, end_time):
        metrics = cw.get_metric_statistics(
            Namespace="AWS/SageMaker",
            MetricName="Invocations",
            StartTime=start_time,
            EndTime=end_time,
            Period=60,
            Statistics=["Sum"],
            Dimensions=[
                {"Name": "EndpointName", "Value": endpoint_name},
                {"Name": "VariantName", "Value": variant_name},
            ],
        )
        return (
            pd.DataFrame(metrics["Datapoints"])
            .sort_values("Timestamp")
            .set_index("Timestamp")
            .drop("Unit", axis=1)
            .rename(columns={"Sum": variant_name})
        )

    def plot_endpoint_metrics(start_time=None):
        start_time = start_time or datetime.now() - timedelta(minutes=60)
        end_time = datetime.now()
        metrics_variant1 = get_invocation_metrics_for_endpoint_variant(
            endpoint_name, variant1["VariantName"], start_time, end_time
        )
        metrics_variant2 = get_invocation_metrics_for_endpoint_variant(
            endpoint_name, variant2["VariantName"], start_time, end_time
        )
        metrics_variants = metrics_variant1.join(metrics_variant2, how="outer")
        print(metrics_variants)  # SHIPYARD: printed instead of plotted
        return metrics_variants

    metrics_variants = plot_endpoint_metrics()
    assert metrics_variants.sum().sum() > 0, metrics_variants  # SHIPYARD: sanity check
finally:
    sm.delete_endpoint(EndpointName=endpoint_name)
