"""Amazon SageMaker Model Monitor (introduction), converted to a script for Shipyard.

Source notebook: aws/amazon-sagemaker-examples, sagemaker_model_monitor/introduction/SageMaker-ModelMonitoring.ipynb

PART A: an XGBoost churn model deployed with DataCaptureConfig, test traffic, the captured files listed and one
record shown. PART B: DefaultModelMonitor.suggest_baseline on the training set (statistics and constraints),
create_monitoring_schedule with a post-analytics script, traffic, describe the schedule, list executions, wait
for the latest, its report files and the violations; then the schedule, endpoint and model are deleted.
Adaptations are marked ``# SHIPYARD:``.
"""

import json
import os
import time
from threading import Event, Thread
from time import gmtime, strftime
from urllib.parse import urlparse

import boto3
import numpy as np
import pandas as pd
import sagemaker
from sagemaker import session
from sagemaker.image_uris import retrieve
from sagemaker.inputs import TrainingInput
from sagemaker.model import Model
from sagemaker.model_monitor import CronExpressionGenerator, DataCaptureConfig, DefaultModelMonitor
from sagemaker.model_monitor.dataset_format import DatasetFormat
from sagemaker.predictor import Predictor
from sagemaker.s3 import S3Uploader
from sagemaker.serializers import CSVSerializer

# Handful of configuration
region = boto3.Session().region_name

# SHIPYARD: no notebook execution role to look up (get_execution_role); any role ARN is accepted.
role = "arn:aws:iam::123456789012:role/Shipyard"
print("RoleArn: {}".format(role))

bucket = session.Session(boto3.Session()).default_bucket()
print("Demo Bucket: {}".format(bucket))
prefix = "sagemaker/DEMO-ModelMonitor"

data_capture_prefix = "{}/datacapture".format(prefix)
s3_capture_upload_path = "s3://{}/{}".format(bucket, data_capture_prefix)
reports_prefix = "{}/reports".format(prefix)
s3_report_path = "s3://{}/{}".format(bucket, reports_prefix)
code_prefix = "{}/code".format(prefix)
s3_code_preprocessor_uri = "s3://{}/{}/{}".format(bucket, code_prefix, "preprocessor.py")
s3_code_postprocessor_uri = "s3://{}/{}/{}".format(bucket, code_prefix, "postprocessor.py")

print("Capture path: {}".format(s3_capture_upload_path))
print("Report path: {}".format(s3_report_path))
print("Preproc Code path: {}".format(s3_code_preprocessor_uri))
print("Postproc Code path: {}".format(s3_code_postprocessor_uri))

# SHIPYARD: the notebook's test_data/ (the churn data set) and model/xgb-churn-prediction-model.tar.gz come with
# the repository; no downloads at run time: a generated churn-like data set (Churn first, then account and usage
# columns and one-hot states, as the notebook's training-dataset-with-header.csv), and the model trained here
# with the XGBoost image the notebook hosts (0.90-1).
rng = np.random.default_rng(7)
n = 1200
columns = {
    "Account Length": rng.integers(1, 240, n), "VMail Message": rng.integers(0, 50, n),
    "Day Mins": rng.normal(180, 54, n).round(1), "Day Calls": rng.integers(40, 160, n),
    "Eve Mins": rng.normal(200, 50, n).round(1), "Eve Calls": rng.integers(40, 160, n),
    "Night Mins": rng.normal(200, 50, n).round(1), "Night Calls": rng.integers(40, 160, n),
    "Intl Mins": rng.normal(10, 2.8, n).round(1), "Intl Calls": rng.integers(0, 20, n),
    "CustServ Calls": rng.poisson(1.5, n),
}
states = ["AK", "AL", "AR", "AZ", "CA"]
state = rng.choice(states, n)
for s in states:
    columns["State_" + s] = (state == s).astype(int)
features = pd.DataFrame(columns)
score = 0.02 * (features["Day Mins"] - 180) + 0.6 * (features["CustServ Calls"] - 1.5) + rng.normal(0, 1, n)
churn = (score > 1.0).astype(int)
os.makedirs("test_data", exist_ok=True)
training = pd.concat([pd.Series(churn[:1000], name="Churn"), features[:1000]], axis=1)
training.to_csv("test_data/training-dataset-with-header.csv", index=False)
training.to_csv("test_data/training-dataset-no-header.csv", index=False, header=False)
features[1000:].to_csv("test_data/test-dataset-input-cols.csv", index=False, header=False)
with open("test_data/upload-test-file.txt", "w") as f:
    f.write("test\n")
with open("postprocessor.py", "w") as f:
    f.write('def postprocess_handler():\n    print("Hello from post-proc script!")\n')

# Upload some test files
boto3.Session().resource("s3").Bucket(bucket).Object("test_upload/test.txt").upload_file(
    "test_data/upload-test-file.txt"
)
print("Success! You are all set to proceed.")

