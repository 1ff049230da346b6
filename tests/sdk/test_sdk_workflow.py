"""The Shipyard SDK's own workflow against a real server: script mode fit/deploy/predict, and failures."""

from __future__ import annotations

import io

import numpy as np
import pytest

from shipyard.sdk import Estimator, JSONDeserializer, JSONSerializer, Session, TrainingInput, UnexpectedStatusError

pytestmark = pytest.mark.timeout(180)

SCRIPT = '''\
import argparse, glob, os
import joblib
import numpy as np
from sklearn.linear_model import LogisticRegression


def model_fn(model_dir):
    return joblib.load(os.path.join(model_dir, "model.joblib"))


def predict_fn(data, model):
    return model.predict_proba(np.asarray(data, dtype=float))[:, 1]


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--max-iter", type=int, default=5)
    args, _ = p.parse_known_args()
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2)
                      for f in glob.glob(os.path.join(os.environ["SM_CHANNEL_TRAIN"], "*.csv"))])
    if len(data) < 10:
        raise SystemExit("not enough rows to train on")
    model = LogisticRegression(max_iter=args.max_iter).fit(data[:, 1:], data[:, 0])
    print(f"max_iter={args.max_iter} accuracy={model.score(data[:, 1:], data[:, 0]):.4f}", flush=True)
    joblib.dump(model, os.path.join(os.environ["SM_MODEL_DIR"], "model.joblib"))
'''


def _session(server) -> Session:
    key_id, secret = server.keys()
    return Session(endpoint_url=server.url, access_key_id=key_id, secret_access_key=secret, region=server.region)


def _upload_rows(session, rows: np.ndarray, prefix: str) -> str:
    buf = io.BytesIO()
    np.savetxt(buf, rows, delimiter=",", fmt="%.5f")
    bucket = session.default_bucket()
    session.upload_bytes(buf.getvalue(), bucket, f"{prefix}/data.csv")
    return f"s3://{bucket}/{prefix}"


def test_script_mode_fit_deploy_predict(server, tmp_path, capsys):
    session = _session(server)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] - x[:, 1] > 0).astype(float)
    train = _upload_rows(session, np.column_stack([y, x]), "sdk-script/train")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "train.py").write_text(SCRIPT)

    est = Estimator("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
                    entry_point="train.py", source_dir=str(tmp_path / "src"), session=session,
                    hyperparameters={"max-iter": 200},
                    metric_definitions=[{"Name": "train:accuracy", "Regex": r"accuracy=([0-9.]+)"}])
    assert est.fit({"train": TrainingInput(train, content_type="text/csv")}) is est
    out = capsys.readouterr().out
    assert "max_iter=200 accuracy=" in out          # logs streamed; hyperparameter reached the script
    assert f"{est.latest_training_job}: Completed" in out  # status changes printed
    assert est.final_metrics["train:accuracy"] > 0.9
    assert est.model_data.endswith(f"{est.latest_training_job}/output/model.tar.gz")

    predictor = est.deploy(serializer=JSONSerializer(), deserializer=JSONDeserializer())
    try:
        scores = predictor.predict([[2.0, -2.0, 0.0], [-2.0, 2.0, 0.0]])
        assert scores[0] > 0.8 and scores[1] < 0.2
    finally:
        predictor.delete_endpoint()
        predictor.delete_model()
    sm = session.sagemaker_client
    assert predictor.endpoint_name not in [m["ModelName"] for m in sm.list_models()["Models"]]
    assert predictor.endpoint_name not in [c["EndpointConfigName"] for c in sm.list_endpoint_configs()["EndpointConfigs"]]


def test_failed_job_raises_with_reason(server, tmp_path):
    session = _session(server)
    train = _upload_rows(session, np.ones((3, 2)), "sdk-script/tiny")
    (tmp_path / "train.py").write_text(SCRIPT)
    est = Estimator("sklearn", entry_point=str(tmp_path / "train.py"), session=session)
    with pytest.raises(UnexpectedStatusError) as info:
        est.fit({"train": train}, logs=False)
    assert info.value.status == "Failed"
    assert "not enough rows" in info.value.reason
    assert "not enough rows" in str(info.value)
