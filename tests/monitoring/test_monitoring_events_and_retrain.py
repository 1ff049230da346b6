"""The loop closed, with a real server: deploy, baseline, a schedule whose tags name a retraining pipeline,
drifted traffic, the execution ends CompletedWithViolations, its event is in ``/shipyard/events``, the pipeline
retrains on fresh data and registers the model, and the new model replaces the old one on the endpoint while a
client sending requests the whole time sees no failed request.

What the test chose: the pipeline is a built-in XGBoost Training step on the fresh data its parameter names,
then a RegisterModel step (Approved); the "deploy on approval" part is the test itself acting as the watcher a
team would run (it reads the registered package and calls UpdateEndpoint), which keeps the pipeline to steps
SageMaker has. The baseline is the analyzer's own, run in process on the clean training set.
"""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest
from botocore.exceptions import ClientError
from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service
from monitoring_helpers import ANALYZER, ROLE, wait_until


pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

BUCKET = "loop"
ENDPOINT = "loop-ep"
PIPELINE = "retrain-on-drift"
FAST = {"SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL": "0.3", "SHIPYARD_PROCESSING_STOP_GRACE": "3"}


def _csv(rows: np.ndarray) -> bytes:
    return ("\n".join(",".join(f"{v:.4f}" for v in row) for row in rows) + "\n").encode()


def clean_training_set(n: int = 300) -> np.ndarray:
    """label (2 * x0) first, then four features in [0, 1): what the first model learnt from."""
    rng = np.random.default_rng(1)
    x = rng.random((n, 4))
    return np.column_stack([2 * x[:, 0], x])


def fresh_training_set(n: int = 400) -> np.ndarray:
    """The same relation over the drifted range [0, 10): what the retrained model learns."""
    rng = np.random.default_rng(2)
    x = rng.random((n, 4)) * 10
    return np.column_stack([2 * x[:, 0], x])


def baseline_documents(tmp_path, rows: np.ndarray) -> tuple[bytes, bytes]:
    """statistics.json and constraints.json of the clean set, by the analyzer itself (in process)."""
    from shipyard.monitor.analyzer import program

    source, output = tmp_path / "baseline-in", tmp_path / "baseline-out"
    source.mkdir()
    output.mkdir()
    (source / "train.csv").write_bytes(_csv(rows))
    code = program.main({"dataset_format": json.dumps({"csv": {"header": False}}), "dataset_source": str(source),
                         "output_path": str(output), "SAGEMAKER_BASE_DIR": str(tmp_path / "opt-ml")})
    assert code == 0
    return (output / "statistics.json").read_bytes(), (output / "constraints.json").read_bytes()


def capture_config() -> dict:
    return {"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": f"s3://{BUCKET}/capture",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}


