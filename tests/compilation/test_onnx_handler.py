"""The ONNX model server handler answers on the original container's contract (no server: the handler itself).

Compiled models here are built in the test: a scikit-learn pipeline with skl2onnx, and a linear layer written
as an ONNX graph (what a PyTorch or TensorFlow model compiles to, for the contracts' encoding).
"""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

from shipyard.errors import ValidationError
from shipyard.serving.deploy import prepare
from shipyard.serving.frameworks.onnx import OnnxHandler, serving_args


def _linear_onnx(w: np.ndarray, b: np.ndarray) -> bytes:
    from onnx import TensorProto, helper, numpy_helper

    graph = helper.make_graph(
        [helper.make_node("MatMul", ["input0", "W"], ["mm"]), helper.make_node("Add", ["mm", "B"], ["output0"])],
        "linear", [helper.make_tensor_value_info("input0", TensorProto.FLOAT, [None, w.shape[0]])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [None, w.shape[1]])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "B")])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]).SerializeToString()


def _model_dir(tmp_path, onnx_bytes: bytes, report: dict):
    (tmp_path / "model.onnx").write_bytes(onnx_bytes)
    (tmp_path / "compilation.json").write_text(json.dumps(report))
    return str(tmp_path)


W = np.arange(12, dtype=np.float32).reshape(4, 3) / 10
B = np.array([0.5, -0.5, 1.0], dtype=np.float32)
X = np.array([[1, 2, 3, 4], [0.5, 0, -1, 2]], dtype=np.float32)


def test_pytorch_contract_json_npy_csv(tmp_path):
    h = OnnxHandler(_model_dir(tmp_path, _linear_onnx(W, B), {"framework": "pytorch"}))
    want = X @ W + B
    body, ctype = h.invoke(json.dumps(X.tolist()).encode(), "application/json", "application/json")
    assert ctype == "application/json"
    np.testing.assert_allclose(np.array(json.loads(body)), want, rtol=1e-6)
    buf = io.BytesIO()
    np.save(buf, X)
    body, ctype = h.invoke(buf.getvalue(), "application/x-npy", "application/x-npy")
    np.testing.assert_allclose(np.load(io.BytesIO(body)), want, rtol=1e-6)
    body, _ = h.invoke(b"1,2,3,4\n0.5,0,-1,2", "text/csv", "text/csv")
    np.testing.assert_allclose(np.loadtxt(io.StringIO(body.decode()), delimiter=","), want, rtol=1e-6)
    with pytest.raises(ValidationError, match="could not run"):
        h.invoke(b"[[1, 2]]", "application/json", "application/json")


def test_tensorflow_contract_instances_and_inputs(tmp_path):
    h = OnnxHandler(_model_dir(tmp_path, _linear_onnx(W, B), {"framework": "TENSORFLOW"}))
    want = (X @ W + B).tolist()
    body, _ = h.invoke(json.dumps({"instances": X.tolist()}).encode(), "application/json", "")
    np.testing.assert_allclose(json.loads(body)["predictions"], want, rtol=1e-6)
    body, _ = h.invoke(json.dumps({"inputs": {"input0": X.tolist()}}).encode(), "application/json", "")
    np.testing.assert_allclose(json.loads(body)["outputs"], want, rtol=1e-6)
    with pytest.raises(ValidationError, match="JSON"):
        h.invoke(b"{nope", "application/json", "")


def test_sklearn_pipeline_answers_its_labels(tmp_path):
    from skl2onnx import to_onnx
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(1)
    x = rng.normal(size=(200, 4)).astype(np.float32)
    y = (x[:, 0] - x[:, 2] > 0).astype(np.int64)
    pipe = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    onx = to_onnx(pipe, x[:1], options={id(pipe.steps[-1][1]): {"zipmap": False}}).SerializeToString()
    h = OnnxHandler(_model_dir(tmp_path, onx, {"framework": "sklearn", "serving": {"kind": "sklearn"}}))
    body, _ = h.invoke(json.dumps(x[:10].tolist()).encode(), "application/json", "application/json")
    assert json.loads(body) == pipe.predict(x[:10]).tolist()


def test_neo_image_selects_the_onnx_handler(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    assert serving_args(model_dir, None, None) is None
    (model_dir / "model.onnx").write_bytes(_linear_onnx(W, B))
    assert serving_args(model_dir, None, None) == ["--handler", "shipyard.serving.frameworks.onnx:OnnxHandler"]
    from shipyard.algorithms.registry import is_container_image

    # the images the SDK deploys compiled models with are served by the model server, not run as containers
    for image in ("301217895009.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest",
                  "763104351884.dkr.ecr.us-east-1.amazonaws.com/sagemaker-inference-pytorch:1.13-cpu-py3"):
        assert not is_container_image(image)


def test_missing_model_onnx_is_a_deploy_error(tmp_path):
    from shipyard.serving.deploy import DeployError

    with pytest.raises(DeployError, match="no model.onnx"):
        prepare(object(), {"Image": "301217895009.dkr.ecr.us-east-1.amazonaws.com/xgboost-neo:latest"}, tmp_path, 0)
