"""Save to S3 with a SageMaker Processing Job: a Data Wrangler flow exported as a processing job, converted to a
script for Shipyard.

Source notebook: the one Data Wrangler writes for "Export to > Amazon S3 (via Jupyter Notebook)" (Save to S3
with a SageMaker Processing Job; see aws/amazon-sagemaker-examples, sagemaker-datawrangler/).

The flow file is uploaded to S3, the job's inputs are the flow (``/opt/ml/processing/flow``) and the data
source, its output is the last node's ``<node_id>.default``, the image is
``sagemaker.image_uris.retrieve("data-wrangler", region)`` and the arguments carry ``--output-config``; the SDK's
``Processor``, unmodified. Shipyard runs that image's flow on pandas. Adaptations are marked ``# SHIPYARD:``.
"""

import json
import os
import time
import uuid

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker.network import NetworkConfig
from sagemaker.processing import ProcessingInput, ProcessingOutput, Processor

sess = sagemaker.Session()
region = sess.boto_region_name
bucket = sess.default_bucket()
# SHIPYARD: no notebook execution role to look up (sagemaker.get_execution_role); any role ARN is accepted.
iam_role = "arn:aws:iam::123456789012:role/Shipyard"
s3_client = boto3.client("s3")

# SHIPYARD: the notebook exports a flow built in Studio over your data set. Here the data set is generated (a
# bank-marketing-like table) and the flow written as Data Wrangler saves it: import, infer types, drop a column,
# impute a median, one-hot encode, and a custom pandas step.
rng = np.random.default_rng(0)
n = 2000
data = pd.DataFrame({"age": rng.integers(18, 90, n).astype(float), "job": rng.choice(["admin", "technician",
                     "services", "retired"], n), "balance": rng.normal(1500, 800, n).round(2),
                     "campaign": rng.integers(1, 10, n), "row_id": np.arange(n), "y": rng.choice(["yes", "no"], n)})
data.loc[rng.choice(n, 100, replace=False), "age"] = np.nan
s3_client.put_object(Bucket=bucket, Key="data-wrangler-example/bank.csv", Body=data.to_csv(index=False).encode())
source_uri = f"s3://{bucket}/data-wrangler-example/bank.csv"


def node(node_id, node_type, operator, parameters, inputs, trained=None):
    out = {"node_id": node_id, "type": node_type, "operator": operator, "parameters": parameters,
           "inputs": [{"name": "df", "node_id": i, "output_name": "default"} for i in inputs],
           "outputs": [{"name": "default"}]}
    if trained:
        out["trained_parameters"] = trained
    return out


ids = [str(uuid.uuid4()) for _ in range(6)]
flow = {"metadata": {"version": 1, "disable_limits": False}, "nodes": [
    node(ids[0], "SOURCE", "sagemaker.s3_source_0.1", {"dataset_definition": {
        "__typename": "S3CreateDatasetDefinitionOutput", "datasetSourceType": "S3", "name": "bank.csv",
        "description": None, "s3ExecutionContext": {"__typename": "S3ExecutionContext", "s3Uri": source_uri,
                                                    "s3ContentType": "csv", "s3HasHeader": True}}}, []),
    node(ids[1], "TRANSFORM", "sagemaker.spark.infer_and_cast_type_0.1", {}, [ids[0]], trained={"schema": {
        "age": "float", "job": "string", "balance": "float", "campaign": "long", "row_id": "long", "y": "string"}}),
    node(ids[2], "TRANSFORM", "sagemaker.spark.manage_columns_0.1", {"operator": "Drop column",
         "drop_column_parameters": {"column_to_drop": "row_id"}}, [ids[1]]),
    node(ids[3], "TRANSFORM", "sagemaker.spark.handle_missing_0.1", {"operator": "Impute", "impute_parameters": {
        "column_type": "Numeric", "numeric_parameters": {"input_column": "age", "strategy": "Approximate Median"}}},
         [ids[2]]),
    node(ids[4], "TRANSFORM", "sagemaker.spark.encode_categorical_0.1", {"operator": "One-hot encode",
         "one_hot_encode_parameters": {"invalid_handling_strategy": "Keep", "drop_last": False,
                                       "output_style": "Columns", "input_column": "job"}}, [ids[3]]),
    node(ids[5], "TRANSFORM", "sagemaker.spark.custom_pandas_0.1", {
        "code": "# Table is available as variable `df`\ndf['y'] = (df['y'] == 'yes').astype(int)\n"}, [ids[4]]),
]}
flow_name = "bank-marketing"
with open(f"{flow_name}.flow", "w") as f:
    json.dump(flow, f, indent=2)

