"""Built-in linear learner, k-means, PCA and factorization machines models (AWS's ``model_algo-1`` forms, as
Shipyard's trainers write them) compile to ONNX graphs that answer as the algorithms' own handlers."""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.algorithms import aws_artifacts
from shipyard.algorithms.factorization_machines.handler import FactorizationMachinesHandler
from shipyard.algorithms.factorization_machines.train import to_aws as fm_to_aws
from shipyard.algorithms.kmeans.handler import KMeansHandler
from shipyard.algorithms.kmeans.model import to_aws as kmeans_to_aws
from shipyard.algorithms.linear_learner.handler import LinearLearnerHandler
from shipyard.algorithms.linear_learner.model import to_aws as ll_to_aws
from shipyard.algorithms.pca.handler import PCAHandler
from shipyard.algorithms.pca.train import to_aws as pca_to_aws
from shipyard.compile.core import compile_model
from shipyard.compile.spec import CompilationError

RNG = np.random.default_rng(3)
D = 6
X = RNG.normal(size=(9, D)).astype(np.float32)


def _onnx(out):
    import onnxruntime as ort

    session = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, {"data": X})))


def _compiled(tmp_path, artifact, meta, handler_cls):
    model_dir = tmp_path / "model"
    aws_artifacts.write(model_dir, artifact, meta)
    report = compile_model(model_dir, "MXNET", json.dumps({"data": [1, D]}), "ml_c5", tmp_path / "out")
    assert report.verification["max_abs_diff"] < 1e-4
    return report, _onnx(tmp_path / "out"), handler_cls(str(model_dir)).predict(X)


@pytest.mark.parametrize("ptype,loss,K", [("binary_classifier", "logistic", 1), ("multiclass_classifier",
                                          "softmax_loss", 3), ("regressor", "squared_loss", 1)])
def test_linear_learner(tmp_path, ptype, loss, K):
    meta = {"predictor_type": ptype, "loss": loss, "threshold": 0.4, "feature_dim": D, "num_classes": max(K, 2)}
    W, b = RNG.normal(size=(D, K)), RNG.normal(size=K)
    report, got, want = _compiled(tmp_path, ll_to_aws(meta, W, b), meta, LinearLearnerHandler)
    assert report.serving["algorithm"] == "linear-learner"
    np.testing.assert_allclose(got["score"], [p["score"] for p in want], atol=1e-5)
    if ptype != "regressor":
        np.testing.assert_array_equal(got["predicted_label"], [p["predicted_label"] for p in want])


def test_kmeans(tmp_path):
    report, got, want = _compiled(tmp_path, kmeans_to_aws(RNG.normal(size=(4, D))), None, KMeansHandler)
    np.testing.assert_array_equal(got["closest_cluster"], [p["closest_cluster"] for p in want])
    np.testing.assert_allclose(got["distance_to_cluster"], [p["distance_to_cluster"] for p in want], atol=1e-4)


def test_pca(tmp_path):
    comps = np.linalg.qr(RNG.normal(size=(D, 3)))[0].T
    artifact = pca_to_aws(RNG.normal(size=D), comps, np.array([3.0, 2.0, 1.0]))
    report, got, want = _compiled(tmp_path, artifact, None, PCAHandler)
    np.testing.assert_allclose(got["projection"], [p["projection"] for p in want], atol=1e-4)


def test_factorization_machines(tmp_path):
    meta = {"predictor_type": "binary_classifier", "feature_dim": D}
    artifact = fm_to_aws(meta, 0.1, RNG.normal(size=D) * 0.3, RNG.normal(size=(D, 2)) * 0.3)
    report, got, want = _compiled(tmp_path, artifact, meta, FactorizationMachinesHandler)
    np.testing.assert_allclose(got["score"], [p["score"] for p in want], atol=1e-5)


def test_mxnet_without_builtin_model_is_refused(tmp_path):
    (tmp_path / "model").mkdir()
    with pytest.raises(CompilationError, match="MXNet is retired. Supported frameworks: XGBOOST"):
        compile_model(tmp_path / "model", "MXNET", "", "ml_c5", tmp_path / "out")
