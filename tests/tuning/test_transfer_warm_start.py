"""A ``TransferLearning`` warm start through a real server: the controller tells the GP strategy the warm
start type, so the child's first training job re-tries the parent's best point on the new task instead of
spending jobs on a fresh initial design."""

from __future__ import annotations

import uuid

import pytest

from .test_tuning_e2e import config, definition, setup, wait


def test_transfer_learning_child_starts_at_the_parent_best(server, setup):
    sm = server.client("sagemaker")
    parent = f"tl-{uuid.uuid4().hex[:8]}"
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=parent, HyperParameterTuningJobConfig=config(max_jobs=6, parallel=2),
        TrainingJobDefinition=definition(setup))
    p = wait(sm, parent)
    assert p["HyperParameterTuningJobStatus"] == "Completed", p
    best = p["BestTrainingJob"]["TunedHyperParameters"]

    child = f"{parent}-tl"
    sm.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=child, HyperParameterTuningJobConfig=config(max_jobs=1, parallel=1),
        TrainingJobDefinition=definition(setup),
        WarmStartConfig={"ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": parent}],
                         "WarmStartType": "TransferLearning"})
    c = wait(sm, child)
    assert c["HyperParameterTuningJobStatus"] == "Completed", c
    (row,) = sm.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=child)["TrainingJobSummaries"]
    tried = row["TunedHyperParameters"]
    assert {k: float(v) for k, v in tried.items()} == pytest.approx({k: float(v) for k, v in best.items()},
                                                                    rel=1e-6)
