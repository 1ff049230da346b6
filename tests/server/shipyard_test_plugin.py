"""A server plugin used only by tests (loaded with SHIPYARD_PLUGINS): handlers and a router that misbehave.

It lets the tests drive the server's error edges through a real process: a handler that raises an
unexpected exception, a handler whose result needs serializing, and an endpoint router with every outcome.
"""

from __future__ import annotations

import datetime as dt
import json

from shipyard.api.registry import operation
from shipyard.errors import ModelError, ModelNotReady, ResourceLimitExceeded, ValidationError

SECRET = "plugin-secret-detail-7f3a"


@operation("sagemaker", "ListAlgorithms")
def explode(services, params):
    raise RuntimeError(f"{SECRET}: something broke deep inside")


@operation("sagemaker", "ListCodeRepositories")
def limit(services, params):
    raise ResourceLimitExceeded("You have reached the limit of code repositories.")


@operation("sagemaker", "DescribeAlgorithm")
def describe(services, params):
    return {
        "AlgorithmName": params["AlgorithmName"],
        "AlgorithmArn": f"arn:aws:sagemaker:us-east-1:123456789012:algorithm/{params['AlgorithmName']}",
        "CreationTime": dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "TrainingSpecification": {
            "TrainingImage": "img",
            "SupportedTrainingInstanceTypes": ["ml.m5.large"],
            "TrainingChannels": [{"Name": "train", "SupportedContentTypes": ["text/csv"],
                                  "SupportedInputModes": ["File"], "Description": None}],
        },
        "AlgorithmStatus": "Completed",
        "AlgorithmStatusDetails": {},
        "AlgorithmDescription": None,
        "_private_state": {"pid": 1234},
        "CertifyForMarketplace": False,
    }


class StubRouter:
    async def invoke(self, endpoint, body, content_type, accept, headers):
        if endpoint == "model-error":
            raise ModelError("Received client error (400) from primary with message \"bad row\".", 400, "bad row")
        if endpoint == "not-ready":
            raise ModelNotReady("Model is not ready yet.")
        if endpoint == "crash":
            raise RuntimeError(SECRET)
        if endpoint == "missing":
            raise ValidationError(f"Endpoint {endpoint} of account 123456789012 not found.")
        doc = {"endpoint": endpoint, "size": len(body), "content_type": content_type, "accept": accept,
               "headers": headers, "head": body[:16].decode("latin-1")}
        extra = {"x-Amzn-Invoked-Production-Variant": headers.get("x-amzn-sagemaker-target-variant", "AllTraffic")}
        if "x-amzn-sagemaker-custom-attributes" in headers:
            extra["X-Amzn-SageMaker-Custom-Attributes"] = headers["x-amzn-sagemaker-custom-attributes"]
        return 200, json.dumps(doc).encode(), "application/json", extra

    async def invoke_async(self, endpoint, headers, body=b""):
        extra = {"X-Amzn-SageMaker-OutputLocation": f"s3://out/{endpoint}/1.out",
                 "X-Amzn-SageMaker-FailureLocation": f"s3://out/{endpoint}/1.err"}
        body = json.dumps({"InferenceId": headers.get("x-amzn-sagemaker-inference-id", "generated")}).encode()
        return 202, body, "application/json", extra


def install(services):
    services.router = StubRouter()  # what the runtime routes call; the controllers keep the real one
