"""PyTorch (TorchScript), TensorFlow (Keras SavedModel) and ONNX models compile with equivalent outputs; int8
quantization reports its change; an operator torch.onnx cannot export fails the compilation naming it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.compile.core import compile_model
from shipyard.compile.spec import CompilationError

torch = pytest.importorskip("torch")


def _mlp_dir(tmp_path, module=None):
    torch.manual_seed(0)
    module = module or torch.nn.Sequential(torch.nn.Linear(6, 32), torch.nn.ReLU(), torch.nn.Linear(32, 3))
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.jit.save(torch.jit.script(module), str(model_dir / "model.pt"))
    return model_dir, module


def test_pytorch_torchscript_mlp(tmp_path):
    model_dir, module = _mlp_dir(tmp_path)
    report = compile_model(model_dir, "PYTORCH", '{"input0": [1, 6]}', "ml_g4dn", tmp_path / "out",
                           '{"optimization_level": "extended"}')
    assert report.inputs == [{"name": "input0", "shape": ["batch", 6], "dtype": "float32"}]
    assert report.target["execution_providers"][0] == "CUDAExecutionProvider"
    assert report.onnx["optimization"]["level"] == "basic"  # GPU targets stay portable
    assert report.verification["max_abs_diff"] < 1e-4
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(5, 6)).astype(np.float32)
    got = ort.InferenceSession(str(tmp_path / "out" / "model.onnx")).run(None, {"input0": x})[0]
    np.testing.assert_allclose(got, module(torch.from_numpy(x)).detach().numpy(), atol=1e-5)


def test_int8_quantization_reports_accuracy_change(tmp_path):
    model_dir, _ = _mlp_dir(tmp_path)
    report = compile_model(model_dir, "PYTORCH", '{"input0": [1, 6]}', "ml_c5", tmp_path / "out",
                           '{"quantize": "int8"}')
    q = json.loads((tmp_path / "out" / "compilation.json").read_text())["quantization"]
    assert q["mode"] == "int8-dynamic" and q["quantized_nodes"] > 0
    change = q["accuracy_change"]
    assert 0 < change["max_abs_diff"] < 0.5 and 0 <= change["argmax_agreement"] <= 1
    assert any("quantization" in o for o in report.optimizations)
    with pytest.raises(CompilationError, match="quantize_max_abs_diff"):
        compile_model(model_dir, "PYTORCH", '{"input0": [1, 6]}', "ml_c5", tmp_path / "out2",
                      '{"quantize": "int8", "quantize_max_abs_diff": 1e-9}')


class _Histogram(torch.nn.Module):
    def forward(self, x):
        return torch.histc(x, bins=4)


def test_pytorch_unexportable_operator_fails_with_its_name(tmp_path):
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    torch.jit.save(torch.jit.trace(_Histogram(), torch.zeros(2, 3)), str(model_dir / "model.pt"))
    with pytest.raises(CompilationError, match=r"uses operator aten::histc, which torch.onnx cannot export"):
        compile_model(model_dir, "PYTORCH", '{"input0": [2, 3]}', "ml_c5", tmp_path / "out")


def test_pytorch_needs_data_input_config(tmp_path):
    model_dir, _ = _mlp_dir(tmp_path)
    with pytest.raises(CompilationError, match="need DataInputConfig"):
        compile_model(model_dir, "PYTORCH", "", "ml_c5", tmp_path / "out")


def test_keras_savedmodel(tmp_path):
    tf = pytest.importorskip("tensorflow")
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(8, activation="relu"),
                                 tf.keras.layers.Dense(2, activation="softmax")])
    model.export(str(tmp_path / "model" / "1"), verbose=False)
    report = compile_model(tmp_path / "model", "TENSORFLOW", '{"inputs": [1, 4]}', "ml_m5", tmp_path / "out")
    assert report.serving["signature"] == "serving_default" and report.verification["max_abs_diff"] < 1e-5
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp_path / "out" / "model.onnx"))
    x = np.random.default_rng(2).normal(size=(3, 4)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: x})[0], model(x).numpy(),
                               atol=1e-5)


def test_onnx_passthrough(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    w = helper.make_tensor("w", TensorProto.FLOAT, [3, 2], np.arange(6, dtype=np.float32).tolist())
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y0"]), helper.make_node("Relu", ["y0"], ["y"])],
                              "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 2])], [w])
    (tmp_path / "model").mkdir()
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "model" / "m.onnx")
    report = compile_model(tmp_path / "model", "ONNX", "", "ml_c5", tmp_path / "out")
    assert report.converter == "passthrough" and report.verification["max_abs_diff"] == 0
    assert report.outputs[0]["name"] == "y"
    (tmp_path / "model" / "m.onnx").write_bytes(b"not onnx")
    with pytest.raises(CompilationError, match="not a valid ONNX model"):
        compile_model(tmp_path / "model", "ONNX", "", "ml_c5", tmp_path / "out2")
