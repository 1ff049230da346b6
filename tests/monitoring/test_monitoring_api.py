"""Model Monitor's API through boto3 against a real server: job definitions, schedules, executions (a NOW
schedule runs a processing job on the analyzer image over the endpoint's captured data), a restart."""

from __future__ import annotations

import json
import time

import pytest
from botocore.exceptions import ClientError
from monitoring_helpers import (ANALYZER, BUCKET, ENDPOINT, ROLE, data_quality_definition, model_quality_definition,
                                wait_until)

pytestmark = [pytest.mark.integration]


def error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as e:
        call(**kwargs)
    return e.value.response["Error"]["Code"], e.value.response["Error"]["Message"]


def test_job_definitions_crud(mon_server, baseline):
    sm = mon_server.client("sagemaker")
    arn = sm.create_data_quality_job_definition(**data_quality_definition("dq-crud", baseline=baseline))[
        "JobDefinitionArn"]
    assert arn.endswith(":data-quality-job-definition/dq-crud")
    d = sm.describe_data_quality_job_definition(JobDefinitionName="dq-crud")
    assert d["JobDefinitionArn"] == arn and d["DataQualityAppSpecification"]["ImageUri"] == ANALYZER
    assert d["DataQualityJobInput"]["EndpointInput"]["S3InputMode"] == "File"  # AWS's defaults filled in
    assert d["DataQualityBaselineConfig"]["StatisticsResource"]["S3Uri"] == baseline["statistics"]
    assert d["StoppingCondition"] == {"MaxRuntimeInSeconds": 3600}
    assert error(sm.create_data_quality_job_definition, **data_quality_definition("dq-crud"))[0] == "ResourceInUse"
    sm.create_data_quality_job_definition(**data_quality_definition("dq-crud-2"))
    sm.create_model_quality_job_definition(**model_quality_definition("mq-crud"))
    mq = sm.describe_model_quality_job_definition(JobDefinitionName="mq-crud")
    assert mq["ModelQualityAppSpecification"]["ProblemType"] == "Regression"

    listed = sm.list_data_quality_job_definitions(NameContains="dq-crud", SortBy="Name", SortOrder="Ascending")
    assert [s["MonitoringJobDefinitionName"] for s in listed["JobDefinitionSummaries"]] == ["dq-crud", "dq-crud-2"]
    assert listed["JobDefinitionSummaries"][0]["EndpointName"] == ENDPOINT
    page = sm.list_data_quality_job_definitions(NameContains="dq-crud", MaxResults=1)
    rest = sm.list_data_quality_job_definitions(NameContains="dq-crud", MaxResults=1, NextToken=page["NextToken"])
    assert len(page["JobDefinitionSummaries"]) == len(rest["JobDefinitionSummaries"]) == 1
    assert sm.list_data_quality_job_definitions(EndpointName="other")["JobDefinitionSummaries"] == []
    assert [s["MonitoringJobDefinitionName"] for s in
            sm.list_model_quality_job_definitions()["JobDefinitionSummaries"]] == ["mq-crud"]

    code, message = error(sm.create_model_quality_job_definition,
                          **{**model_quality_definition("mq-bad"), "ModelQualityAppSpecification": {
                              "ImageUri": ANALYZER}})
    assert code == "ValidationException" and "ProblemType" in message
    for name in ("dq-crud", "dq-crud-2"):
        sm.delete_data_quality_job_definition(JobDefinitionName=name)
    sm.delete_model_quality_job_definition(JobDefinitionName="mq-crud")
    assert error(sm.describe_data_quality_job_definition, JobDefinitionName="dq-crud")[0] == "ResourceNotFound"


