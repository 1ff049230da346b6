"""``load_run()`` inside a real training job: the job is created under a ``Run`` (its ExperimentConfig carries
the run's names), and the training script, using the SageMaker SDK unmodified with the job's own credentials,
finds the run from ``TRAINING_JOB_ARN`` and logs a parameter and a metric to it."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "training"))
from training_helpers import log_messages, script_job, wait_status  # noqa: E402

# quick_sagemaker_sdk: the SDK without its fixed sleeps and per-call config-schema checks (tests/e2e/sdk_waits.py)
pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("quick_sagemaker_sdk")]

BUCKET = "exp-load-run"
SCRIPT = """
    import os
    os.environ["SAGEMAKER_SUPPRESS_V2_WARNING"] = "1"
    import boto3
    import sagemaker
    from sagemaker.experiments import load_run

    session = sagemaker.Session(boto_session=boto3.Session())
    with load_run(sagemaker_session=session) as run:
        run.log_parameter("inside", "yes")
        for step in range(3):
            run.log_metric("inner", 0.5 * step, step=step)
        print("logged to", run.run_name, flush=True)
    open(os.path.join(os.environ["SM_MODEL_DIR"], "model.txt"), "w").write("m")
"""


# A job's own key may not call experiment operations yet (server/auth.py allows a job only its own Describe*):
# the SDK's load_run gets AccessDeniedException on CreateExperiment. Strict, so that the test fails as soon as
# the job scope allows its ExperimentConfig's experiment, trial and run (the change is described in
# docs/experiments.md); then remove the mark.
def test_load_run_inside_training_job(server, tmp_path):
    from sagemaker.experiments.run import Run

    s3, sm = server.client("s3"), server.client("sagemaker")
    exp = f"exp-{uuid.uuid4().hex[:8]}"
    job = f"lr-{uuid.uuid4().hex[:8]}"
    with sdk_environment(server, tmp_path):
        with Run(experiment_name=exp, run_name="outer", sagemaker_session=sdk_session()) as run:
            run.log_parameter("before", 1)
            config = run.experiment_config
    params = script_job(s3, BUCKET, job, SCRIPT)
    params["ExperimentConfig"] = config
    sm.create_training_job(**params)
    desc = wait_status(sm, job, timeout=120)
    assert desc["TrainingJobStatus"] == "Completed", "\n".join(log_messages(server.client("logs"), job)[-30:])
    d = sm.describe_trial_component(TrialComponentName=f"{exp}-outer")
    assert d["Parameters"] == {"before": {"NumberValue": 1.0}, "inside": {"StringValue": "yes"}}
    (inner,) = [m for m in d["Metrics"] if m["MetricName"] == "inner"]
    assert (inner["Count"], inner["Last"]) == (3, 1.0)
    # the job's own component sits in the run's group beside the run
    group = sm.list_trial_components(TrialName=config["TrialName"])["TrialComponentSummaries"]
    assert sorted(s["TrialComponentName"] for s in group) == sorted([f"{exp}-outer", f"{job}-aws-training-job"])
