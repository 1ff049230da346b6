"""Model-server logs reach CloudWatch Logs: group /aws/sagemaker/Endpoints/<endpoint>, stream <variant>/<id>."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service, wait_until


def _events(logs, group: str) -> dict[str, list[str]]:
    out = {}
    for s in logs.describe_log_streams(logGroupName=group)["logStreams"]:
        events = logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)
        out[s["logStreamName"]] = [e["message"] for e in events["events"]]
    return out


def test_model_server_lines_are_shipped_once_across_a_restart(server_factory, tmp_path):
    srv = server_factory()
    sm, s3, logs = srv.client("sagemaker"), srv.client("s3"), srv.client("logs")
    data, _ = model_tarball()
    url = upload(s3, "endpoint-logs", "m/model.tar.gz", data)
    sm.create_model(ModelName="logged", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url},
                    ExecutionRoleArn="arn:aws:iam::123456789012:role/SageMakerRole")
    sm.create_endpoint_config(EndpointConfigName="logged", ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "logged", "InitialInstanceCount": 2,
         "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName="logged", EndpointConfigName="logged")
    wait_in_service(sm, "logged")
    group = "/aws/sagemaker/Endpoints/logged"

    def shipped():
        found = _events(logs, group) if logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"] else {}
        return found if len(found) == 2 and all(found.values()) else None

    streams = wait_until(shipped, 15, 0.3, "both instances' log streams")
    instances = sm.describe_endpoint(EndpointName="logged")["ProductionVariants"][0]["CurrentInstanceCount"]
    assert instances == 2
    for name, lines in streams.items():
        variant, instance = name.split("/")
        assert variant == "AllTraffic" and len(instance) >= 8
        assert lines[0].startswith("Model server listening on http://")
    # the SageMaker SDK's live-logging call: FilterLogEvents by stream prefix
    found = logs.filter_log_events(logGroupName=group, logStreamNamePrefix="AllTraffic/")["events"]
    assert sorted(e["logStreamName"] for e in found) == sorted(streams)

    # the shipyard CLI prints them, one stream per instance
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "SHIPYARD_"))}
    env.update(srv.env())
    cli = subprocess.run([sys.executable, "-m", "shipyard.cli", "endpoints", "logs", "logged", "--streams"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert cli.returncode == 0, cli.stderr
    for name, lines in streams.items():
        assert f"[{name}] {lines[0]}" in cli.stdout.splitlines()

    # a restarted server resumes from the stored offsets: nothing is shipped twice
    srv.stop()
    srv.start()
    logs = srv.client("logs")
    time.sleep(2.5)  # > two ticks of the log controller
    assert _events(logs, group) == streams

    srv.client("sagemaker").delete_endpoint(EndpointName="logged")
    srv.client("sagemaker").get_waiter("endpoint_deleted").wait(
        EndpointName="logged", WaiterConfig={"Delay": 1, "MaxAttempts": 30})
    # CloudWatch keeps an endpoint's logs after the endpoint is gone
    assert set(_events(logs, group)) == set(streams)
