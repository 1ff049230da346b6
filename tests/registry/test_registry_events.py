"""Model package state-change events: delivered to a webhook receiver on loopback (SHIPYARD_WEBHOOKS) in AWS
EventBridge's shape, recorded in the /shipyard/events log group, and followed by ``shipyard registry watch``."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid

import pytest

from shipyard.resources import model_package_events

from .conftest import spec

pytestmark = [pytest.mark.timeout(120)]


def _for(arn: str):
    return lambda events: [e for e in events if e["resources"] == [arn]]


def test_webhook_receives_create_and_approval_events(sm, receiver, model_data):
    _, url = model_data
    group = f"hooked-{uuid.uuid4().hex[:8]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url))["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Approved", ApprovalDescription="ship it")
    sm.update_model_package(ModelPackageArn=arn, ApprovalDescription="no approval change: no event")
    events = receiver.wait_for(lambda evs: len(_for(arn)(evs)) >= 2)
    mine = _for(arn)(events)
    assert [e["detail"]["ModelApprovalStatus"] for e in mine] == ["PendingManualApproval", "Approved"]
    first, second = mine
    assert first["detail-type"] == "SageMaker Model Package State Change"
    assert first["source"] == "aws.sagemaker" and first["region"] == "us-east-1" and first["version"] == "0"
    assert first["detail"]["ModelPackageGroupName"] == group and first["detail"]["ModelPackageVersion"] == 1
    assert first["detail"]["ModelPackageStatus"] == "Completed"
    assert second["detail"]["ApprovalDescription"] == "ship it"
    assert first["id"] != second["id"]
    time.sleep(0.5)  # a third event (there must be none) would have arrived by now
    assert len(_for(arn)(receiver.events)) == 2


def test_events_are_in_the_log_group(server, sm, model_data):
    _, url = model_data
    name = f"logged-{uuid.uuid4().hex[:8]}"
    arn = sm.create_model_package(ModelPackageName=name, InferenceSpecification={
        **spec(url), "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
        "SupportedTransformInstanceTypes": ["ml.m5.large"]})["ModelPackageArn"]
    logs = server.client("logs")
    events = logs.filter_log_events(logGroupName=model_package_events.LOG_GROUP)["events"]
    bodies = [json.loads(e["message"]) for e in events]
    assert any(b["resources"] == [arn] and b["detail"]["ModelPackageName"] == name for b in bodies)


def _watch_cmd(*args: str) -> list[str]:
    """``shipyard registry watch``; through the command's own entry point until cli.py wires ``registry``."""
    from shipyard import cli

    try:
        cli.build_parser().parse_args(["registry", "watch", "--once"])
        return [sys.executable, "-m", "shipyard.cli", "registry", "watch", *args]
    except SystemExit:
        return [sys.executable, "-m", "shipyard.cli_registry", "watch", *args]


def test_registry_watch_prints_existing_and_new_events(server, sm, model_data):
    import os

    _, url = model_data
    group = f"watched-{uuid.uuid4().hex[:8]}"
    sm.create_model_package_group(ModelPackageGroupName=group)
    arn = sm.create_model_package(ModelPackageGroupName=group, InferenceSpecification=spec(url))["ModelPackageArn"]
    env = {**os.environ, **server.env()}
    once = subprocess.run(_watch_cmd("--once", "--group", group), env=env, capture_output=True, text=True,
                          timeout=60)
    assert once.returncode == 0, once.stderr
    lines = once.stdout.strip().splitlines()
    assert len(lines) == 1 and f"{group} v1" in lines[0] and "PendingManualApproval" in lines[0] and arn in lines[0]

    follower = subprocess.Popen(_watch_cmd("--group", group, "--json", "--interval", "0.2", "--timeout", "20"),
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = json.loads(follower.stdout.readline())  # the event already recorded
        assert first["detail"]["ModelApprovalStatus"] == "PendingManualApproval"
        sm.update_model_package(ModelPackageArn=arn, ModelApprovalStatus="Rejected", ApprovalDescription="bad AUC")
        second = json.loads(follower.stdout.readline())  # followed live
        assert second["resources"] == [arn]
        assert (second["detail"]["ModelApprovalStatus"], second["detail"]["ApprovalDescription"]) == (
            "Rejected", "bad AUC")
    finally:
        follower.kill()
        follower.communicate(timeout=10)


def test_registry_watch_before_any_event(server, monkeypatch):
    """Before the first event the log group does not exist (CloudWatch answers ResourceNotFoundException):
    watch sees no events and keeps its place instead of failing."""
    from shipyard import cli_events, cli_registry

    monkeypatch.setattr(cli_events, "LOG_GROUP", f"/shipyard/no-events-{uuid.uuid4().hex[:6]}")
    logs = server.client("logs")
    assert cli_registry.poll_events(logs, 0, None) == ([], None)
    assert list(cli_registry.follow(logs, 0, timeout=0.3, interval=0.1)) == []


def test_a_dead_webhook_is_retried_a_bounded_number_of_times():
    started = time.monotonic()
    results = model_package_events.deliver(["http://127.0.0.1:9/hook"], b"{}", timeout=1.0, tries=3, backoff=0.05)
    assert results == {"http://127.0.0.1:9/hook": False}
    assert time.monotonic() - started < 5
