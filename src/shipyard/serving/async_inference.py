"""Asynchronous inference: InvokeEndpointAsync queues a request; a controller runs it and writes S3 objects.

Why the queue is the metadata store: a request accepted with 202 must survive a server restart, and the
store is what every Shipyard server already restarts from. Each request is one resource of kind
``async-invocation`` (status ``Pending`` -> ``InProgress``; deleted once its output or failure object is
written). :mod:`shipyard.controllers.async_inference` drains it. Delivery is at least once: a request that
was in progress when the server died runs again after the restart (its output object is simply rewritten).

Output: ``<S3OutputPath>[/<S3OutputPathExtension>]/<Filename or InferenceId.out>``; failure:
``<S3FailurePath or S3OutputPath>/<InferenceId>-error.out`` holding the error message.
``NotificationConfig`` (SNS) is accepted and ignored.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid

from ..domain.endpoint_state import EndpointState
from ..errors import S3Error, ValidationError
from ..objectstore.base import parse_s3_uri

KIND = "async-invocation"
MAX_INLINE_BYTES = 128_000
DEFAULT_TTL = 6 * 3600
DEFAULT_INVOCATION_TIMEOUT = 900


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code="ValidationError")  # sagemaker-runtime's modeled error code


def _join(base: str, *parts: str) -> str:
    out = base.rstrip("/")
    for p in parts:
        if p:
            out += "/" + p.strip("/")
    return out


class AsyncQueue:
    """The InvokeEndpointAsync front half, attached to the router as ``router.async_queue``."""

    def __init__(self, services):
        self.services = services

    async def submit(self, endpoint: str, headers: dict[str, str], body: bytes):
        return await asyncio.to_thread(self._submit, endpoint, headers, body)

    def _submit(self, endpoint: str, headers: dict[str, str], body: bytes):
        svc = self.services
        ep = svc.meta.find("endpoint", endpoint)
        if ep is None:
            raise _invalid(f"Endpoint {endpoint} of account {svc.account} not found.")
        spec = EndpointState.from_doc(ep.doc).spec
        config = spec.async_inference if spec is not None else None
        if not config:
            raise _invalid(f"Endpoint {endpoint} is not configured for asynchronous inference: its endpoint "
                           "configuration has no AsyncInferenceConfig.")
        output = config.get("OutputConfig") or {}
        out_path = output.get("S3OutputPath", "")
        if not out_path.startswith("s3://"):
            raise _invalid(f"AsyncInferenceConfig.OutputConfig.S3OutputPath {out_path!r} is not an S3 URI.")
        location = headers.get("x-amzn-sagemaker-inputlocation")
        if location and body:
            raise _invalid("Provide exactly one of InputLocation and Body, not both.")
        if not location and not body:
            raise _invalid("InputLocation is required: the S3 URI of the request payload.")
        if location:
            try:
                bucket, key = parse_s3_uri(location)
                svc.objects.head_object(bucket, key)
            except (S3Error, ValidationError):
                raise _invalid(f"Could not find the input payload at InputLocation {location}.") from None
        elif len(body) > MAX_INLINE_BYTES:
            raise _invalid(f"An inline Body may hold at most {MAX_INLINE_BYTES} bytes; upload larger payloads "
                           "to S3 and pass InputLocation.")
        inference_id = headers.get("x-amzn-sagemaker-inference-id") or str(uuid.uuid4())
        out_loc = _join(out_path, headers.get("x-amzn-sagemaker-s3outputpathextension", ""),
                        headers.get("x-amzn-sagemaker-filename") or f"{inference_id}.out")
        fail_loc = _join(output.get("S3FailurePath") or out_path, f"{inference_id}-error.out")
        now = time.time()
        doc = {
            "EndpointName": ep.name, "InferenceId": inference_id, "InputLocation": location,
            "ContentType": headers.get("x-amzn-sagemaker-content-type", "application/octet-stream"),
            "Accept": headers.get("x-amzn-sagemaker-accept", ""),
            "CustomAttributes": headers.get("x-amzn-sagemaker-custom-attributes"),
            "OutputLocation": out_loc, "FailureLocation": fail_loc, "CreationTime": now,
            "ExpiresAt": now + float(headers.get("x-amzn-sagemaker-requestttlseconds") or DEFAULT_TTL),
            "InvocationTimeoutSeconds": float(headers.get("x-amzn-sagemaker-invocationtimeoutseconds")
                                              or DEFAULT_INVOCATION_TIMEOUT),
        }
        if not location:
            doc["_body"] = base64.b64encode(body).decode()
        name = uuid.uuid4().hex
        svc.meta.create(KIND, name, f"arn:aws:sagemaker:{svc.region}:{svc.account}:{KIND}/{name}", "Pending", doc)
        svc.wake(KIND)
        return (202, json.dumps({"InferenceId": inference_id}).encode(), "application/json",
                {"X-Amzn-SageMaker-OutputLocation": out_loc, "X-Amzn-SageMaker-FailureLocation": fail_loc})
