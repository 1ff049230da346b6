"""HyperparameterTuner against a real server: built-in XGBoost tuned, analysed and deployed; a script-mode
tuner with a categorical range; a tuning job stopped mid-way."""

from __future__ import annotations

import io
import time

import numpy as np
import pytest

from shipyard.sdk import (
    CategoricalParameter,
    ContinuousParameter,
    Estimator,
    HyperparameterTuner,
    IntegerParameter,
    Session,
    TrainingInput,
)

pytestmark = pytest.mark.timeout(240)


def _session(server) -> Session:
    key_id, secret = server.keys()
    return Session(endpoint_url=server.url, access_key_id=key_id, secret_access_key=secret, region=server.region)


def _upload_csv(session: Session, rows: np.ndarray, prefix: str) -> TrainingInput:
    buf = io.BytesIO()
    np.savetxt(buf, rows, delimiter=",", fmt="%.5f")
    bucket = session.default_bucket()
    session.upload_bytes(buf.getvalue(), bucket, f"{prefix}/data.csv")
    return TrainingInput(f"s3://{bucket}/{prefix}", content_type="text/csv")


def test_builtin_xgboost_tune_analyse_deploy(server, capsys):
    session = _session(server)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1200, 4))
    y = ((x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=len(x))) > 0).astype(float)
    data = np.column_stack([y, x])
    inputs = {"train": _upload_csv(session, data[:900], "sdk-tuner/train"),
              "validation": _upload_csv(session, data[900:], "sdk-tuner/validation")}
    est = Estimator("xgboost", session=session, hyperparameters={"objective": "binary:logistic",
                                                                 "num_round": 10, "eta": 0.9})
    ranges = {"eta": ContinuousParameter(0.05, 0.5, "Logarithmic"), "max_depth": IntegerParameter(1, 6)}
    tuner = HyperparameterTuner(est, "validation:auc", ranges, strategy="Random", max_jobs=4,
                                max_parallel_jobs=2, random_seed=5)
    assert tuner.fit(inputs) is tuner
    out = capsys.readouterr().out
    name = tuner.latest_tuning_job
    assert len(name) <= 32
    assert f"{name}: InProgress: 0 completed" in out                 # progress lines as it went
    assert f"{name}: Completed: 4 completed, 0 in progress, 0 failed" in out
    assert "best validation:auc" in out

    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobDefinition"]["StaticHyperParameters"]["num_round"] == "10"
    assert "eta" not in desc["TrainingJobDefinition"]["StaticHyperParameters"]  # tuned, not static

    frame = tuner.analytics().dataframe()
    assert len(frame) == 4 and set(frame["TrainingJobStatus"]) == {"Completed"}
    assert frame["eta"].between(0.05, 0.5).all() and frame["max_depth"].between(1, 6).all()
    assert frame["max_depth"].map(lambda v: float(v).is_integer()).all()
    assert (frame["TrainingElapsedTimeSeconds"] > 0).all()
    assert frame["FinalObjectiveValue"].between(0.5, 1.0).all()
    best = frame.sort_values("FinalObjectiveValue", ascending=False).iloc[0]
    assert tuner.best_training_job() == best["TrainingJobName"]
    # each row's objective is that training job's own final validation:auc
    sm = session.sagemaker_client
    child = sm.describe_training_job(TrainingJobName=best["TrainingJobName"])
    finals = {m["MetricName"]: m["Value"] for m in child["FinalMetricDataList"]}
    assert finals["validation:auc"] == pytest.approx(best["FinalObjectiveValue"])
    assert child["HyperParameters"]["max_depth"] == str(int(best["max_depth"]))

    predictor = tuner.deploy()
    try:
        model = sm.describe_model(ModelName=sm.describe_endpoint_config(
            EndpointConfigName=sm.describe_endpoint(EndpointName=predictor.endpoint_name)["EndpointConfigName"]
        )["ProductionVariants"][0]["ModelName"])
        assert model["PrimaryContainer"]["ModelDataUrl"] == child["ModelArtifacts"]["S3ModelArtifacts"]
        scores = np.asarray(predictor.predict([[2.0, 1.0, 0.0, 0.0], [-2.0, -1.0, 0.0, 0.0]]), dtype=float).ravel()
        assert scores[0] > 0.6 and scores[1] < 0.4
    finally:
        predictor.delete_endpoint()
        predictor.delete_model()


