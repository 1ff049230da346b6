"""The scheduler's decisions, in process over a real store (no server): when a schedule fires, what a missed
fire does, which capture folders an execution reads, and the processing request it makes (AWS's contract)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from shipyard.config import load_settings
from shipyard.context import build_services
from shipyard.errors import ResourceInUse, ValidationError
from shipyard.resources import monitoring_contract as contract
from shipyard.resources import monitoring_execution as executions
from shipyard.resources import monitoring_job_definition as definitions
from shipyard.resources import monitoring_schedule as schedules

IMAGE = "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"
ROLE = "arn:aws:iam::123456789012:role/monitor"


def ts(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc).timestamp()


@pytest.fixture
def services(tmp_path, monkeypatch):
    monkeypatch.delenv(schedules.FIRE_NOW_ENV, raising=False)
    s = build_services(load_settings(home=tmp_path / "home"), start_controllers=False)
    s.objects.create_bucket("mon")
    spec = {"config": "ep-config", "variants": [{"name": "AllTraffic", "weight": 1.0, "count": 1}],
            "data_capture": {"EnableCapture": True, "DestinationS3Uri": "s3://mon/capture",
                             "InitialSamplingPercentage": 100}}
    s.meta.create("endpoint", "ep", s.arn("endpoint", "ep"), "InService", {"EndpointName": "ep", "_spec": spec})
    s.meta.create("endpoint", "plain", s.arn("endpoint", "plain"), "InService",
                  {"EndpointName": "plain", "_spec": {"config": "c", "variants": []}})
    try:
        yield s
    finally:
        s.meta.close()


def definition(name: str = "dq", endpoint: str = "ep", **extra) -> dict:
    return {"JobDefinitionName": name,
            "DataQualityAppSpecification": {"ImageUri": IMAGE,
                                            "Environment": {"publish_cloudwatch_metrics": "Disabled"}},
            "DataQualityJobInput": {"EndpointInput": {"EndpointName": endpoint,
                                                      "LocalPath": "/opt/ml/processing/input/endpoint"}},
            "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": "s3://mon/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": "s3://mon/baseline/constraints.json"},
                                          "StatisticsResource": {"S3Uri": "s3://mon/baseline/statistics.json"}},
            "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 20}},
            "RoleArn": ROLE, **extra}


def schedule(services, name: str, expression: str | None, **schedule_config) -> None:
    config = {"MonitoringJobDefinitionName": "dq", "MonitoringType": "DataQuality"}
    if expression is not None:
        config["ScheduleConfig"] = {"ScheduleExpression": expression, **schedule_config}
    schedules.create(services, {"MonitoringScheduleName": name, "MonitoringScheduleConfig": config})


def test_hourly_schedule_fires_at_the_hour_and_once_for_hours_missed_while_down(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "hourly", "cron(0 * ? * * *)")
    r = services.meta.get(schedules.KIND, "hourly")
    assert r.status == "Pending"
    schedules.activate(services, r, ts("2026-12-07 07:10"))
    r = services.meta.get(schedules.KIND, "hourly")
    assert r.status == "Scheduled" and r.doc["_next_fire"] == ts("2026-12-07 08:00")
    assert schedules.fire_due(services, r, ts("2026-12-07 07:59")) is None  # not yet
    # the server was down from 07:59 to 11:30: one execution, for 11:00 (not one per missed hour)
    ex = schedules.fire_due(services, r, ts("2026-12-07 11:30"))
    assert ex is not None and ex.status == "Pending" and ex.doc["ScheduledTime"] == ts("2026-12-07 11:00")
    assert ex.doc["_window"] == [ts("2026-12-07 10:00"), ts("2026-12-07 11:00")]  # the hour before
    assert ex.doc["_processing_job"].startswith("model-monitoring-202612071100-")
    r = services.meta.get(schedules.KIND, "hourly")
    assert r.doc["_next_fire"] == ts("2026-12-07 12:00")
    assert schedules.fire_due(services, r, ts("2026-12-07 11:31")) is None
    # a second attempt at the same fire (a crash between recording and moving on) finds the first record
    again = executions.record(services, r, schedules.job_of(services, r), ts("2026-12-07 11:00"), 0, 1)
    assert again.name == ex.name and again.doc["_window"] == ex.doc["_window"]
    listed = executions.list_executions(services, {"MonitoringScheduleName": "hourly"})
    assert [e["ScheduledTime"] for e in listed["MonitoringExecutionSummaries"]] == [ts("2026-12-07 11:00")]


def test_now_schedule_fires_once_with_its_window(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "once", "NOW", DataAnalysisStartTime="-PT2H", DataAnalysisEndTime="-PT0H")
    r = services.meta.get(schedules.KIND, "once")
    schedules.activate(services, r, ts("2026-12-07 07:10"))
    r = services.meta.get(schedules.KIND, "once")
    ex = schedules.fire_due(services, r, ts("2026-12-07 07:10"))
    assert ex is not None and ex.doc["_window"] == [ts("2026-12-07 05:10"), ts("2026-12-07 07:10")]
    r = services.meta.get(schedules.KIND, "once")
    assert r.status == "Scheduled" and schedules.fire_due(services, r, ts("2026-12-08 07:10")) is None


def test_fire_now_setting_fires_an_hourly_schedule_at_once(services, monkeypatch):
    monkeypatch.setenv(schedules.FIRE_NOW_ENV, "1")
    definitions.create(services, "DataQuality", definition())
    schedule(services, "soon", "cron(0 * ? * * *)")
    schedules.activate(services, services.meta.get(schedules.KIND, "soon"), ts("2026-12-07 07:10"))
    ex = schedules.fire_due(services, services.meta.get(schedules.KIND, "soon"), ts("2026-12-07 07:10"))
    assert ex is not None and ex.doc["ScheduledTime"] == ts("2026-12-07 07:10")
    assert services.meta.get(schedules.KIND, "soon").doc["_next_fire"] == ts("2026-12-07 08:00")


def test_stopped_schedule_does_not_fire_and_start_schedules_it_again(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "s", "cron(0 * ? * * *)")
    schedules.activate(services, services.meta.get(schedules.KIND, "s"), ts("2026-12-07 07:10"))
    schedules.stop(services, "s")
    r = services.meta.get(schedules.KIND, "s")
    assert r.status == "Stopped" and schedules.fire_due(services, r, ts("2026-12-07 09:10")) is None
    schedules.start(services, "s")
    assert services.meta.get(schedules.KIND, "s").status == "Pending"


def _put_capture(services, hour: str, n: int = 2) -> None:
    key = f"capture/ep/AllTraffic/{hour}/00-00-000-x.jsonl"
    line = {"captureData": {"endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": "1,2",
                                              "encoding": "CSV"}},
            "eventMetadata": {"eventId": "e", "inferenceTime": "2026-12-07T06:00:00Z"}, "eventVersion": "0"}
    services.objects.put_object("mon", key, ("\n".join([json.dumps(line)] * n) + "\n").encode())


def test_an_execution_reads_only_its_window_and_asks_for_aws_contract(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "w", "cron(0 * ? * * *)")
    for hour in ("2026/12/07/04", "2026/12/07/06", "2026/12/07/07", "2026/12/07/08"):
        _put_capture(services, hour)
    r = services.meta.get(schedules.KIND, "w")
    job = schedules.job_of(services, r)
    folders = executions._capture_folders(services, job, ts("2026-12-07 06:00"), ts("2026-12-07 08:00"))
    assert folders == [("s3://mon/capture/ep/AllTraffic/2026/12/07/06", "ep/AllTraffic/2026/12/07/06"),
                       ("s3://mon/capture/ep/AllTraffic/2026/12/07/07", "ep/AllTraffic/2026/12/07/07")]
    window = contract.Window(ts("2026-12-07 08:00"), ts("2026-12-07 06:00"), ts("2026-12-07 08:00"))
    req = contract.processing_request(job, "w", window, folders, [], "model-monitoring-x")
    inputs = {i["InputName"]: i["S3Input"] for i in req["ProcessingInputs"]}
    assert inputs["endpoint_input_1"]["LocalPath"] == "/opt/ml/processing/input/endpoint/ep/AllTraffic/2026/12/07/06"
    assert inputs["endpoint_input_2"]["S3Uri"] == "s3://mon/capture/ep/AllTraffic/2026/12/07/07"
    assert inputs["baseline"] == {**inputs["baseline"], "S3Uri": "s3://mon/baseline/statistics.json",
                                  "LocalPath": "/opt/ml/processing/baseline/stats", "S3DataType": "S3Prefix"}
    assert inputs["constraints"]["LocalPath"] == "/opt/ml/processing/baseline/constraints"
    env = req["Environment"]
    assert env == {
        "dataset_format": '{"sagemakerCaptureJson":{"captureIndexNames":["endpointInput","endpointOutput"]}}',
        "dataset_source": "/opt/ml/processing/input/endpoint", "output_path": "/opt/ml/processing/output",
        "publish_cloudwatch_metrics": "Disabled",  # the definition's own Environment wins
        "sagemaker_endpoint_name": "ep", "sagemaker_monitoring_schedule_name": "w",
        "start_time": "2026-12-07T06:00:00Z", "end_time": "2026-12-07T08:00:00Z", "metric_time": "2026-12-07T06:00:00Z",
        "baseline_statistics": "/opt/ml/processing/baseline/stats/statistics.json",
        "baseline_constraints": "/opt/ml/processing/baseline/constraints/constraints.json"}
    (out,) = req["ProcessingOutputConfig"]["Outputs"]
    assert out["OutputName"] == "result" and out["S3Output"] == {
        "S3Uri": "s3://mon/reports/ep/w/2026/12/07/08", "LocalPath": "/opt/ml/processing/output",
        "S3UploadMode": "Continuous"}
    assert req["AppSpecification"] == {"ImageUri": IMAGE} and req["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}


def test_model_quality_adds_ground_truth_and_its_variables(services):
    services.objects.put_object("mon", "truth/2026/12/07/06/labels.jsonl", b"{}\n")
    definitions.create(services, "ModelQuality", {
        "JobDefinitionName": "mq",
        "ModelQualityAppSpecification": {"ImageUri": IMAGE, "ProblemType": "BinaryClassification"},
        "ModelQualityJobInput": {
            "EndpointInput": {"EndpointName": "ep", "LocalPath": "/opt/ml/processing/input/endpoint",
                              "InferenceAttribute": "0", "ProbabilityThresholdAttribute": 0.5,
                              "StartTimeOffset": "-PT2H", "EndTimeOffset": "-PT0H"},
            "GroundTruthS3Input": {"S3Uri": "s3://mon/truth"}},
        "ModelQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
            "S3Uri": "s3://mon/reports", "LocalPath": "/opt/ml/processing/output"}}]},
        "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large", "VolumeSizeInGB": 20}},
        "RoleArn": ROLE})
    schedules.create(services, {"MonitoringScheduleName": "mqs", "MonitoringScheduleConfig": {
        "MonitoringJobDefinitionName": "mq", "MonitoringType": "ModelQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}}})
    r = services.meta.get(schedules.KIND, "mqs")
    job = schedules.job_of(services, r)
    assert schedules.check_window(r.doc["MonitoringScheduleConfig"], job) == (-7200, 0)  # the input's offsets
    truth = executions._truth_folders(services, job, ts("2026-12-07 06:00"), ts("2026-12-07 08:00"))
    assert truth == ["s3://mon/truth/2026/12/07/06"]
    window = contract.Window(ts("2026-12-07 08:00"), ts("2026-12-07 06:00"), ts("2026-12-07 08:00"))
    name = contract.processing_job_name(job, r.arn, r.created, window.scheduled)
    assert name.startswith("model-quality-monitoring-202612070800-") and len(name) <= 63
    req = contract.processing_request(job, "mqs", window, [("s3://mon/capture/x", "ep/AllTraffic/2026/12/07/06")],
                                      truth, name)
    env = req["Environment"]
    assert env["analysis_type"] == "MODEL_QUALITY" and env["problem_type"] == "BinaryClassification"
    assert env["inference_attribute"] == "0" and env["probability_threshold_attribute"] == "0.5"
    assert env["ground_truth_source"] == "/opt/ml/processing/groundtruth"
    gt = next(i for i in req["ProcessingInputs"] if i["InputName"] == "groundtruth_input_1")["S3Input"]
    assert gt["LocalPath"] == "/opt/ml/processing/groundtruth/2026/12/07/06"


def test_an_execution_without_data_fails_with_aws_reason(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "empty", "NOW", DataAnalysisStartTime="-PT1H", DataAnalysisEndTime="-PT0H")
    r = services.meta.get(schedules.KIND, "empty")
    schedules.activate(services, r, ts("2026-12-07 07:10"))
    r = services.meta.get(schedules.KIND, "empty")
    ex = schedules.fire_due(services, r, ts("2026-12-07 07:10"))
    executions.start_processing(services, ex, schedules.job_of(services, r), r.name)
    ex = services.meta.get(executions.KIND, ex.name)
    assert ex.status == "Failed" and ex.doc["FailureReason"] == "Job inputs had no data"
    assert "ProcessingJobArn" not in executions.summary(ex)
    assert schedules.describe(services, "empty")["LastMonitoringExecutionSummary"]["MonitoringExecutionStatus"] == \
        "Failed"


def test_definition_checks(services):
    with pytest.raises(ValidationError, match="BatchTransformInput"):
        definitions.create(services, "DataQuality", definition(DataQualityJobInput={"BatchTransformInput": {
            "DataCapturedDestinationS3Uri": "s3://mon/x", "DatasetFormat": {"Csv": {}}, "LocalPath": "/opt/ml/x"}}))
    with pytest.raises(ValidationError, match="LocalPath"):
        definitions.create(services, "DataQuality", definition(DataQualityJobInput={"EndpointInput": {
            "EndpointName": "ep", "LocalPath": "/tmp/x"}}))
    definitions.create(services, "DataQuality", definition())
    with pytest.raises(ResourceInUse):
        definitions.create(services, "DataQuality", definition())
    # an endpoint that does not capture data cannot be monitored
    definitions.create(services, "DataQuality", definition("plain-dq", endpoint="plain"))
    with pytest.raises(ValidationError, match="does not capture data"):
        schedules.create(services, {"MonitoringScheduleName": "p", "MonitoringScheduleConfig": {
            "MonitoringJobDefinitionName": "plain-dq", "MonitoringType": "DataQuality"}})


def test_list_executions_sorts_filters_and_pages(services):
    definitions.create(services, "DataQuality", definition())
    schedule(services, "pages", "cron(0 * ? * * *)")
    schedules.activate(services, services.meta.get(schedules.KIND, "pages"), ts("2026-12-07 04:10"))
    for now in ("2026-12-07 05:01", "2026-12-07 06:01", "2026-12-07 07:01"):
        assert schedules.fire_due(services, services.meta.get(schedules.KIND, "pages"), ts(now)) is not None
    hours = [ts(f"2026-12-07 0{h}:00") for h in (5, 6, 7)]

    def scheduled(**params):
        got = executions.list_executions(services, {"MonitoringScheduleName": "pages", **params})
        return [e["ScheduledTime"] for e in got["MonitoringExecutionSummaries"]], got.get("NextToken")

    assert scheduled() == (hours[::-1], None)  # ScheduledTime, descending, by default
    assert scheduled(SortOrder="Ascending")[0] == hours
    first, token = scheduled(MaxResults=2, SortOrder="Ascending")
    assert first == hours[:2] and token
    assert scheduled(MaxResults=2, SortOrder="Ascending", NextToken=token) == (hours[2:], None)
    assert scheduled(ScheduledTimeAfter=hours[0], ScheduledTimeBefore=hours[2])[0] == [hours[1]]
    assert scheduled(StatusEquals="Pending")[0] == hours[::-1] and scheduled(StatusEquals="Failed")[0] == []
    assert scheduled(EndpointName="other")[0] == []
    with pytest.raises(ValidationError, match="NextToken"):
        scheduled(NextToken="bogus")
    last = schedules.describe(services, "pages")["LastMonitoringExecutionSummary"]
    assert last["ScheduledTime"] == hours[2]
    schedules.delete(services, "pages")  # its execution records go with it
    assert executions.list_executions(services, {})["MonitoringExecutionSummaries"] == []
