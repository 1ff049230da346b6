"""The SageMaker SDK's TensorFlow estimator, unmodified, against a real Shipyard server: script mode with a
Keras model saved as a SavedModel under SM_MODEL_DIR/1, deployed to a tensorflow-inference endpoint and
called through the SDK's TensorFlowPredictor (TensorFlow Serving's REST contract)."""

from __future__ import annotations


import numpy as np
import pytest

from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytest.importorskip("tensorflow", reason="TensorFlow is not installed (pip install 'shipyard[tensorflow]')")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"

TRAIN_SCRIPT = '''\
import argparse
import glob
import json
import os

import numpy as np
import tensorflow as tf

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=1)
parser.add_argument("--model_dir", type=str)  # passed by the SDK's TensorFlow estimator
parser.add_argument("--sm-model-dir", default=os.environ.get("SM_MODEL_DIR"))
parser.add_argument("--train", default=os.environ.get("SM_CHANNEL_TRAINING"))
args, _ = parser.parse_known_args()

data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in sorted(glob.glob(args.train + "/*.csv"))])
x, y = data[:, 1:].astype("float32"), data[:, 0].astype("int32")
tf.keras.utils.set_random_seed(0)
model = tf.keras.Sequential([tf.keras.Input((x.shape[1],)), tf.keras.layers.Dense(16, activation="relu"),
                             tf.keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer=tf.keras.optimizers.Adam(0.05), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
history = model.fit(x, y, epochs=args.epochs, batch_size=32, verbose=2)
print("train_accuracy=%.4f" % history.history["accuracy"][-1], flush=True)
print("model_dir=" + str(args.model_dir), flush=True)
path = os.path.join(args.sm_model_dir, "1")  # TF Serving's <version>/saved_model.pb layout
if hasattr(model, "export"):  # Keras 3 (and 2.13+): a SavedModel with a serving_default signature
    model.export(path)
else:
    tf.saved_model.save(model, path)
'''


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-tf",
                         region=REGION):
        yield server




def test_tensorflow_script_mode_fit_deploy_predict(sm_env, tmp_path, capfd):
    from sagemaker.inputs import TrainingInput
    from sagemaker.tensorflow import TensorFlow, TensorFlowPredictor

    rng = np.random.default_rng(7)
    w = rng.normal(size=4)
    x = rng.normal(size=(400, 4))
    y = (x @ w > 0).astype(int)
    (tmp_path / "data").mkdir()
    np.savetxt(tmp_path / "data" / "train.csv", np.column_stack([y, x]), delimiter=",", fmt="%.6f")
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN_SCRIPT)

    session = sdk_session(REGION)
    train_uri = session.upload_data(str(tmp_path / "data"), key_prefix="tf/train")
    estimator = TensorFlow(entry_point="train.py", source_dir=str(src), framework_version="2.13",
                           py_version="py310", role=ROLE, instance_count=1, instance_type="ml.m5.large",
                           hyperparameters={"epochs": 8}, sagemaker_session=session,
                           metric_definitions=[{"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"}])
    estimator.fit({"training": TrainingInput(train_uri, content_type="text/csv")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["HyperParameters"]["model_dir"].startswith('"s3://')  # the SDK's model_dir hyperparameter
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("train:accuracy", 0) > 0.85, metrics
    assert "model_dir=" in capfd.readouterr().out

    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False)
    assert isinstance(predictor, TensorFlowPredictor)
    assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
    try:
        rows = x[:20].tolist()
        result = predictor.predict({"instances": rows})  # TF Serving's row format
        probs = np.asarray(result["predictions"])
        assert probs.shape == (20, 2) and np.allclose(probs.sum(axis=1), 1, atol=1e-4)
        assert np.mean(probs.argmax(axis=1) == y[:20]) >= 0.8
        bare = predictor.predict(rows)  # a bare list of instances, as the container takes it
        np.testing.assert_allclose(bare["predictions"], probs, rtol=1e-5)
        columnar = predictor.predict({"inputs": rows[:3]})
        np.testing.assert_allclose(columnar["outputs"], probs[:3], rtol=1e-5)
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)