SCRIPT = """\
import argparse, time
p = argparse.ArgumentParser()
p.add_argument("--level", type=float); p.add_argument("--kind"); p.add_argument("--sleep", type=float, default=0)
a, _ = p.parse_known_args()
time.sleep(a.sleep)
print(f"loss={a.level + (10 if a.kind == 'far' else 0):.6f}", flush=True)
"""


def _script_estimator(server, tmp_path, sleep: float) -> Estimator:
    (tmp_path / "src").mkdir(exist_ok=True)
    (tmp_path / "src" / "train.py").write_text(SCRIPT)
    return Estimator("python:3.11", entry_point="train.py", source_dir=str(tmp_path / "src"),
                     session=_session(server), hyperparameters={"sleep": sleep}, max_run=120,
                     metric_definitions=[{"Name": "loss", "Regex": r"loss=([-0-9.eE+]+)"}])


def test_script_mode_categorical_values_reach_the_script(server, tmp_path):
    est = _script_estimator(server, tmp_path, sleep=0)
    tuner = HyperparameterTuner(est, "loss", {"level": ContinuousParameter(0, 1),
                                              "kind": CategoricalParameter(["near", "far"])},
                                objective_type="Minimize", strategy="Random", max_jobs=4, max_parallel_jobs=2,
                                random_seed=1)
    tuner.fit(logs=False)
    rows = tuner.analytics().rows()
    assert len(rows) == 4
    for row in rows:
        assert row["kind"] in ("near", "far")  # the JSON-encoded categorical came back decoded
        expected = row["level"] + (10 if row["kind"] == "far" else 0)
        assert row["FinalObjectiveValue"] == pytest.approx(expected, abs=1e-5)
    best = min(rows, key=lambda r: r["FinalObjectiveValue"])
    assert tuner.best_training_job() == best["TrainingJobName"]


def test_stop_ends_a_running_tuning_job(server, tmp_path, capsys):
    est = _script_estimator(server, tmp_path, sleep=60)
    tuner = HyperparameterTuner(est, "loss", {"level": ContinuousParameter(0, 1)}, objective_type="Minimize",
                                strategy="Random", max_jobs=10, max_parallel_jobs=2)
    tuner.fit(wait=False)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if tuner.describe()["TrainingJobStatusCounters"]["InProgress"] == 2:
            break
        time.sleep(0.2)
    else:
        pytest.fail("tuning job never had 2 training jobs running")
    tuner.stop()
    desc = tuner.wait(timeout=60)  # a stopped tuning job is not an error
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    assert desc["TrainingJobStatusCounters"]["Completed"] == 0
    assert "Stopped: 0 completed, 0 in progress, 0 failed, 2 stopped" in capsys.readouterr().out
    with pytest.raises(ValueError, match="no training job with an objective"):
        tuner.best_training_job()


def test_a_failed_tuning_job_raises_with_its_reason(server, tmp_path):
    from shipyard.sdk import UnexpectedStatusError

    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "train.py").write_text("raise SystemExit('no data for level')\n")
    est = Estimator("python:3.11", entry_point="train.py", source_dir=str(tmp_path / "bad"),
                    session=_session(server), max_run=120,
                    metric_definitions=[{"Name": "loss", "Regex": r"loss=([-0-9.eE+]+)"}])
    tuner = HyperparameterTuner(est, "loss", {"level": ContinuousParameter(0, 1)}, objective_type="Minimize",
                                strategy="Random", max_jobs=2, max_parallel_jobs=2)
    with pytest.raises(UnexpectedStatusError) as info:
        tuner.fit(logs=False)
    assert info.value.status == "Failed"
    assert "no data for level" in info.value.reason
