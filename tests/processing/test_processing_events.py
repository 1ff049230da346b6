"""A processing job is told to the job recorders (``resources/job_events``): its creation makes its trial
component ``<job>-aws-processing-job`` (Source: the job), its end records the outcome on it, as AWS does."""

from __future__ import annotations

import time

import pytest

from processing_helpers import script_request, unique, wait_status

pytestmark = pytest.mark.integration

BUCKET = "processing-events"


@pytest.mark.parametrize("code, outcome", [("print('fine')", "Completed"), ("raise SystemExit(3)", "Failed")])
def test_a_processing_job_has_a_trial_component_with_its_outcome(proc_server, code, outcome):
    sm, s3 = proc_server.client("sagemaker"), proc_server.client("s3")
    name = unique("events")
    arn = sm.create_processing_job(**script_request(s3, BUCKET, name, code, outputs={"out": {}}))["ProcessingJobArn"]
    component = sm.describe_trial_component(TrialComponentName=f"{name}-aws-processing-job")
    assert component["Source"]["SourceArn"] == arn
    desc = wait_status(sm, name, timeout=60)
    assert desc["ProcessingJobStatus"] == outcome, desc.get("FailureReason")
    # the outcome is recorded just after the job's final status is saved (as on AWS, a moment later): a bounded wait
    deadline = time.monotonic() + 10
    component = sm.describe_trial_component(TrialComponentName=f"{name}-aws-processing-job")
    while component["Status"]["PrimaryStatus"] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.1)
        component = sm.describe_trial_component(TrialComponentName=f"{name}-aws-processing-job")
    assert component["Status"]["PrimaryStatus"] == outcome
    if outcome == "Failed":
        assert "exit code 3" in component["Status"]["Message"]
