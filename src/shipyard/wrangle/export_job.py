"""Exports that run a flow on a server: a CreateProcessingJob request on Data Wrangler's image (the request
AWS's exported "Save to S3 with a SageMaker Processing Job" notebook sends) and a SageMaker pipeline
``Processing`` step with the same arguments.

The flow is an input named ``flow`` at ``/opt/ml/processing/flow``; each S3 source is an input named after its
dataset at ``/opt/ml/processing/<name>``; each saved node is an output ``<node_id>.<output_name>`` under
``output_s3_uri``."""

from __future__ import annotations

import json
import re
from typing import Any

from ..errors import ValidationError
from .flow import Flow
from .image import image_uri

FLOW_PATH = "/opt/ml/processing/flow"


def _input_name(name: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", name) or "data"
    out, i = base, 1
    while out in taken or out == "flow":
        i += 1
        out = f"{base}-{i}"
    taken.add(out)
    return out


def processing_job_request(flow: Flow, *, job_name: str, role: str, flow_s3_uri: str, output_s3_uri: str,
                           outputs: list[tuple[str, str]] | None = None, instance_type: str = "ml.m5.4xlarge",
                           instance_count: int = 1, region: str = "us-east-1", content_type: str = "CSV",
                           image: str | None = None, max_runtime: int = 86400) -> dict[str, Any]:
    """The CreateProcessingJob request (boto3's keyword arguments)."""
    targets = outputs or flow.outputs_of()
    for node_id, output in targets:
        node = flow.nodes.get(node_id)
        if node is None or node.is_analysis or output not in node.outputs:
            raise ValidationError(f"Output {node_id}.{output} is not a data output of the flow.")
    inputs = [{"InputName": "flow", "S3Input": {"S3Uri": flow_s3_uri, "LocalPath": FLOW_PATH,
                                                "S3DataType": "S3Prefix", "S3InputMode": "File",
                                                "S3DataDistributionType": "FullyReplicated"}}]
    taken: set[str] = set()
    for node in flow.nodes.values():
        definition = node.parameters.get("dataset_definition") or {}
        uri = (definition.get("s3ExecutionContext") or {}).get("s3Uri") or ""
        if node.type != "SOURCE":
            continue
        if not uri.startswith("s3://"):
            raise ValidationError(f"Source node {node.node_id!r} reads {uri!r}, not an s3:// URI: a processing job "
                                  "reads its data from S3; upload it and point the source at it.")
        name = _input_name(definition.get("name") or node.node_id, taken)
        inputs.append({"InputName": name, "S3Input": {"S3Uri": uri, "LocalPath": f"/opt/ml/processing/{name}",
                                                      "S3DataType": "S3Prefix", "S3InputMode": "File",
                                                      "S3DataDistributionType": "FullyReplicated"}})
    names = [f"{node_id}.{output}" for node_id, output in targets]
    base = output_s3_uri.rstrip("/")
    return {
        "ProcessingJobName": job_name,
        "RoleArn": role,
        "ProcessingInputs": inputs,
        "ProcessingOutputConfig": {"Outputs": [
            {"OutputName": name, "S3Output": {"S3Uri": f"{base}/{name}", "LocalPath": f"/opt/ml/processing/output/{i}",
                                              "S3UploadMode": "EndOfJob"}} for i, name in enumerate(names)]},
        "ProcessingResources": {"ClusterConfig": {"InstanceCount": instance_count, "InstanceType": instance_type,
                                                  "VolumeSizeInGB": 30}},
        "AppSpecification": {"ImageUri": image or image_uri(region), "ContainerArguments": [
            f"--output-config '{json.dumps({n: {'content_type': content_type} for n in names})}'"]},
        "StoppingCondition": {"MaxRuntimeInSeconds": max_runtime},
    }


def pipeline_step(flow: Flow, *, name: str = "DataWranglerProcessingStep", **kwargs) -> dict[str, Any]:
    """A pipeline definition's step (``{"Name", "Type": "Processing", "Arguments"}``) running the flow."""
    request = processing_job_request(flow, job_name="unused", **kwargs)
    request.pop("ProcessingJobName")
    return {"Name": name, "Type": "Processing", "Arguments": request}
