"""The SageMaker Python SDK 2.x, unmodified, against a real Shipyard server.

Only configuration changes: the standard AWS variables point boto3 at the server, and the SDK's own config
file (SAGEMAKER_USER_CONFIG_OVERRIDE / SAGEMAKER_ADMIN_CONFIG_OVERRIDE) turns telemetry off and names the
default bucket. (Without a default bucket the SDK asks STS for the account at the hard-coded
https://sts.<region>.amazonaws.com, which ignores AWS_ENDPOINT_URL, so a bucket must be named somewhere.)
Two flows: built-in XGBoost (Estimator + image_uris.retrieve) and SKLearn script mode with model_fn/predict_fn.
"""

from __future__ import annotations


import numpy as np
import pytest

from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
N_FEATURES = 6


def _dataset(folder, seed=3, n_train=800, n_val=200, n_test=10):
    """Binary labels from a hidden linear rule plus noise; CSV with the label first and no header."""
    rng = np.random.default_rng(seed)
    w = rng.normal(size=N_FEATURES)

    def sample(n):
        x = rng.normal(size=(n, N_FEATURES))
        return x, (x @ w + 0.3 * rng.normal(size=n) > 0).astype(int)

    out = {}
    for name, n in (("train", n_train), ("validation", n_val)):
        x, y = sample(n)
        path = folder / name / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savetxt(path, np.column_stack([y, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * N_FEATURES)
        out[name] = path
    out["x_test"], out["y_test"] = sample(n_test)
    return out


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    """Environment for the SDK: AWS_* at the server, telemetry off and a default bucket via its config file;
    quick_sagemaker_sdk: the first look at a job after 1 s, not 5, and no 30 s between status looks."""
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-default",
                         region=REGION):
        yield server




def test_builtin_xgboost_fit_deploy_predict(sm_env, tmp_path, capfd):
    import sagemaker
    from sagemaker.deserializers import CSVDeserializer
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import CSVSerializer

    data = _dataset(tmp_path)
    session = sdk_session(REGION, "shipyard-e2e-xgboost")
    train_uri = session.upload_data(str(data["train"]), key_prefix="xgb/train")
    val_uri = session.upload_data(str(data["validation"]), key_prefix="xgb/validation")
    assert train_uri == "s3://shipyard-e2e-xgboost/xgb/train/train.csv"

    image = sagemaker.image_uris.retrieve("xgboost", REGION, "1.7-1")
    estimator = Estimator(
        image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
        hyperparameters={"objective": "binary:logistic", "eval_metric": "auc", "num_round": 30, "max_depth": 3},
        sagemaker_session=session)
    # fit(logs=True) is start + logs_for_job(wait=True, poll=10); the same call with poll=1 streams the same
    # lines without sleeping 10 s between looks.
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv"),
                   "validation": TrainingInput(val_uri, content_type="text/csv")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)

    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["ModelArtifacts"]["S3ModelArtifacts"].endswith("/output/model.tar.gz")
    assert estimator.model_data == desc["ModelArtifacts"]["S3ModelArtifacts"]
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("validation:auc", 0) > 0.85, metrics
    printed = capfd.readouterr().out
    assert "validation-auc" in printed  # the container's log lines were streamed by logs_for_job

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=CSVSerializer(), deserializer=CSVDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        rows = predictor.predict(data["x_test"])
        scores = [float(v) for row in rows for v in row if v.strip()]
        assert len(scores) == len(data["x_test"])
        assert all(0.0 <= s <= 1.0 for s in scores)
        accuracy = np.mean([(s >= 0.5) == y for s, y in zip(scores, data["y_test"])])
        assert accuracy >= 0.7, (scores, data["y_test"])
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)


TRAIN_SCRIPT = '''\
import argparse
import glob
import os

import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    return model.predict_proba(np.asarray(data, dtype=float))[:, 1]


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-C", "--C", type=float, default=1.0)  # one-letter keys arrive as -C (toolkit rule)
    parser.add_argument("--model-dir", default=os.environ.get("SM_MODEL_DIR"))
    parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAIN"))
    args, _ = parser.parse_known_args()
    files = sorted(glob.glob(os.path.join(args.train, "*.csv")))
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in files])
    model = LogisticRegression(C=args.C).fit(data[:, 1:], data[:, 0])
    print(f"C={args.C} train_accuracy={model.score(data[:, 1:], data[:, 0]):.4f}", flush=True)
    joblib.dump(model, os.path.join(args.model_dir, "model.joblib"))
'''


def test_sklearn_script_mode_fit_deploy_predict(sm_env, tmp_path, capfd):
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.inputs import TrainingInput
    from sagemaker.serializers import JSONSerializer
    from sagemaker.sklearn import SKLearn

    data = _dataset(tmp_path, seed=5)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN_SCRIPT)
    # No default_bucket argument: the SDK takes it from config.yaml, checks it with HeadBucket (404 -> create)
    session = sdk_session(REGION)
    assert session.default_bucket() == "shipyard-e2e-default"
    assert "shipyard-e2e-default" in [b["Name"] for b in sm_env.client("s3").list_buckets()["Buckets"]]
    train_uri = session.upload_data(str(data["train"].parent), key_prefix="sklearn/train")

    estimator = SKLearn(
        entry_point="train.py", source_dir=str(src), framework_version="1.2-1", py_version="py3",
        role=ROLE, instance_count=1, instance_type="ml.m5.large", hyperparameters={"C": 0.5},
        metric_definitions=[{"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"}],
        sagemaker_session=session)
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)  # fit(logs=True), poll 1 s

    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["HyperParameters"]["sagemaker_program"] == '"train.py"'
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("train:accuracy", 0) > 0.85, metrics
    assert "C=0.5 train_accuracy=" in capfd.readouterr().out  # hyperparameter reached the script as --C 0.5

    # deploy(wait=True) polls every 30 s; wait=False plus the session's own waiter with poll=1 is the same
    # SDK code path, only faster.
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False,
                                 serializer=JSONSerializer(), deserializer=JSONDeserializer())
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        scores = predictor.predict(data["x_test"].tolist())
        assert len(scores) == len(data["x_test"])
        assert all(0.0 <= s <= 1.0 for s in scores)
        accuracy = np.mean([(s >= 0.5) == y for s, y in zip(scores, data["y_test"])])
        assert accuracy >= 0.7, (scores, data["y_test"])
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)
