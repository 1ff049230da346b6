"""The SageMaker Python SDK's HyperparameterTuner, unmodified, against a real Shipyard server."""

from __future__ import annotations

import pytest

from shipyard.testing.sdk import sdk_environment, sdk_session
from shipyard.tuning.testfunctions import branin

pytestmark = [pytest.mark.timeout(240)]

SCRIPT = """
import argparse, math
p = argparse.ArgumentParser(); p.add_argument("--x1", type=float); p.add_argument("--x2", type=float)
a, _ = p.parse_known_args()
v = (a.x2 - 5.1 / (4 * math.pi ** 2) * a.x1 ** 2 + 5 / math.pi * a.x1 - 6) ** 2 + 10 * (1 - 1 / (8 * math.pi)) * math.cos(a.x1) + 10
print(f"objective: {v:.6f}")
"""


@pytest.fixture
def sdk_env(server, tmp_path, quick_sagemaker_sdk):
    """The SDK's environment: AWS_* at the server, telemetry off, a default bucket for the uploaded source."""
    with sdk_environment(server, tmp_path, bucket="shipyard-tuning-sdk"):
        yield server


def test_hyperparameter_tuner_fit_best_job_and_analytics(sdk_env, tmp_path):
    from sagemaker.sklearn import SKLearn
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner

    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(SCRIPT)
    session = sdk_session()
    estimator = SKLearn(entry_point="train.py", source_dir=str(src), framework_version="1.2-1", py_version="py3",
                        role="arn:aws:iam::123456789012:role/Shipyard", instance_count=1,
                        instance_type="ml.m5.large", sagemaker_session=session)
    tuner = HyperparameterTuner(
        estimator, objective_metric_name="objective", objective_type="Minimize",
        hyperparameter_ranges={"x1": ContinuousParameter(-5, 10), "x2": ContinuousParameter(0, 15)},
        metric_definitions=[{"Name": "objective", "Regex": r"objective: ([-0-9.eE+]+)"}],
        max_jobs=4, max_parallel_jobs=2, strategy="Random")
    tuner.fit(wait=True)  # quick_sagemaker_sdk: wait_for_tuning_job looks every 1 s, not every 5
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 4
    frame = tuner.analytics().dataframe()
    assert len(frame) == 4
    for _, row in frame.iterrows():
        assert row["FinalObjectiveValue"] == pytest.approx(branin(float(row["x1"]), float(row["x2"])), abs=1e-4)
    assert tuner.best_training_job() == frame.sort_values("FinalObjectiveValue").iloc[0]["TrainingJobName"]
