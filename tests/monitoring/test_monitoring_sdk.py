"""The SageMaker Python SDK's ``DefaultModelMonitor``, unmodified, against a real server: a one-time (``NOW``)
schedule on an endpoint that captures data, ``describe_schedule()``, ``list_executions()`` (which reads each
execution's processing job) and the execution's violations, read back through the SDK."""

from __future__ import annotations

import pytest
from monitoring_helpers import BUCKET, ENDPOINT, ROLE, wait_until

from shipyard.testing.sdk import sdk_environment, sdk_session

pytestmark = [pytest.mark.integration]

REGION = "us-east-1"


@pytest.fixture(scope="module")
def session(mon_server, tmp_path_factory):
    with sdk_environment(mon_server, tmp_path_factory.mktemp("sagemaker-config"), bucket=BUCKET, region=REGION):
        yield sdk_session(REGION, BUCKET)


def test_default_model_monitor_schedule_executions_and_describe(mon_server, baseline, session):
    from sagemaker.model_monitor import CronExpressionGenerator, DefaultModelMonitor

    monitor = DefaultModelMonitor(role=ROLE, instance_count=1, instance_type="ml.m5.large", volume_size_in_gb=20,
                                  max_runtime_in_seconds=1800, sagemaker_session=session)
    assert monitor.image_uri.endswith("/sagemaker-model-monitor-analyzer")
    monitor.create_monitoring_schedule(
        monitor_schedule_name="sdk-now", endpoint_input=ENDPOINT,
        output_s3_uri=f"s3://{BUCKET}/sdk-reports", statistics=baseline["statistics"],
        constraints=baseline["constraints"], schedule_cron_expression=CronExpressionGenerator.now(),
        data_analysis_start_time="-PT1H", data_analysis_end_time="-PT0H", enable_cloudwatch_metrics=False)

    desc = monitor.describe_schedule()
    assert desc["MonitoringScheduleName"] == "sdk-now" and desc["MonitoringType"] == "DataQuality"
    assert desc["EndpointName"] == ENDPOINT
    assert desc["MonitoringScheduleConfig"]["ScheduleConfig"]["ScheduleExpression"] == "NOW"
    definition = session.sagemaker_client.describe_data_quality_job_definition(
        JobDefinitionName=desc["MonitoringScheduleConfig"]["MonitoringJobDefinitionName"])
    assert definition["DataQualityAppSpecification"]["Environment"]["publish_cloudwatch_metrics"] == "Disabled"

    executions = wait_until(lambda: monitor.list_executions(), 30, "an execution with its processing job")
    (execution,) = executions
    job = execution.describe()
    assert job["Environment"]["sagemaker_monitoring_schedule_name"] == "sdk-now"
    assert job["Environment"]["publish_cloudwatch_metrics"] == "Disabled"
    assert execution.output.destination.startswith(f"s3://{BUCKET}/sdk-reports/")
    assert {i.input_name for i in execution.inputs} >= {"endpoint_input_1", "baseline", "constraints"}

    def finished():
        last = monitor.describe_schedule().get("LastMonitoringExecutionSummary") or {}
        return last if last.get("MonitoringExecutionStatus") not in (None, "Pending", "InProgress") else None

    last = wait_until(finished, 120, "the execution to finish")
    assert last["MonitoringExecutionStatus"] in ("Completed", "CompletedWithViolations"), last
    if last["MonitoringExecutionStatus"] == "CompletedWithViolations":
        violations = monitor.latest_monitoring_constraint_violations()
        assert violations is not None and violations.body_dict["violations"]

    monitor.delete_monitoring_schedule()  # the schedule, then its job definition (the SDK deletes both)
    assert session.sagemaker_client.list_data_quality_job_definitions(
        NameContains=definition["JobDefinitionName"])["JobDefinitionSummaries"] == []
