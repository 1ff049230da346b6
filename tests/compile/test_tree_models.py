"""XGBoost (built-in artifact forms) and scikit-learn models compile to ONNX that answers as the original."""

from __future__ import annotations

import json
import pickle

import joblib
import numpy as np
import pytest

from shipyard.compile.core import compile_model
from shipyard.compile.spec import CompilationError

xgb = pytest.importorskip("xgboost")
RNG = np.random.default_rng(0)
X = RNG.normal(size=(80, 5)).astype(np.float32)


def _run(out, feeds):
    import onnxruntime as ort

    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


@pytest.mark.parametrize("objective,label,extra,form", [
    ("binary:logistic", (X[:, 0] > 0).astype(int), {}, "json"),
    ("multi:softprob", (X[:, 0] > 0).astype(int) + (X[:, 1] > 0), {"num_class": 3}, "ubj"),
    ("reg:squarederror", X[:, 0] * 2 + X[:, 2], {}, "pickle"),
])
def test_xgboost_compiles_with_equivalent_outputs(tmp_path, objective, label, extra, form):
    booster = xgb.train({"objective": objective, "max_depth": 3, **extra}, xgb.DMatrix(X, label=label), 8)
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    if form == "pickle":
        (model_dir / "xgboost-model").write_bytes(pickle.dumps(booster))
    else:
        booster.save_model(str(model_dir / f"xgboost-model.{form}"))
        (model_dir / f"xgboost-model.{form}").rename(model_dir / "xgboost-model")
    report = compile_model(model_dir, "XGBOOST", '{"data": [1, 5]}', "ml_c5", tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "compilation.json").read_text())
    assert saved["serving"]["objective"] == objective
    assert saved["verification"]["max_abs_diff"] <= saved["verification"]["atol"]
    assert report.inputs[0]["name"] == "data" and report.inputs[0]["shape"][1] == 5
    assert saved["versions"]["onnxmltools"] and saved["target"]["execution_providers"] == ["CPUExecutionProvider"]
    outs = _run(tmp_path / "out", {"data": X[:10]})
    want = booster.predict(xgb.DMatrix(X[:10]))
    got = {"binary:logistic": lambda: outs[1][:, 1], "multi:softprob": lambda: outs[1],
           "reg:squarederror": lambda: outs[0].ravel()}[objective]()
    np.testing.assert_allclose(got, want, atol=1e-5)
    if objective == "multi:softprob":
        assert saved["serving"]["num_class"] == 3


def test_sklearn_pipeline_compiles(tmp_path):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    pipe = make_pipeline(StandardScaler(), LogisticRegression(max_iter=200)).fit(X, y)
    (tmp_path / "model").mkdir()
    joblib.dump(pipe, tmp_path / "model" / "model.joblib")
    report = compile_model(tmp_path / "model", "SKLEARN", "", '{"Os": "LINUX", "Arch": "X86_64"}', tmp_path / "out")
    assert [o["name"] for o in report.outputs] == ["label", "probabilities"]
    assert report.serving["classes"] == [0, 1, 2] and report.serving["estimator"] == "LogisticRegression"
    label, proba = _run(tmp_path / "out", {"input": X[:7]})
    np.testing.assert_array_equal(label, pipe.predict(X[:7]))
    np.testing.assert_allclose(proba, pipe.predict_proba(X[:7]), atol=1e-4)


def test_sklearn_estimator_without_converter_fails_with_its_name(tmp_path):
    from sklearn.kernel_ridge import KernelRidge

    (tmp_path / "model").mkdir()
    joblib.dump(KernelRidge().fit(X, X[:, 0]), tmp_path / "model" / "model.joblib")
    with pytest.raises(CompilationError, match="no converter for KernelRidge"):
        compile_model(tmp_path / "model", "SKLEARN", '{"input": [1, 5]}', "ml_m5", tmp_path / "out")


def test_wrong_feature_count_is_refused(tmp_path):
    booster = xgb.train({"objective": "reg:squarederror"}, xgb.DMatrix(X, label=X[:, 0]), 2)
    (tmp_path / "model").mkdir()
    booster.save_model(str(tmp_path / "model" / "xgboost-model.json"))
    with pytest.raises(CompilationError, match="declares 7 features but the XGBoost model was trained on 5"):
        compile_model(tmp_path / "model", "XGBOOST", '{"data": [1, 7]}', "ml_c5", tmp_path / "out")


def test_xgbclassifier_joblib_compiles(tmp_path):
    clf = xgb.XGBClassifier(n_estimators=5, max_depth=2).fit(X, (X[:, 3] > 0).astype(int))
    (tmp_path / "model").mkdir()
    joblib.dump(clf, tmp_path / "model" / "xgboost-model")
    report = compile_model(tmp_path / "model", "xgboost", "", "ml_m5", tmp_path / "out")
    assert report.serving["objective"] == "binary:logistic" and report.inputs[0]["shape"] == ["dynamic", 5]
    np.testing.assert_allclose(_run(tmp_path / "out", {"data": X[:6]})[1][:, 1], clf.predict_proba(X[:6])[:, 1],
                               atol=1e-5)