# PART A: Capturing real-time inference data from Amazon SageMaker endpoints
# SHIPYARD: the pre-trained model, trained here (see above) instead of uploaded from model/.
train_uri = S3Uploader.upload(local_path="test_data/training-dataset-no-header.csv",
                              desired_s3_uri="s3://{}/{}/train".format(bucket, prefix))
estimator = sagemaker.estimator.Estimator(
    retrieve("xgboost", region, "0.90-1"), role, instance_count=1, instance_type="ml.m5.large",
    output_path="s3://{}/{}/model".format(bucket, prefix),
    hyperparameters={"objective": "binary:logistic", "num_round": 20, "max_depth": 4})
estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, logs=False)

# Deploy the model to Amazon SageMaker
model_name = "DEMO-xgb-churn-pred-model-monitor-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())
model_url = estimator.model_data  # SHIPYARD: the model trained above
image_uri = retrieve("xgboost", boto3.Session().region_name, "0.90-1")
model = Model(image_uri=image_uri, model_data=model_url, role=role)

endpoint_name = "DEMO-xgb-churn-pred-model-monitor-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())
print("EndpointName={}".format(endpoint_name))

data_capture_config = DataCaptureConfig(
    enable_capture=True, sampling_percentage=100, destination_s3_uri=s3_capture_upload_path
)

predictor = model.deploy(
    initial_instance_count=1,
    instance_type="ml.m4.xlarge",
    endpoint_name=endpoint_name,
    data_capture_config=data_capture_config,
)

# Invoke the deployed model
predictor = Predictor(endpoint_name=endpoint_name, serializer=CSVSerializer())

# get a subset of test data for a quick test
with open("test_data/test-dataset-input-cols.csv") as src, open("test_data/test_sample.csv", "w") as dst:
    for _, line in zip(range(120), src):  # SHIPYARD: `!head -120 ...` in Python
        dst.write(line)
print("Sending test traffic to the endpoint {}. \nPlease wait...".format(endpoint_name))

with open("test_data/test_sample.csv", "r") as f:
    for row in f:
        payload = row.rstrip("\n")
        response = predictor.predict(data=payload)
        time.sleep(0.01)  # SHIPYARD: 0.5 s in the notebook

print("Done!")

# View captured data
s3_client = boto3.Session().client("s3")
current_endpoint_capture_prefix = "{}/{}".format(data_capture_prefix, endpoint_name)
# SHIPYARD: the notebook reads the list at once; capture files are written a moment after the requests, so
# wait for them (bounded).
for _ in range(100):
    result = s3_client.list_objects(Bucket=bucket, Prefix=current_endpoint_capture_prefix)
    if result.get("Contents"):
        break
    time.sleep(0.2)
capture_files = [capture_file.get("Key") for capture_file in result.get("Contents")]
print("Found Capture Files:")
print("\n ".join(capture_files))


def get_obj_body(obj_key):
    return s3_client.get_object(Bucket=bucket, Key=obj_key).get("Body").read().decode("utf-8")


capture_file = get_obj_body(capture_files[-1])
print(capture_file[:2000])
print(json.dumps(json.loads(capture_file.split("\n")[0]), indent=2))

# PART B: Model Monitor - Baselining and continuous monitoring
# 1. Constraint suggestion with baseline/training dataset
baseline_prefix = prefix + "/baselining"
baseline_data_prefix = baseline_prefix + "/data"
baseline_results_prefix = baseline_prefix + "/results"

baseline_data_uri = "s3://{}/{}".format(bucket, baseline_data_prefix)
baseline_results_uri = "s3://{}/{}".format(bucket, baseline_results_prefix)
print("Baseline data uri: {}".format(baseline_data_uri))
print("Baseline results uri: {}".format(baseline_results_uri))

training_data_file = open("test_data/training-dataset-with-header.csv", "rb")
s3_key = os.path.join(baseline_prefix, "data", "training-dataset-with-header.csv")
boto3.Session().resource("s3").Bucket(bucket).Object(s3_key).upload_fileobj(training_data_file)

my_default_monitor = DefaultModelMonitor(
    role=role,
    instance_count=1,
    instance_type="ml.m5.xlarge",
    volume_size_in_gb=20,
    max_runtime_in_seconds=3600,
)

my_default_monitor.suggest_baseline(
    baseline_dataset=baseline_data_uri + "/training-dataset-with-header.csv",
    dataset_format=DatasetFormat.csv(header=True),
    output_s3_uri=baseline_results_uri,
    wait=True,
)

# Explore the generated constraints and statistics
s3_client = boto3.Session().client("s3")
result = s3_client.list_objects(Bucket=bucket, Prefix=baseline_results_prefix)
report_files = [report_file.get("Key") for report_file in result.get("Contents")]
print("Found Files:")
print("\n ".join(report_files))

baseline_job = my_default_monitor.latest_baselining_job
schema_df = pd.json_normalize(baseline_job.baseline_statistics().body_dict["features"])
print(schema_df.head(10))

constraints_df = pd.json_normalize(baseline_job.suggested_constraints().body_dict["features"])
print(constraints_df.head(10))