def test_schedule_crud_stop_start_update_and_in_use_definition(mon_server, baseline):
    sm = mon_server.client("sagemaker")
    sm.create_data_quality_job_definition(**data_quality_definition("dq-sched", baseline=baseline))
    hour = time.gmtime().tm_hour
    arn = sm.create_monitoring_schedule(MonitoringScheduleName="hourly", MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"},
        "MonitoringJobDefinitionName": "dq-sched", "MonitoringType": "DataQuality"},
        Tags=[{"Key": "team", "Value": "ml"}])["MonitoringScheduleArn"]
    assert arn.endswith(":monitoring-schedule/hourly")
    d = wait_until(lambda: (d := sm.describe_monitoring_schedule(MonitoringScheduleName="hourly"))[
        "MonitoringScheduleStatus"] == "Scheduled" and d, 10, "the schedule Scheduled")
    assert d["MonitoringType"] == "DataQuality" and d["EndpointName"] == ENDPOINT
    assert d["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 * ? * * *)"
    if time.gmtime().tm_hour == hour:  # the next hour has not come: nothing has run
        assert "LastMonitoringExecutionSummary" not in d
    assert sm.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]

    code, message = error(sm.delete_data_quality_job_definition, JobDefinitionName="dq-sched")
    assert code == "ResourceInUse" and "hourly" in message

    for filters in ({"EndpointName": ENDPOINT}, {"MonitoringJobDefinitionName": "dq-sched"},
                    {"MonitoringTypeEquals": "DataQuality"}, {"StatusEquals": "Scheduled"}, {"NameContains": "hour"}):
        got = sm.list_monitoring_schedules(**filters)["MonitoringScheduleSummaries"]
        assert "hourly" in [s["MonitoringScheduleName"] for s in got], filters
    (s,) = [s for s in sm.list_monitoring_schedules()["MonitoringScheduleSummaries"]
            if s["MonitoringScheduleName"] == "hourly"]
    assert s["MonitoringJobDefinitionName"] == "dq-sched" and s["MonitoringScheduleArn"] == arn
    for filters in ({"EndpointName": "other"}, {"MonitoringTypeEquals": "ModelQuality"}, {"StatusEquals": "Stopped"}):
        got = sm.list_monitoring_schedules(**filters)["MonitoringScheduleSummaries"]
        assert "hourly" not in [s["MonitoringScheduleName"] for s in got], filters

    sm.stop_monitoring_schedule(MonitoringScheduleName="hourly")
    assert sm.describe_monitoring_schedule(MonitoringScheduleName="hourly")["MonitoringScheduleStatus"] == "Stopped"
    sm.start_monitoring_schedule(MonitoringScheduleName="hourly")
    wait_until(lambda: sm.describe_monitoring_schedule(MonitoringScheduleName="hourly")[
        "MonitoringScheduleStatus"] == "Scheduled", 10, "the schedule Scheduled again")
    sm.update_monitoring_schedule(MonitoringScheduleName="hourly", MonitoringScheduleConfig={
        "ScheduleConfig": {"ScheduleExpression": "cron(0 6/12 ? * * *)"},
        "MonitoringJobDefinitionName": "dq-sched", "MonitoringType": "DataQuality"})
    d = wait_until(lambda: (d := sm.describe_monitoring_schedule(MonitoringScheduleName="hourly"))[
        "MonitoringScheduleStatus"] == "Scheduled" and d, 10, "the updated schedule Scheduled")
    assert d["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "cron(0 6/12 ? * * *)"

    sm.delete_monitoring_schedule(MonitoringScheduleName="hourly")
    assert error(sm.describe_monitoring_schedule, MonitoringScheduleName="hourly")[0] == "ResourceNotFound"
    sm.delete_data_quality_job_definition(JobDefinitionName="dq-sched")  # no longer in use


def test_bad_schedules_are_refused_naming_the_field(mon_server, baseline):
    sm = mon_server.client("sagemaker")
    sm.create_data_quality_job_definition(**data_quality_definition("dq-bad", baseline=baseline))
    named = {"MonitoringJobDefinitionName": "dq-bad", "MonitoringType": "DataQuality"}
    for expr in ("cron(0 * * * *)", "cron(30 * ? * * *)", "cron(0 10 ? * MON-FRI *)", "every hour"):
        code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="bad-cron",
                              MonitoringScheduleConfig={**named, "ScheduleConfig": {"ScheduleExpression": expr}})
        assert code == "ValidationException" and "ScheduleConfig.ScheduleExpression" in message, (expr, message)
        assert "cron(0 * ? * * *)" in message
    code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="bad-now",
                          MonitoringScheduleConfig={**named, "ScheduleConfig": {"ScheduleExpression": "NOW"}})
    assert code == "ValidationException" and "DataAnalysisStartTime" in message
    code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="bad-window",
                          MonitoringScheduleConfig={**named, "ScheduleConfig": {
                              "ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                              "DataAnalysisEndTime": "yesterday"}})
    assert code == "ValidationException" and "DataAnalysisEndTime" in message

    sm.create_data_quality_job_definition(**data_quality_definition("dq-nowhere", endpoint="no-such-endpoint"))
    code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="nowhere", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-nowhere", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})
    assert code == "ValidationException" and "EndpointInput.EndpointName" in message and "no-such-endpoint" in message
    inline = {"MonitoringInputs": [{"EndpointInput": {"EndpointName": "no-such-endpoint",
                                                      "LocalPath": "/opt/ml/processing/input/endpoint"}}],
              "MonitoringOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                  "S3Uri": f"s3://{BUCKET}/x", "LocalPath": "/opt/ml/processing/output"}}]},
              "MonitoringResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                        "VolumeSizeInGB": 20}},
              "MonitoringAppSpecification": {"ImageUri": ANALYZER}, "RoleArn": ROLE}
    code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="nowhere",
                          MonitoringScheduleConfig={"MonitoringJobDefinition": inline})
    assert code == "ValidationException" and \
        "MonitoringJobDefinition.MonitoringInputs[0].EndpointInput.EndpointName" in message
    code, message = error(sm.create_monitoring_schedule, MonitoringScheduleName="missing-def",
                          MonitoringScheduleConfig={"MonitoringJobDefinitionName": "no-such-definition",
                                                    "MonitoringType": "DataQuality"})
    assert code == "ValidationException" and "MonitoringJobDefinitionName" in message
    assert error(sm.describe_monitoring_schedule, MonitoringScheduleName="bad-cron")[0] == "ResourceNotFound"
    assert error(sm.stop_monitoring_schedule, MonitoringScheduleName="bad-cron")[0] == "ResourceNotFound"


def _executions(sm, **kw) -> list[dict]:
    return sm.list_monitoring_executions(**kw)["MonitoringExecutionSummaries"]


def test_now_schedule_runs_a_processing_job_over_the_captured_data(mon_server, baseline):
    sm = mon_server.client("sagemaker")
    sm.create_data_quality_job_definition(**data_quality_definition("dq-now", baseline=baseline))
    schedule_arn = sm.create_monitoring_schedule(MonitoringScheduleName="now", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-now", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}})["MonitoringScheduleArn"]
    (ex,) = wait_until(lambda: [e for e in _executions(sm, MonitoringScheduleName="now")
                                if e.get("ProcessingJobArn") or e["MonitoringExecutionStatus"] == "Failed"],
                       20, "the execution's processing job")
    assert ex.get("FailureReason") != "Job inputs had no data", ex
    assert ex["MonitoringJobDefinitionName"] == "dq-now" and ex["EndpointName"] == ENDPOINT
    assert ex["MonitoringType"] == "DataQuality"
    job_name = ex["ProcessingJobArn"].split("/")[-1]
    assert job_name.startswith("model-monitoring-")
    job = sm.describe_processing_job(ProcessingJobName=job_name)
    assert job["MonitoringScheduleArn"] == schedule_arn
    assert job["AppSpecification"]["ImageUri"] == ANALYZER
    inputs = {i["InputName"]: i["S3Input"] for i in job["ProcessingInputs"]}
    capture = [v for k, v in inputs.items() if k.startswith("endpoint_input_")]
    assert capture and all(v["S3Uri"].startswith(f"s3://{BUCKET}/capture/{ENDPOINT}/AllTraffic/") for v in capture)
    assert all(v["LocalPath"] == "/opt/ml/processing/input/endpoint/" + v["S3Uri"].split("/capture/", 1)[1]
               for v in capture)
    assert inputs["baseline"]["LocalPath"] == "/opt/ml/processing/baseline/stats"
    assert inputs["constraints"]["S3Uri"] == baseline["constraints"]
    env = job["Environment"]
    assert env["dataset_source"] == "/opt/ml/processing/input/endpoint"
    assert env["output_path"] == "/opt/ml/processing/output"
    assert env["sagemaker_endpoint_name"] == ENDPOINT and env["sagemaker_monitoring_schedule_name"] == "now"
    assert env["baseline_constraints"] == "/opt/ml/processing/baseline/constraints/constraints.json"
    assert env["start_time"].endswith("Z") and env["start_time"] < env["end_time"]
    (out,) = job["ProcessingOutputConfig"]["Outputs"]
    assert out["S3Output"]["S3Uri"].startswith(f"s3://{BUCKET}/reports/{ENDPOINT}/now/")

    # the execution follows its processing job to the end
    def finished():
        (e,) = _executions(sm, MonitoringScheduleName="now")
        return e if e["MonitoringExecutionStatus"] not in ("Pending", "InProgress", "Stopping") else None

    done = wait_until(finished, 120, "the execution to finish")
    job = sm.describe_processing_job(ProcessingJobName=job_name)
    expected = {"Completed": "Completed", "Failed": "Failed", "Stopped": "Stopped"}[job["ProcessingJobStatus"]]
    if expected == "Completed" and job.get("ExitMessage", "").startswith("CompletedWithViolations"):
        expected = "CompletedWithViolations"
    assert done["MonitoringExecutionStatus"] == expected
    assert done["MonitoringExecutionStatus"] in ("Completed", "CompletedWithViolations"), job.get("FailureReason")

    last = sm.describe_monitoring_schedule(MonitoringScheduleName="now")["LastMonitoringExecutionSummary"]
    assert last["ProcessingJobArn"] == ex["ProcessingJobArn"]
    assert last["MonitoringExecutionStatus"] == done["MonitoringExecutionStatus"]
    # a NOW schedule runs once
    assert len(_executions(sm, MonitoringScheduleName="now")) == 1
    # ListMonitoringExecutions' filters
    scheduled = done["ScheduledTime"]
    assert _executions(sm, EndpointName=ENDPOINT, MonitoringScheduleName="now")
    assert _executions(sm, MonitoringScheduleName="now", StatusEquals=done["MonitoringExecutionStatus"])
    assert not _executions(sm, MonitoringScheduleName="now", StatusEquals="Stopped")
    assert _executions(sm, MonitoringScheduleName="now", ScheduledTimeBefore=scheduled.timestamp() + 1)
    assert not _executions(sm, MonitoringScheduleName="now", ScheduledTimeAfter=scheduled.timestamp() + 1)
    assert not _executions(sm, EndpointName="other")
    assert _executions(sm, MonitoringTypeEquals="DataQuality", SortBy="CreationTime", SortOrder="Ascending")
    assert not _executions(sm, MonitoringTypeEquals="ModelQuality")


def _ground_truth(s3) -> int:
    """Labels for every captured request (matched by eventId, as AWS's ground-truth records are), uploaded under
    this hour's folder of s3://BUCKET/ground-truth; returns how many."""

    records = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix=f"capture/{ENDPOINT}/"):
        for obj in page.get("Contents", []):
            for line in s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read().decode().splitlines():
                rec = json.loads(line)
                x0 = float(rec["captureData"]["endpointInput"]["data"].split(",")[0])
                records.append({"groundTruthData": {"data": f"{2 * x0:.4f}", "encoding": "CSV"},
                                "eventMetadata": {"eventId": rec["eventMetadata"]["eventId"]}, "eventVersion": "0"})
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    s3.put_object(Bucket=BUCKET, Key=f"ground-truth/{hour}/labels.jsonl",
                  Body="\n".join(json.dumps(r) for r in records).encode() + b"\n")
    return len(records)


def test_model_quality_schedule_merges_ground_truth(mon_server):
    sm, s3 = mon_server.client("sagemaker"), mon_server.client("s3")
    labelled = _ground_truth(s3)
    assert labelled > 0
    sm.create_model_quality_job_definition(**model_quality_definition("mq-now"))
    sm.create_monitoring_schedule(MonitoringScheduleName="mq-now", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "mq-now", "MonitoringType": "ModelQuality",
        "ScheduleConfig": {"ScheduleExpression": "NOW", "DataAnalysisStartTime": "-PT1H",
                           "DataAnalysisEndTime": "-PT0H"}})
    (ex,) = wait_until(lambda: [e for e in _executions(sm, MonitoringScheduleName="mq-now")
                                if e.get("ProcessingJobArn") or e["MonitoringExecutionStatus"] == "Failed"],
                       20, "the execution's processing job")
    assert ex["MonitoringType"] == "ModelQuality" and ex.get("ProcessingJobArn"), ex
    job_name = ex["ProcessingJobArn"].split("/")[-1]
    assert job_name.startswith("model-quality-monitoring-")
    job = sm.describe_processing_job(ProcessingJobName=job_name)
    env = job["Environment"]
    assert env["analysis_type"] == "MODEL_QUALITY" and env["problem_type"] == "Regression"
    assert env["inference_attribute"] == "0" and env["ground_truth_source"] == "/opt/ml/processing/groundtruth"
    truth = [i["S3Input"] for i in job["ProcessingInputs"] if i["InputName"].startswith("groundtruth_input_")]
    assert truth and all(t["LocalPath"] == "/opt/ml/processing/groundtruth/" + t["S3Uri"].split("/ground-truth/")[1]
                         for t in truth)

    def finished():
        (e,) = _executions(sm, MonitoringScheduleName="mq-now")
        return e if e["MonitoringExecutionStatus"] not in ("Pending", "InProgress", "Stopping") else None

    done = wait_until(finished, 120, "the model quality execution to finish")
    job = sm.describe_processing_job(ProcessingJobName=job_name)
    assert done["MonitoringExecutionStatus"] in ("Completed", "CompletedWithViolations"), job.get("FailureReason")
    out = job["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    key = out.split(f"s3://{BUCKET}/", 1)[1] + "/statistics.json"
    stats = json.loads(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    assert stats["dataset"]["item_count"] == labelled  # every captured prediction found its label
    assert stats["regression_metrics"]["r2"]["value"] > 0.9  # the model predicts 2 * x0; the labels are that


def test_a_schedule_survives_a_server_restart(mon_server, baseline):
    sm = mon_server.client("sagemaker")
    sm.create_data_quality_job_definition(**data_quality_definition("dq-restart", baseline=baseline))
    sm.create_monitoring_schedule(MonitoringScheduleName="daily", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-restart", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 12 ? * * *)"}})
    before = wait_until(lambda: (d := sm.describe_monitoring_schedule(MonitoringScheduleName="daily"))[
        "MonitoringScheduleStatus"] == "Scheduled" and d, 10, "the schedule Scheduled")
    executions_before = _executions(sm, MaxResults=100)
    mon_server.stop()
    mon_server.start()
    sm = mon_server.client("sagemaker")
    after = sm.describe_monitoring_schedule(MonitoringScheduleName="daily")
    assert after["MonitoringScheduleStatus"] == "Scheduled"
    assert after["MonitoringScheduleConfig"] == before["MonitoringScheduleConfig"]
    assert after["CreationTime"] == before["CreationTime"]
    assert _executions(sm, MaxResults=100) == executions_before  # nothing lost, nothing fired again
    assert sm.describe_data_quality_job_definition(JobDefinitionName="dq-restart")["JobDefinitionName"] == "dq-restart"
