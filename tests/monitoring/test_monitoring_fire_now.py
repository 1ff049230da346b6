"""``SHIPYARD_MONITOR_FIRE_NOW=1``: an hourly schedule's first execution runs when the schedule is taken up, not
at the next hour (what lets a test watch a cron schedule fire); later ones follow the cron expression."""

from __future__ import annotations

import time

import pytest
from monitoring_helpers import ENDPOINT, data_quality_definition, deploy_capturing_endpoint, wait_until

pytestmark = [pytest.mark.integration]


def test_an_hourly_schedule_fires_at_once_then_waits_for_the_hour(server_factory):
    server = server_factory(env={"SHIPYARD_MONITOR_FIRE_NOW": "1", "SHIPYARD_PROCESSING_CONTINUOUS_INTERVAL": "0.3"})
    deploy_capturing_endpoint(server)
    sm = server.client("sagemaker")
    sm.create_data_quality_job_definition(**data_quality_definition("dq-hourly"))
    before = time.time()
    sm.create_monitoring_schedule(MonitoringScheduleName="hourly-now", MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": "dq-hourly", "MonitoringType": "DataQuality",
        "ScheduleConfig": {"ScheduleExpression": "cron(0 * ? * * *)"}})
    (ex,) = wait_until(lambda: sm.list_monitoring_executions(MonitoringScheduleName="hourly-now")[
        "MonitoringExecutionSummaries"], 20, "the first execution")
    assert before - 1 <= ex["ScheduledTime"].timestamp() <= time.time()
    assert ex["EndpointName"] == ENDPOINT
    wait_until(lambda: sm.list_monitoring_executions(MonitoringScheduleName="hourly-now")[
        "MonitoringExecutionSummaries"][0]["MonitoringExecutionStatus"] not in ("Pending", "InProgress"), 120,
        "the first execution to finish")
    d = sm.describe_monitoring_schedule(MonitoringScheduleName="hourly-now")
    assert d["MonitoringScheduleStatus"] == "Scheduled"
    if time.gmtime(before).tm_hour == time.gmtime().tm_hour:  # the next hour has not come: still one execution
        assert len(sm.list_monitoring_executions(MonitoringScheduleName="hourly-now")[
            "MonitoringExecutionSummaries"]) == 1
