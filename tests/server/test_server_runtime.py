"""sagemaker-runtime through a real server: limits, header forwarding and the router's error translation."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from shipyard_test_plugin import SECRET

HERE = Path(__file__).parent


def _error(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value


def test_unknown_endpoint_is_a_validation_error(server):
    rt = server.client("sagemaker-runtime")
    err = _error(lambda: rt.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1,2", ContentType="text/csv"))
    assert err.response["Error"]["Code"] == "ValidationException"
    assert err.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "no-such-endpoint" in err.response["Error"]["Message"]


def test_payload_over_6_mib_is_rejected_before_the_router(server):
    rt = server.client("sagemaker-runtime")
    err = _error(lambda: rt.invoke_endpoint(EndpointName="any", Body=b"x" * (6 * 1024 * 1024 + 1),
                                            ContentType="application/octet-stream"))
    assert err.response["Error"]["Code"] == "ValidationException"
    assert "6291456" in err.response["Error"]["Message"]


@pytest.fixture(scope="module")
def rt(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    env = {"SHIPYARD_PLUGINS": "shipyard_test_plugin",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = ShipyardProcess(tmp_path_factory.mktemp("runtime-home"), env=env)
    proc.start()
    try:
        yield proc.client("sagemaker-runtime", config=Config(retries={"max_attempts": 1}))
    finally:
        proc.stop(kill_children=True)


def test_invoke_forwards_headers_and_returns_the_routers_answer(rt):
    body = b"1.0,2.0,3.0\n" * 1000
    out = rt.invoke_endpoint(EndpointName="echo", Body=body, ContentType="text/csv", Accept="application/json",
                             CustomAttributes="trace=abc", TargetVariant="blue", InferenceId="inf-1",
                             TargetModel="m1.tar.gz")
    doc = json.loads(out["Body"].read())
    assert doc["endpoint"] == "echo" and doc["size"] == len(body) and doc["head"] == "1.0,2.0,3.0\n1.0,"
    assert (doc["content_type"], doc["accept"]) == ("text/csv", "application/json")
    assert doc["headers"]["x-amzn-sagemaker-custom-attributes"] == "trace=abc"
    assert doc["headers"]["x-amzn-sagemaker-inference-id"] == "inf-1"
    assert doc["headers"]["x-amzn-sagemaker-target-model"] == "m1.tar.gz"
    assert out["ContentType"] == "application/json"
    assert out["InvokedProductionVariant"] == "blue"
    assert out["CustomAttributes"] == "trace=abc"


def test_invoke_at_the_size_limit(rt):
    out = rt.invoke_endpoint(EndpointName="echo", Body=b"x" * (6 * 1024 * 1024), ContentType="text/plain")
    assert json.loads(out["Body"].read())["size"] == 6 * 1024 * 1024


def test_model_error_carries_the_models_status(rt):
    err = _error(lambda: rt.invoke_endpoint(EndpointName="model-error", Body=b"oops", ContentType="text/csv"))
    r = err.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert r["Error"]["Code"] == "ModelError"
    assert r["OriginalStatusCode"] == 400
    assert r["OriginalMessage"] == "bad row"
    assert "Received client error (400)" in r["Error"]["Message"]
    assert type(err).__name__ == "ModelError"  # botocore's modeled exception class


def test_not_ready_and_crash(rt):
    err = _error(lambda: rt.invoke_endpoint(EndpointName="not-ready", Body=b"1", ContentType="text/csv"))
    assert (err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]) == \
        (429, "ModelNotReadyException")
    err = _error(lambda: rt.invoke_endpoint(EndpointName="crash", Body=b"1", ContentType="text/csv"))
    assert (err.response["ResponseMetadata"]["HTTPStatusCode"], err.response["Error"]["Code"]) == \
        (500, "InternalFailure")
    assert SECRET not in str(err.response)


def test_async_invocation(rt):
    out = rt.invoke_endpoint_async(EndpointName="echo", InputLocation="s3://in/x.csv", InferenceId="abc")
    assert out["InferenceId"] == "abc"
    assert out["OutputLocation"] == "s3://out/echo/1.out"
    assert out["FailureLocation"] == "s3://out/echo/1.err"