# 2. Analyzing collected data for data quality issues
# First, copy over some test scripts to the S3 bucket so that they can be used for pre and post processing
boto3.Session().resource("s3").Bucket(bucket).Object(code_prefix + "/postprocessor.py").upload_file(
    "postprocessor.py"
)

mon_schedule_name = "DEMO-xgb-churn-pred-model-monitor-schedule-" + strftime("%Y-%m-%d-%H-%M-%S", gmtime())
my_default_monitor.create_monitoring_schedule(
    monitor_schedule_name=mon_schedule_name,
    endpoint_input=predictor.endpoint_name,
    # record_preprocessor_script=pre_processor_script,
    post_analytics_processor_script=s3_code_postprocessor_uri,
    output_s3_uri=s3_report_path,
    statistics=my_default_monitor.baseline_statistics(),
    constraints=my_default_monitor.suggested_constraints(),
    # SHIPYARD: CronExpressionGenerator.hourly() in the notebook, which then waits up to an hour (and 20 minutes)
    # for the first execution; a one-off NOW schedule over the past hour's capture runs the same analysis at once.
    schedule_cron_expression=CronExpressionGenerator.now(),
    data_analysis_start_time="-PT1H",
    data_analysis_end_time="-PT0H",
    enable_cloudwatch_metrics=True,
)

# Start generating some artificial traffic
endpoint_name = predictor.endpoint_name
runtime_client = boto3.client("runtime.sagemaker")
stop_traffic = Event()  # SHIPYARD: the notebook's thread runs until the kernel stops; this one until the end


def invoke_endpoint(ep_name, file_name, runtime_client):
    with open(file_name, "r") as f:
        for row in f:
            if stop_traffic.is_set():
                return
            payload = row.rstrip("\n")
            runtime_client.invoke_endpoint(EndpointName=ep_name, ContentType="text/csv", Body=payload)
            time.sleep(0.05)  # SHIPYARD: 1 s in the notebook


def invoke_endpoint_forever():
    while not stop_traffic.is_set():
        invoke_endpoint(endpoint_name, "test_data/test-dataset-input-cols.csv", runtime_client)


thread = Thread(target=invoke_endpoint_forever, daemon=True)
thread.start()

# Describe and inspect the schedule
desc_schedule_result = my_default_monitor.describe_schedule()
print("Schedule status: {}".format(desc_schedule_result["MonitoringScheduleStatus"]))

# List executions
mon_executions = my_default_monitor.list_executions()
deadline = time.monotonic() + 120  # SHIPYARD: bounded, polled every 2 s (60 s in the notebook)
while len(mon_executions) == 0:
    if time.monotonic() > deadline:
        raise RuntimeError("no monitoring execution within 120 s")
    print("Waiting for the 1st execution to happen...")
    time.sleep(2)
    mon_executions = my_default_monitor.list_executions()

# Inspect a specific execution (latest execution)
latest_execution = mon_executions[-1]  # latest execution's index is -1, second to last is -2 and so on..
latest_execution.wait(logs=False)  # SHIPYARD: the notebook sleeps 60 s first

print("Latest execution status: {}".format(latest_execution.describe()["ProcessingJobStatus"]))
print("Latest execution result: {}".format(latest_execution.describe().get("ExitMessage")))

latest_job = latest_execution.describe()
if latest_job["ProcessingJobStatus"] != "Completed":
    print(
        "====STOP==== \n No completed executions to inspect further. Please wait till an execution completes "
        "or investigate previously reported failures."
    )
    raise SystemExit(1)  # SHIPYARD: a script stops here, where the notebook's reader would

report_uri = latest_execution.output.destination
print("Report Uri: {}".format(report_uri))

# List the generated reports
s3uri = urlparse(report_uri)
report_bucket = s3uri.netloc
report_key = s3uri.path.lstrip("/")
print("Report bucket: {}".format(report_bucket))
print("Report key: {}".format(report_key))

s3_client = boto3.Session().client("s3")
result = s3_client.list_objects(Bucket=report_bucket, Prefix=report_key)
report_files = [report_file.get("Key") for report_file in result.get("Contents")]
print("Found Report Files:")
print("\n ".join(report_files))

# Violations report
violations = my_default_monitor.latest_monitoring_constraint_violations()
pd.set_option("display.max_colwidth", None)
constraints_df = pd.json_normalize(violations.body_dict["violations"])
print(constraints_df.head(10))

# Other commands
# my_default_monitor.stop_monitoring_schedule()
# my_default_monitor.start_monitoring_schedule()

# Delete the resources
stop_traffic.set()
thread.join(timeout=30)
my_default_monitor.delete_monitoring_schedule()
time.sleep(1)  # actually wait for the deletion (SHIPYARD: 60 s in the notebook)

# SHIPYARD: the notebook (written for SDK v1) deletes the endpoint, then the model; SDK v2's
# Predictor.delete_model finds the model through the endpoint configuration, which delete_endpoint removes (on
# AWS as here), so the model goes first.
predictor.delete_model()
predictor.delete_endpoint()
