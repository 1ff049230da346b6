"""Model Monitor's operations on the wire: job definitions (data and model quality), monitoring schedules and
their executions.

Thin adapters over :mod:`shipyard.resources.monitoring_job_definition`, :mod:`shipyard.resources.
monitoring_schedule` and :mod:`shipyard.resources.monitoring_execution`; the monitoring controller
(:mod:`shipyard.controllers.monitoring`) fires the schedules. Tags need nothing here: :mod:`.tags` finds a
schedule or a definition by its ARN (``monitoring-schedule/...``, ``data-quality-job-definition/...``).
"""

from __future__ import annotations

from ..context import Services
from ..resources import monitoring_execution as executions
from ..resources import monitoring_job_definition as definitions
from ..resources import monitoring_schedule as schedules
from ..resources.monitoring_job_definition import DATA_QUALITY, MODEL_QUALITY
from .registry import operation


# ------------------------------------------------------------------ job definitions
@operation("sagemaker", "CreateDataQualityJobDefinition")
def create_data_quality(services: Services, params: dict) -> dict:
    return definitions.create(services, DATA_QUALITY, params)


@operation("sagemaker", "DescribeDataQualityJobDefinition")
def describe_data_quality(services: Services, params: dict) -> dict:
    return definitions.describe(definitions.get(services, DATA_QUALITY, params["JobDefinitionName"]))


@operation("sagemaker", "ListDataQualityJobDefinitions")
def list_data_quality(services: Services, params: dict) -> dict:
    return definitions.list_definitions(services, DATA_QUALITY, params)


@operation("sagemaker", "DeleteDataQualityJobDefinition")
def delete_data_quality(services: Services, params: dict) -> dict:
    definitions.delete(services, DATA_QUALITY, params["JobDefinitionName"])
    return {}


@operation("sagemaker", "CreateModelQualityJobDefinition")
def create_model_quality(services: Services, params: dict) -> dict:
    return definitions.create(services, MODEL_QUALITY, params)


@operation("sagemaker", "DescribeModelQualityJobDefinition")
def describe_model_quality(services: Services, params: dict) -> dict:
    return definitions.describe(definitions.get(services, MODEL_QUALITY, params["JobDefinitionName"]))


@operation("sagemaker", "ListModelQualityJobDefinitions")
def list_model_quality(services: Services, params: dict) -> dict:
    return definitions.list_definitions(services, MODEL_QUALITY, params)


@operation("sagemaker", "DeleteModelQualityJobDefinition")
def delete_model_quality(services: Services, params: dict) -> dict:
    definitions.delete(services, MODEL_QUALITY, params["JobDefinitionName"])
    return {}


# ------------------------------------------------------------------ schedules
@operation("sagemaker", "CreateMonitoringSchedule")
def create_schedule(services: Services, params: dict) -> dict:
    return schedules.create(services, params)


@operation("sagemaker", "DescribeMonitoringSchedule")
def describe_schedule(services: Services, params: dict) -> dict:
    return schedules.describe(services, params["MonitoringScheduleName"])


@operation("sagemaker", "ListMonitoringSchedules")
def list_schedules(services: Services, params: dict) -> dict:
    return schedules.list_schedules(services, params)


@operation("sagemaker", "UpdateMonitoringSchedule")
def update_schedule(services: Services, params: dict) -> dict:
    return schedules.update(services, params)


@operation("sagemaker", "StartMonitoringSchedule")
def start_schedule(services: Services, params: dict) -> dict:
    schedules.start(services, params["MonitoringScheduleName"])
    return {}


@operation("sagemaker", "StopMonitoringSchedule")
def stop_schedule(services: Services, params: dict) -> dict:
    schedules.stop(services, params["MonitoringScheduleName"])
    return {}


@operation("sagemaker", "DeleteMonitoringSchedule")
def delete_schedule(services: Services, params: dict) -> dict:
    schedules.delete(services, params["MonitoringScheduleName"])
    return {}


@operation("sagemaker", "ListMonitoringExecutions")
def list_executions(services: Services, params: dict) -> dict:
    return executions.list_executions(services, params)
