"""SageMaker Pipelines on the wire: pipelines, their versions, executions, steps and callback answers.

Thin adapters over :mod:`shipyard.resources.pipeline` (validation, stored documents, the step listing);
:class:`shipyard.controllers.pipeline.PipelineController` runs the executions.
"""

from __future__ import annotations

from ..context import Services
from ..resources import pipeline
from .registry import operation


@operation("sagemaker", "CreatePipeline")
def create_pipeline(services: Services, req: dict) -> dict:
    return pipeline.create(services, req)


@operation("sagemaker", "UpdatePipeline")
def update_pipeline(services: Services, req: dict) -> dict:
    return pipeline.update(services, req)


@operation("sagemaker", "DescribePipeline")
def describe_pipeline(services: Services, req: dict) -> dict:
    return pipeline.describe(services, req)


@operation("sagemaker", "ListPipelines")
def list_pipelines(services: Services, req: dict) -> dict:
    return pipeline.list_pipelines(services, req)


@operation("sagemaker", "DeletePipeline")
def delete_pipeline(services: Services, req: dict) -> dict:
    return pipeline.delete(services, req)


@operation("sagemaker", "ListPipelineVersions")
def list_pipeline_versions(services: Services, req: dict) -> dict:
    return pipeline.list_versions(services, req)


@operation("sagemaker", "StartPipelineExecution")
def start_pipeline_execution(services: Services, req: dict) -> dict:
    return pipeline.start(services, req)


@operation("sagemaker", "DescribePipelineExecution")
def describe_pipeline_execution(services: Services, req: dict) -> dict:
    return pipeline.describe_execution(services, req.get("PipelineExecutionArn", ""))


@operation("sagemaker", "ListPipelineExecutions")
def list_pipeline_executions(services: Services, req: dict) -> dict:
    return pipeline.list_executions(services, req)


@operation("sagemaker", "StopPipelineExecution")
def stop_pipeline_execution(services: Services, req: dict) -> dict:
    return pipeline.stop_execution(services, req.get("PipelineExecutionArn", ""))


@operation("sagemaker", "RetryPipelineExecution")
def retry_pipeline_execution(services: Services, req: dict) -> dict:
    return pipeline.retry_execution(services, req)


@operation("sagemaker", "ListPipelineExecutionSteps")
def list_pipeline_execution_steps(services: Services, req: dict) -> dict:
    return pipeline.list_steps(services, req)


@operation("sagemaker", "ListPipelineParametersForExecution")
def list_pipeline_parameters_for_execution(services: Services, req: dict) -> dict:
    return pipeline.list_parameters(services, req)


@operation("sagemaker", "DescribePipelineDefinitionForExecution")
def describe_pipeline_definition_for_execution(services: Services, req: dict) -> dict:
    return pipeline.definition_for_execution(services, req.get("PipelineExecutionArn", ""))


@operation("sagemaker", "SendPipelineExecutionStepSuccess")
def send_pipeline_execution_step_success(services: Services, req: dict) -> dict:
    return pipeline.send_step_result(services, req, success=True)


@operation("sagemaker", "SendPipelineExecutionStepFailure")
def send_pipeline_execution_step_failure(services: Services, req: dict) -> dict:
    return pipeline.send_step_result(services, req, success=False)
