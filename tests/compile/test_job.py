"""The job's command line (N2's interface) and the requests refused before any framework loads."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from shipyard.compile.core import compile_model, parse_options
from shipyard.compile.spec import CompilationError, parse_data_input_config
from shipyard.compile.targets import resolve_target


def _job(tmp_path, model_dir, framework, target, config="", options=""):
    args = [sys.executable, "-m", "shipyard.compile.job", "--model-dir", str(model_dir), "--framework", framework,
            "--data-input-config", config, "--target", target, "--out", str(tmp_path / "out")]
    if options:
        args += ["--compiler-options", options]
    return subprocess.run(args, capture_output=True, text=True, timeout=120)


def test_job_writes_model_and_report(tmp_path):
    xgb = pytest.importorskip("xgboost")
    x = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    (tmp_path / "model").mkdir()
    booster = xgb.train({"objective": "multi:softmax", "num_class": 3, "max_depth": 2},
                        xgb.DMatrix(x, label=(x[:, 0] > 0).astype(int) + (x[:, 1] > 0)), 4)
    booster.save_model(str(tmp_path / "model" / "xgboost-model.json"))
    (tmp_path / "model" / "xgboost-model.json").rename(tmp_path / "model" / "xgboost-model")
    done = _job(tmp_path, tmp_path / "model", "XGBOOST", "ml_c5", '{"data": [1, 3]}')
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((tmp_path / "out" / "compilation.json").read_text())
    assert report["serving"] == {"kind": "xgboost", "objective": "multi:softmax", "num_class": 3,
                                 "num_features": 3, "output_map": "label"}
    assert (tmp_path / "out" / "model.onnx").stat().st_size > 0 and not (tmp_path / "out" / "failure").exists()


def test_job_failure_writes_one_line_reason(tmp_path):
    (tmp_path / "model").mkdir()
    done = _job(tmp_path, tmp_path / "model", "MXNET", "ml_c5")
    assert done.returncode == 2
    reason = (tmp_path / "out" / "failure").read_text()
    assert reason.startswith("ClientError: Framework 'MXNET' cannot be compiled here")
    assert "XGBOOST, SKLEARN, PYTORCH, TENSORFLOW, ONNX" in reason and reason.count("\n") == 1


@pytest.mark.parametrize("target,why", [("ml_inf1", "Neuron"), ("jetson_nano", "edge devices"),
                                        ("x86_win64", "Windows"),
                                        ('{"Os": "ANDROID", "Arch": "ARM64"}', "only Os LINUX with Arch X86_64"),
                                        ('{"Os": "LINUX", "Arch": "X86_64", "Accelerator": "MALI"}', "NVIDIA")])
def test_unsupported_targets_are_refused(tmp_path, target, why):
    with pytest.raises(CompilationError, match=why):
        compile_model(tmp_path, "XGBOOST", "", target, tmp_path / "out")


def test_targets_pick_execution_providers():
    assert resolve_target("ml_p3")["execution_providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    nvidia = resolve_target('{"Os": "LINUX", "Arch": "X86_64", "Accelerator": "NVIDIA"}')
    assert nvidia["execution_providers"][0] == "CUDAExecutionProvider"
    assert resolve_target("ml_m5")["execution_providers"] == ["CPUExecutionProvider"]


@pytest.mark.parametrize("framework", ["KERAS", "TFLITE", "DARKNET", "caffe"])
def test_unsupported_frameworks_are_refused(tmp_path, framework):
    with pytest.raises(CompilationError, match="Supported frameworks: XGBOOST, SKLEARN"):
        compile_model(tmp_path, framework, "", "ml_c5", tmp_path / "out")


def test_data_input_config_forms():
    assert [(s.name, s.shape) for s in parse_data_input_config('{"input0": [1, 3, 224, 224]}')] == \
        [("input0", [1, 3, 224, 224])]
    assert [s.shape for s in parse_data_input_config("[[1, 3], [1, 4]]")] == [[1, 3], [1, 4]]
    assert parse_data_input_config("[1, 13]")[0].shape == [1, 13]
    assert parse_data_input_config('[{"shape": [1, 2], "dtype": "int64"}]')[0].dtype == "int64"
    for bad, why in [("{", "not valid JSON"), ('{"x": [1, 0]}', "positive integers"), ('{"x": "a"}', "shape")]:
        with pytest.raises(CompilationError, match=why):
            parse_data_input_config(bad)


def test_compiler_options():
    assert parse_options("")["optimization_level"] == "basic"
    assert parse_options('{"mcpu": "core-avx2", "quantize": "int8"}')["ignored"] == ["mcpu"]
    for bad, why in [('{"quantise": "int8"}', "Unknown CompilerOptions"), ('{"quantize": "int4"}', "int8"),
                     ('{"optimization_level": "max"}', "disable, basic"), ('{"opset": 3}', "outside")]:
        with pytest.raises(CompilationError, match=why):
            parse_options(bad)
