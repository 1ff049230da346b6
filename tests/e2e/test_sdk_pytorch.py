"""sagemaker.pytorch.PyTorch, unmodified, against a real Shipyard server: fit, deploy, predict, delete.

The training script saves the model twice, as AWS's PyTorch examples do one or the other: ``model.pth`` (a
state_dict, loaded by the script's own ``model_fn``) and ``model.pt`` (TorchScript). The estimator's endpoint
serves with the script (the SDK repacks it into ``code/``) and the PyTorch predictor's default serializers
(NumpySerializer / NumpyDeserializer, application/x-npy) and with JSON; a second endpoint, a ``PyTorchModel``
with no entry point at all, is served by the PyTorch container's defaults (TorchScript ``model.pt``).
"""

from __future__ import annotations


import numpy as np
import pytest

from shipyard.testing.sdk import endpoint_gone, sdk_environment, sdk_session

pytest.importorskip("torch", reason="torch is in the test extra: pip install -e '.[test]'")
pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]

ROLE = "arn:aws:iam::123456789012:role/Shipyard"
REGION = "us-east-1"
N_FEATURES = 4

TRAIN_SCRIPT = '''\
import argparse
import glob
import os

import numpy as np
import torch


class Net(torch.nn.Module):
    def __init__(self, n_features=4, hidden=16):
        super().__init__()
        self.body = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
                                        torch.nn.Linear(hidden, 2))

    def forward(self, x):
        return self.body(x)


def model_fn(model_dir):
    model = Net()
    with open(os.path.join(model_dir, "model.pth"), "rb") as f:
        model.load_state_dict(torch.load(f))
    return model


def predict_fn(data, model):
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(data), dim=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=50)
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
    parser.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
    args, _ = parser.parse_known_args()
    torch.manual_seed(0)
    data = np.vstack([np.loadtxt(f, delimiter=",", ndmin=2) for f in sorted(glob.glob(args.train + "/*.csv"))])
    x, y = torch.tensor(data[:, 1:], dtype=torch.float32), torch.tensor(data[:, 0], dtype=torch.long)
    model = Net()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    for epoch in range(args.epochs):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
    accuracy = float((model(x).argmax(dim=1) == y).float().mean())
    print(f"epochs={args.epochs} loss={float(loss):.4f} train_accuracy={accuracy:.4f}", flush=True)
    torch.save(model.state_dict(), os.path.join(args.model_dir, "model.pth"))
    torch.jit.save(torch.jit.script(model.eval()), os.path.join(args.model_dir, "model.pt"))
'''


def _dataset(folder, seed=11, n_train=600, n_test=20):
    rng = np.random.default_rng(seed)
    w = rng.normal(size=N_FEATURES)

    def sample(n):
        x = rng.normal(size=(n, N_FEATURES)).astype(np.float32)
        return x, (x @ w > 0).astype(int)

    x, y = sample(n_train)
    path = folder / "train" / "train.csv"
    path.parent.mkdir(parents=True)
    np.savetxt(path, np.column_stack([y, x]), delimiter=",", fmt=["%d"] + ["%.6f"] * N_FEATURES)
    x_test, y_test = sample(n_test)
    return path, x_test, y_test


@pytest.fixture(scope="module")
def sm_env(server, tmp_path_factory, quick_sagemaker_sdk):
    with sdk_environment(server, tmp_path_factory.mktemp("sagemaker-config"), bucket="shipyard-e2e-pytorch",
                         region=REGION):
        yield server




def _accuracy(scores, y):
    scores = np.asarray(scores)
    assert scores.shape == (len(y), 2), scores.shape
    return float(np.mean(scores.argmax(axis=1) == y))


def test_pytorch_fit_deploy_predict_npy_json_and_torchscript_without_script(sm_env, tmp_path, capfd):
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.inputs import TrainingInput
    from sagemaker.pytorch import PyTorch, PyTorchModel, PyTorchPredictor
    from sagemaker.serializers import JSONSerializer

    train_csv, x_test, y_test = _dataset(tmp_path)
    src = tmp_path / "src"
    src.mkdir()
    (src / "train.py").write_text(TRAIN_SCRIPT)
    session = sdk_session(REGION)
    train_uri = session.upload_data(str(train_csv.parent), key_prefix="pytorch/train")

    estimator = PyTorch(entry_point="train.py", source_dir=str(src), framework_version="2.1", py_version="py310",
                        role=ROLE, instance_count=1, instance_type="ml.m5.large",
                        hyperparameters={"epochs": 60, "lr": 0.05},
                        metric_definitions=[{"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"}],
                        sagemaker_session=session)
    estimator.fit({"train": TrainingInput(train_uri, content_type="text/csv")}, wait=False)
    session.logs_for_job(estimator.latest_training_job.name, wait=True, poll=1)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    assert "pytorch-training:2.1-cpu-py310" in desc["AlgorithmSpecification"]["TrainingImage"]
    metrics = {m["MetricName"]: m["Value"] for m in desc.get("FinalMetricDataList", [])}
    assert metrics.get("train:accuracy", 0) > 0.9, metrics
    assert "epochs=60 " in capfd.readouterr().out

    # 1. the estimator's model with its script (model_fn + predict_fn), the PyTorch predictor's npy defaults
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False)
    assert isinstance(predictor, PyTorchPredictor)
    try:
        assert session.wait_for_endpoint(predictor.endpoint_name, poll=1)["EndpointStatus"] == "InService"
        probs = predictor.predict(x_test)  # float32 array -> application/x-npy both ways
        assert isinstance(probs, np.ndarray)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)  # the script's predict_fn: softmax
        assert _accuracy(probs, y_test) >= 0.8
        predictor.serializer, predictor.deserializer = JSONSerializer(), JSONDeserializer()
        as_json = predictor.predict(x_test.tolist())
        np.testing.assert_allclose(as_json, probs, rtol=1e-5)
    finally:
        predictor.delete_endpoint()
    assert endpoint_gone(sm_env, predictor.endpoint_name)

    # 2. the same artifact with no inference script: the container's default model_fn loads model.pt
    model = PyTorchModel(model_data=estimator.model_data, role=ROLE, framework_version="2.1", py_version="py310",
                         sagemaker_session=session)
    bare = model.deploy(initial_instance_count=1, instance_type="ml.m5.large", wait=False)
    try:
        assert session.wait_for_endpoint(bare.endpoint_name, poll=1)["EndpointStatus"] == "InService"
        container = session.sagemaker_client.describe_model(ModelName=model.name)["PrimaryContainer"]
        assert not container["Environment"].get("SAGEMAKER_PROGRAM")
        logits = bare.predict(x_test)  # TorchScript logits, not the script's softmax
        assert logits.shape == (len(y_test), 2) and not np.allclose(logits.sum(axis=1), 1.0)
        np.testing.assert_array_equal(logits.argmax(axis=1), probs.argmax(axis=1))
        assert _accuracy(logits, y_test) >= 0.8
    finally:
        bare.delete_endpoint()
    assert endpoint_gone(sm_env, bare.endpoint_name)
