"""``EnableNetworkIsolation`` on a model (issue 14): its model server has no network (a private network
namespace), yet InvokeEndpoint reaches it through a Unix socket in its folder; a model without it still
connects. The model's inference script tries a TCP connection to a loopback port this test listens on and
answers with the outcome, so the prediction itself says whether the model server had a network. A batch
transform of the isolated model gets the same. Where the host has no namespaces, the endpoint still serves and
its log says isolation is not enforced."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import uuid

import pytest
from hosting_helpers import alive, model_server_pids, tarball, upload, wait_in_service, wait_until

from shipyard.runners import sandbox

pytestmark = pytest.mark.integration
needs_netns = pytest.mark.skipif(not sandbox.available() or not sandbox.network_isolation_available(),
                                 reason="no network namespace on this host: EnableNetworkIsolation is not enforced")

SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
BUCKET = "network-isolation"

PROBE = b'''
import json, socket

def model_fn(model_dir):
    return "probe"

def input_fn(body, content_type):
    return json.loads(body)

def predict_fn(data, model):
    try:
        socket.create_connection(("127.0.0.1", int(data["port"])), timeout=3).close()
        return {"tcp": "connected"}
    except OSError as e:
        return {"tcp": "refused " + type(e).__name__}

def output_fn(prediction, accept):
    return json.dumps(prediction)
'''


@pytest.fixture(scope="module")
def listener():
    """A loopback TCP port that accepts connections (the kernel completes them from the backlog)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(64)
        yield s.getsockname()[1]


@pytest.fixture(scope="module")
def probe_model_url(server):
    return upload(server.client("s3"), BUCKET, f"{uuid.uuid4().hex[:8]}/model.tar.gz",
                  tarball({"code/inference.py": PROBE}))


def _deploy(sm, model_url: str, isolated: bool) -> str:
    name = f"netiso-{'on' if isolated else 'off'}-{uuid.uuid4().hex[:6]}"
    sm.create_model(ModelName=name, EnableNetworkIsolation=isolated,
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                    PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": model_url,
                                      "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "main", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def _probe(rt, endpoint: str, port: int) -> str:
    out = rt.invoke_endpoint(EndpointName=endpoint, Body=json.dumps({"port": port}), ContentType="application/json")
    return json.loads(out["Body"].read())["tcp"]


@needs_netns
def test_isolated_model_server_has_no_network_but_serves(server, listener, probe_model_url):
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    isolated, open_ = _deploy(sm, probe_model_url, True), _deploy(sm, probe_model_url, False)
    for name in (isolated, open_):
        wait_in_service(sm, name)
    assert _probe(rt, open_, listener) == "connected"  # the probe works: a model with a network connects
    outcome = _probe(rt, isolated, listener)
    assert outcome.startswith("refused"), outcome
    for _ in range(3):  # pooled connections over the socket keep working
        assert _probe(rt, isolated, listener).startswith("refused")
    # the isolated instance is reached through a socket file in its variant's folder, not a port
    sockets = list((server.home / "runs" / "endpoints" / isolated / "main").glob(".sock-*"))
    assert len(sockets) == 1 and sockets[0].is_socket()
    for name in (isolated, open_):
        sm.delete_endpoint(EndpointName=name)
    for name in (isolated, open_):
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


@needs_netns
def test_isolated_instance_replaced_after_it_dies_is_reached_again(server, listener, probe_model_url):
    """The hosting controller replaces a dead isolated instance (a new socket) and the router follows it."""
    sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
    name = _deploy(sm, probe_model_url, True)
    wait_in_service(sm, name)
    pids = model_server_pids(server.home, name)
    assert pids
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    wait_until(lambda: not any(alive(p) for p in pids), 10, what="the model server to die")

    def answers():
        try:
            return _probe(rt, name, listener)
        except rt.exceptions.ClientError:
            return None

    assert wait_until(answers, 60, 0.3, "the replacement instance to answer").startswith("refused")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def test_without_namespaces_an_isolated_endpoint_serves_and_its_log_says_so(server_factory, listener):
    """Where the host offers no namespaces (here: ``SHIPYARD_SANDBOX_NAMESPACES=off``), the model server runs as
    training programs do there: unsandboxed, the note in the endpoint's log."""
    srv = server_factory(env={"SHIPYARD_SANDBOX_NAMESPACES": "off"})
    sm, rt, logs = srv.client("sagemaker"), srv.client("sagemaker-runtime"), srv.client("logs")
    url = upload(srv.client("s3"), BUCKET, "fallback/model.tar.gz", tarball({"code/inference.py": PROBE}))
    name = _deploy(sm, url, True)
    wait_in_service(sm, name)
    assert _probe(rt, name, listener) == "connected"

    def noted():
        try:
            streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/Endpoints/" + name)["logStreams"]
        except logs.exceptions.ResourceNotFoundException:
            return False
        for stream in streams:
            events = logs.get_log_events(logGroupName="/aws/sagemaker/Endpoints/" + name,
                                         logStreamName=stream["logStreamName"])["events"]
            if any("EnableNetworkIsolation is not enforced" in e["message"] for e in events):
                return True
        return False

    deadline = time.monotonic() + 30
    while not noted():
        assert time.monotonic() < deadline, "the endpoint's log never said isolation is not enforced"
        time.sleep(0.5)


@needs_netns
def test_transform_of_an_isolated_model_has_no_network(server, listener, probe_model_url):
    """A batch transform's model servers follow the model's EnableNetworkIsolation too (reached through Unix
    sockets in the job's folder); the same model without it connects."""
    sm, s3 = server.client("sagemaker"), server.client("s3")
    prefix = f"transform-{uuid.uuid4().hex[:6]}"
    s3.put_object(Bucket=BUCKET, Key=f"{prefix}/in/probe.json", Body=json.dumps({"port": listener}).encode())
    jobs = {}
    for isolated in (True, False):
        model = f"{prefix}-{'on' if isolated else 'off'}"
        sm.create_model(ModelName=model, EnableNetworkIsolation=isolated,
                        ExecutionRoleArn="arn:aws:iam::123456789012:role/Shipyard",
                        PrimaryContainer={"Image": SKLEARN_IMAGE, "ModelDataUrl": probe_model_url,
                                          "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}})
        sm.create_transform_job(
            TransformJobName=model, ModelName=model,
            TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                            "S3Uri": f"s3://{BUCKET}/{prefix}/in/"}},
                            "ContentType": "application/json"},
            TransformOutput={"S3OutputPath": f"s3://{BUCKET}/{prefix}/out-{model}/"},
            TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
        jobs[isolated] = model
    def ended(model: str):
        d = sm.describe_transform_job(TransformJobName=model)
        return d if d["TransformJobStatus"] in ("Completed", "Failed", "Stopped") else None

    for isolated, model in jobs.items():
        desc = wait_until(lambda m=model: ended(m), 90, 0.3, f"transform job {model}")
        assert desc["TransformJobStatus"] == "Completed", desc.get("FailureReason")
        out = s3.get_object(Bucket=BUCKET, Key=f"{prefix}/out-{model}/probe.json.out")["Body"].read()
        outcome = json.loads(out)["tcp"]
        assert outcome.startswith("refused") if isolated else outcome == "connected", outcome