def retrain_pipeline_definition() -> str:
    train = {"Name": "Train", "Type": "Training", "Arguments": {
        "AlgorithmSpecification": {"TrainingImage": XGB_IMAGE, "TrainingInputMode": "File"},
        "HyperParameters": {"num_round": "30", "objective": "reg:squarederror", "max_depth": "4"},
        "RoleArn": ROLE,
        "InputDataConfig": [{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": {"Get": "Parameters.TrainData"},
            "S3DataDistributionType": "FullyReplicated"}}}],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/retrained"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300}}}
    steps = [train]
    # the Approved package is what deploy on approval rolls out
    steps.append({"Name": "Register", "Type": "RegisterModel", "Arguments": {
        "ModelPackageGroupName": "loop-models", "ModelApprovalStatus": "Approved",
        "InferenceSpecification": {
            "Containers": [{"Image": XGB_IMAGE,
                            "ModelDataUrl": {"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}}})
    return json.dumps({"Version": "2020-12-01", "Metadata": {}, "Steps": steps, "Parameters": [
        {"Name": "TrainData", "Type": "String", "DefaultValue": f"s3://{BUCKET}/nothing/"}]})


class Traffic:
    """A client invoking the endpoint with drifted rows until stopped, counting every failure."""

    def __init__(self, rt):
        self.rt, self.sent, self.failures = rt, 0, []
        self.predictions: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._rng = np.random.default_rng(3)

    def _run(self) -> None:
        deadline = time.monotonic() + 400  # bounded even if the test never stops it
        while not self._stop.is_set() and time.monotonic() < deadline:
            row = self._rng.random(4) * 10
            row[0] = 7.0  # the old model answers about 2 here, the retrained one about 14
            try:
                body = self.rt.invoke_endpoint(EndpointName=ENDPOINT, ContentType="text/csv",
                                               Body=",".join(f"{v:.3f}" for v in row).encode())["Body"].read()
                self.predictions.append(float(body.decode().strip().split(",")[0].strip("[]")))
            except Exception as e:  # noqa: BLE001 - every failure counts, whatever it is
                self.failures.append(repr(e))
            self.sent += 1
            self._stop.wait(0.05)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)


def test_drift_fires_an_event_and_the_retrained_model_replaces_the_old_one(server_factory, tmp_path):
    server = server_factory(env=FAST)
    sm, s3, rt = server.client("sagemaker"), server.client("s3"), server.client("sagemaker-runtime")
    logs = server.client("logs")
    data, _ = model_tarball(2.0)
    url = upload(s3, BUCKET, "model/v1/model.tar.gz", data)
    sm.create_model(ModelName="loop-v1", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
    sm.create_endpoint_config(EndpointConfigName="loop-v1", DataCaptureConfig=capture_config(), ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "loop-v1", "InitialInstanceCount": 1,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName="loop-v1")
    wait_in_service(sm, ENDPOINT)

    statistics, constraints = baseline_documents(tmp_path, clean_training_set())
    s3.put_object(Bucket=BUCKET, Key="baseline/statistics.json", Body=statistics)
    s3.put_object(Bucket=BUCKET, Key="baseline/constraints.json", Body=constraints)
    s3.put_object(Bucket=BUCKET, Key="fresh/train.csv", Body=_csv(fresh_training_set()))
    sm.create_pipeline(PipelineName=PIPELINE, RoleArn=ROLE, PipelineDefinition=retrain_pipeline_definition())
    sm.create_model_package_group(ModelPackageGroupName="loop-models", Tags=[
        {"Key": "shipyard:deploy-on-approval", "Value": ENDPOINT}])  # an approved version replaces the model

    definition = {
        "MonitoringInputs": [{"EndpointInput": {"EndpointName": ENDPOINT,
                                                "LocalPath": "/opt/ml/processing/input/endpoint"}}],
        "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": f"s3://{BUCKET}/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                  "VolumeSizeInGB": 20}},
        "MonitoringAppSpecification": {"ImageUri": ANALYZER},
        "BaselineConfig": {"ConstraintsResource": {"S3Uri": f"s3://{BUCKET}/baseline/constraints.json"},
                           "StatisticsResource": {"S3Uri": f"s3://{BUCKET}/baseline/statistics.json"}},
        "RoleArn": ROLE}
    config = {"MonitoringJobDefinition": definition, "ScheduleConfig": {
        "ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H", "DataAnalysisEndTime": "-PT0H"}}

    # the retrain option is checked at create: a pipeline that does not exist, parameters that are not JSON
    for tags, named in (([{"Key": "shipyard:on-violation-pipeline", "Value": "no-such-pipeline"}],
                         "shipyard:on-violation-pipeline"),
                        ([{"Key": "shipyard:on-violation-pipeline", "Value": PIPELINE},
                          {"Key": "shipyard:on-violation-parameters", "Value": "{not json"}],
                         "shipyard:on-violation-parameters")):
        with pytest.raises(ClientError) as e:
            sm.create_monitoring_schedule(MonitoringScheduleName="refused", MonitoringScheduleConfig=config,
                                          Tags=tags)
        assert e.value.response["Error"]["Code"] == "ValidationException"
        assert named in e.value.response["Error"]["Message"]

    with Traffic(rt) as traffic:
        wait_until(lambda: traffic.sent >= 40, 60, "drifted traffic")
        wait_until(lambda: s3.list_objects_v2(Bucket=BUCKET, Prefix=f"capture/{ENDPOINT}/").get("KeyCount"), 30,
                   "captured records in S3")
        assert traffic.predictions and max(traffic.predictions) < 4, "the first model cannot extrapolate"
        sm.create_monitoring_schedule(MonitoringScheduleName="drift-watch", MonitoringScheduleConfig=config, Tags=[
            {"Key": "shipyard:on-violation-pipeline", "Value": PIPELINE},
            {"Key": "shipyard:on-violation-parameters",
             "Value": json.dumps({"TrainData": f"s3://{BUCKET}/fresh/"})}])
        arn = sm.describe_monitoring_schedule(MonitoringScheduleName="drift-watch")["MonitoringScheduleArn"]
        with pytest.raises(ClientError, match="shipyard:on-violation-parameters"):  # AddTags checks them too
            sm.add_tags(ResourceArn=arn, Tags=[{"Key": "shipyard:on-violation-parameters", "Value": "[1, 2]"}])

        def ended():
            last = sm.describe_monitoring_schedule(MonitoringScheduleName="drift-watch").get(
                "LastMonitoringExecutionSummary") or {}
            return last if last.get("MonitoringExecutionStatus") not in (None, "Pending", "InProgress") else None

        last = wait_until(ended, 120, "the monitoring execution to end")
        assert last["MonitoringExecutionStatus"] == "CompletedWithViolations", last.get("FailureReason")

        def event():
            try:
                found = logs.filter_log_events(logGroupName="/shipyard/events",
                                               logStreamNames=["monitoring-execution-state-change"])["events"]
            except ClientError:
                return None
            bodies = [json.loads(e["message"]) for e in found]
            return next((b for b in bodies if b["detail"]["MonitoringScheduleName"] == "drift-watch"), None)

        ev = wait_until(event, 10, "the violation event")
        detail = ev["detail"]
        assert ev["detail-type"] == "SageMaker Model Monitor Execution State Change"
        assert detail["MonitoringExecutionStatus"] == "CompletedWithViolations"
        assert detail["EndpointName"] == ENDPOINT and detail["ProcessingJobArn"] == last["ProcessingJobArn"]
        assert detail["ViolationCount"] >= 1 and detail["Violations"][0]["constraint_check_type"]
        assert detail["ReportUrl"].endswith("/studio/monitoring/drift-watch")
        execution_arn = detail["RetrainPipelineExecutionArn"]

        (started,) = sm.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]
        assert started["PipelineExecutionArn"] == execution_arn
        run = sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn)
        assert "drift-watch" in run["PipelineExecutionDescription"]
        params = sm.list_pipeline_parameters_for_execution(PipelineExecutionArn=execution_arn)["PipelineParameters"]
        assert {"Name": "TrainData", "Value": f"s3://{BUCKET}/fresh/"} in params

        def pipeline_done():
            status = sm.describe_pipeline_execution(PipelineExecutionArn=execution_arn)["PipelineExecutionStatus"]
            return status if status in ("Succeeded", "Failed", "Stopped") else None

        assert wait_until(pipeline_done, 240, "the retraining pipeline") == "Succeeded"
        steps = {s["StepName"]: s for s in sm.list_pipeline_execution_steps(
            PipelineExecutionArn=execution_arn)["PipelineExecutionSteps"]}
        # deploy on approval: the group's tag moves the endpoint to the registered, Approved package's model
        package = sm.describe_model_package(ModelPackageName=steps["Register"]["Metadata"]["RegisterModel"]["Arn"])
        assert package["ModelApprovalStatus"] == "Approved"

        def on_new_model():
            endpoint = sm.describe_endpoint(EndpointName=ENDPOINT)
            return endpoint["EndpointConfigName"] != "loop-v1" and endpoint["EndpointStatus"] == "InService"

        wait_until(on_new_model, 120, "the endpoint on the retrained model (deploy on approval)")
        config = sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=ENDPOINT)["EndpointConfigName"])
        model = sm.describe_model(ModelName=config["ProductionVariants"][0]["ModelName"])
        assert model["Containers"][0].get("ModelPackageName") == package["ModelPackageArn"] or \
            model.get("PrimaryContainer", {}).get("ModelPackageName") == package["ModelPackageArn"], model
        seen = len(traffic.predictions)
        wait_until(lambda: len(traffic.predictions) >= seen + 20, 30, "requests to the retrained model")

    assert traffic.failures == [], traffic.failures[:5]
    assert traffic.sent > 100
    assert traffic.predictions[-1] > 8, "the endpoint serves the retrained model (about 14 at x0 = 7)"
    # once per execution: the execution records the pipeline it started, and no second one was started
    assert len(sm.list_pipeline_executions(PipelineName=PIPELINE)["PipelineExecutionSummaries"]) == 1


# ------------------------------------------------------------------ the retrain option, in process
@pytest.fixture
def services(tmp_path):
    from shipyard.config import load_settings
    from shipyard.context import build_services

    s = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    try:
        yield s
    finally:
        s.meta.close()


def _retrain_tags(parameters: str | None = None, pipeline: str = PIPELINE) -> list[dict]:
    tags = [{"Key": "shipyard:on-violation-pipeline", "Value": pipeline}]
    if parameters is not None:
        tags.append({"Key": "shipyard:on-violation-parameters", "Value": parameters})
    return tags


def test_retrain_tags_are_checked_and_start_the_pipeline_once_per_execution(services):
    from shipyard.errors import ValidationError
    from shipyard.metastore.base import Resource
    from shipyard.resources import monitoring_events as events
    from shipyard.resources import pipeline

    pipeline.create(services, {"PipelineName": PIPELINE, "RoleArn": ROLE,
                               "PipelineDefinition": retrain_pipeline_definition()})
    assert events.check_retrain_tags(services, []) is None
    target = events.check_retrain_tags(services, _retrain_tags('{"TrainData": "s3://b/fresh/"}'))
    assert target is not None and target.pipeline_parameters() == [{"Name": "TrainData", "Value": "s3://b/fresh/"}]
    for tags, named, why in ((_retrain_tags(pipeline="absent"), events.PIPELINE_TAG, "no pipeline named"),
                             (_retrain_tags("[1, 2]"), events.PARAMETERS_TAG, "JSON object"),
                             (_retrain_tags('{"Unknown": 1}'), events.PARAMETERS_TAG, "not declared"),
                             ([{"Key": events.PARAMETERS_TAG, "Value": "{}"}], events.PIPELINE_TAG, "needs")):
        with pytest.raises(ValidationError) as e:
            events.check_retrain_tags(services, tags)
        assert named in e.value.message and why in e.value.message, e.value.message

    schedule = Resource(kind="monitoring-schedule", name="s", arn="arn:s", status="Scheduled",
                        doc={"_tags": _retrain_tags('{"TrainData": "s3://b/fresh/"}')}, created=0.0, modified=0.0)
    execution = Resource(kind="monitoring-execution", name="s-20261207070000", arn="arn:e", status="InProgress",
                         doc={"MonitoringScheduleName": "s", "EndpointName": "ep", "ScheduledTime": 0.0},
                         created=0.0, modified=0.0, parent="arn:s")
    first = events.start_retrain(services, execution, schedule)
    again = events.start_retrain(services, execution, schedule)  # a restart before the end was recorded
    assert first is not None and first == again and first["PipelineExecutionArn"]
    listed = pipeline.list_executions(services, {"PipelineName": PIPELINE})["PipelineExecutionSummaries"]
    assert len(listed) == 1


def test_the_event_carries_the_first_violations_and_a_failure_its_reason(services):
    from shipyard.metastore.base import Resource
    from shipyard.resources import monitoring_events as events

    services.objects.create_bucket("events-bucket")
    found = [{"feature_name": f"_c{i}", "constraint_check_type": "baseline_drift_check", "description": "moved"}
             for i in range(events.MAX_VIOLATIONS + 5)]
    body = json.dumps({"violations": found}).encode()
    services.objects.put_object("events-bucket", "reports/x/constraint_violations.json", body)
    job = {"ProcessingJobArn": "arn:aws:sagemaker:us-east-1:123456789012:processing-job/pj",
           "ProcessingOutputConfig": {"Outputs": [{"S3Output": {"S3Uri": "s3://events-bucket/reports/x/"}}]}}
    execution = Resource(kind="monitoring-execution", name="s-1", arn="arn:e", status="InProgress",
                         doc={"MonitoringScheduleName": "s", "EndpointName": "ep", "ScheduledTime": 1.5,
                              "MonitoringType": "DataQuality"}, created=0.0, modified=0.0, parent="arn:s")
    changes = events.on_execution_end(services, execution, "CompletedWithViolations", job)
    assert "_retrain" not in changes  # no schedule with retrain tags: nothing to start
    failed = events.on_execution_end(services, execution, "Failed", None, failure="Job inputs had no data")
    page = services.meta.get_logs("/shipyard/events", events.LOG_STREAM)
    bodies = [json.loads(e.message) for e in page[0]]
    assert [b["id"] for b in bodies] == [changes["_event"], failed["_event"]]
    violated, broke = bodies[0]["detail"], bodies[1]["detail"]
    assert violated["ViolationCount"] == events.MAX_VIOLATIONS + 5
    assert violated["Violations"] == found[:events.MAX_VIOLATIONS] and violated["ScheduledTime"] == 1500
    assert violated["ReportS3Uri"] == "s3://events-bucket/reports/x" and bodies[0]["resources"] == ["arn:s", job[
        "ProcessingJobArn"]]
    assert broke["FailureReason"] == "Job inputs had no data" and broke["ViolationCount"] == 0