# ---- from here on, the exported notebook --------------------------------------------------------------------
flow_export_id = f"{time.strftime('%d-%H-%M-%S', time.gmtime())}-{str(uuid.uuid4())[:8]}"
flow_export_name = f"flow-{flow_export_id}"

# Output name is auto-generated from the select node's ID + output name from the flow file.
output_name = f"{ids[5]}.default"

s3_output_prefix = f"export-{flow_export_name}/output"
s3_output_path = f"s3://{bucket}/{s3_output_prefix}"
print(f"Flow S3 export result path: {s3_output_path}")

processing_job_output = ProcessingOutput(
    output_name=output_name,
    source="/opt/ml/processing/output",
    destination=s3_output_path,
    s3_upload_mode="EndOfJob",
)

data_sources = []
data_sources.append(ProcessingInput(
    source=source_uri,
    destination="/opt/ml/processing/bank.csv",
    input_name="bank.csv",
    s3_data_type="S3Prefix",
    s3_input_mode="File",
    s3_data_distribution_type="FullyReplicated",
))

# Upload flow to S3
flow_file_name = f"{flow_name}.flow"
s3_client.upload_file(flow_file_name, bucket, f"data_wrangler_flows/{flow_export_name}.flow")
flow_s3_uri = f"s3://{bucket}/data_wrangler_flows/{flow_export_name}.flow"
print(f"Data Wrangler flow {flow_file_name} uploaded to {flow_s3_uri}")

flow_input = ProcessingInput(
    source=flow_s3_uri,
    destination="/opt/ml/processing/flow",
    input_name="flow",
    s3_data_type="S3Prefix",
    s3_input_mode="File",
    s3_data_distribution_type="FullyReplicated",
)

# Unique processing job name. Give a unique name every time you re-execute processing jobs
processing_job_name = f"data-wrangler-flow-processing-{flow_export_id}"

# Size, type and number of instances
instance_count = 2
instance_type = "ml.m5.4xlarge"
volume_size_in_gb = 30

# Content type for each output. Data Wrangler supports CSV as default and Parquet.
output_content_type = "CSV"

# Network Isolation mode; default is off
enable_network_isolation = False

# Data Wrangler Container URL
container_uri = sagemaker.image_uris.retrieve(framework="data-wrangler", region=region)

processor = Processor(
    role=iam_role,
    image_uri=container_uri,
    instance_count=instance_count,
    instance_type=instance_type,
    volume_size_in_gb=volume_size_in_gb,
    network_config=NetworkConfig(enable_network_isolation=enable_network_isolation),
    sagemaker_session=sess,
)

# Output configuration used as processing job container arguments
output_config = {output_name: {"content_type": output_content_type}}
refit_trained_params = {"refit": False, "output_flow": f"data-wrangler-flow-processing-{flow_export_id}.flow"}

# Start Job
processor.run(
    inputs=[flow_input] + data_sources,
    outputs=[processing_job_output],
    arguments=[f"--output-config '{json.dumps(output_config)}'"]
    + [f"--refit-trained-params '{json.dumps(refit_trained_params)}'"],
    wait=False,
    logs=False,
    job_name=processing_job_name,
)

# SHIPYARD: the notebook waits with sess.wait_for_processing_job (polls every 60 s); a short boto3 poll here.
sm = boto3.client("sagemaker")
deadline = time.monotonic() + 600
while True:
    job_result = sm.describe_processing_job(ProcessingJobName=processing_job_name)
    if job_result["ProcessingJobStatus"] in ("Completed", "Failed", "Stopped") or time.monotonic() > deadline:
        break
    time.sleep(2)
print(job_result["ProcessingJobStatus"], job_result.get("FailureReason", ""))
assert job_result["ProcessingJobStatus"] == "Completed", job_result.get("FailureReason")

# Inspect the output (the notebook's optional last cell: read the result back from S3)
keys = [o["Key"] for o in s3_client.list_objects_v2(Bucket=bucket, Prefix=s3_output_prefix)["Contents"]]
print("output objects:", keys)
s3_client.download_file(bucket, keys[0], "result.csv")
result = pd.read_csv("result.csv")
print(result.head())
assert len(result) == n and "row_id" not in result.columns and result["age"].notna().all()
assert {"job_admin", "job_technician"} <= set(result.columns) and set(result["y"]) <= {0, 1}
os.remove("result.csv")
