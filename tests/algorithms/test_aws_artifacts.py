"""Built-in algorithms' model artifacts in AWS's formats, both ways: a model_algo-1 written the way AWS's
containers (and the AWS examples) write it deploys on Shipyard, and a model trained on Shipyard holds a
model_algo-1 that loads the way the AWS notebooks load it (mx.ndarray.load / an MXNet module checkpoint)."""

from __future__ import annotations

import io
import json
import struct
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hosting"))
from hosting_helpers import tarball, upload, wait_in_service, wait_until  # noqa: E402

from shipyard.algorithms import aws_artifacts  # noqa: E402
from shipyard.algorithms.factorization_machines.handler import FactorizationMachinesHandler  # noqa: E402
from shipyard.algorithms.factorization_machines.train import fm_scores  # noqa: E402
from shipyard.algorithms.kmeans.handler import KMeansHandler  # noqa: E402
from shipyard.algorithms.knn.handler import KNNHandler  # noqa: E402
from shipyard.algorithms.linear_learner.handler import LinearLearnerHandler  # noqa: E402
from shipyard.algorithms.pca.handler import PCAHandler  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.io import ndarray  # noqa: E402
from shipyard.testing.algorithm_harness import CSV, RECORDIO, Dataset, encode, prepare_job, run_training  # noqa: E402

REGISTRY = "382416733822.dkr.ecr.us-east-1.amazonaws.com"
ROLE = "arn:aws:iam::123456789012:role/SageMakerRole"


def _train(tmp_path: Path, module: str, hps: dict, channels: dict, labelled=True, fmt=CSV):
    prepare_job(tmp_path, hps, {n: encode(d, fmt, labelled) for n, d in channels.items()})
    r = run_training(module, tmp_path, timeout=120)
    assert r.returncode == 0, r.output
    return r.model_dir


def _deploy(server, name: str, repo: str, files: dict[str, bytes]):
    sm, s3 = server.client("sagemaker"), server.client("s3")
    url = upload(s3, "aws-artifacts", f"{name}/model.tar.gz", tarball(files))
    sm.create_model(ModelName=name, PrimaryContainer={"Image": f"{REGISTRY}/{repo}:1", "ModelDataUrl": url},
                    ExecutionRoleArn=ROLE)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def _delete(server, name: str):
    sm = server.client("sagemaker")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 60})


def _invoke(server, name: str, X: np.ndarray) -> list[dict]:
    body = "\n".join(",".join(repr(float(v)) for v in row) for row in X).encode()
    r = server.client("sagemaker-runtime").invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv",
                                                            Accept="application/json")
    doc = json.loads(r["Body"].read())
    return doc.get("predictions", doc.get("projections"))


def _clusters(n=300, d=5, seed=0):
    rng = np.random.default_rng(seed)
    centers = np.array([[8.0] * d, [-8.0] * d, [8.0, -8.0] * (d // 2) + [0.0] * (d % 2)])
    X = (centers[rng.integers(0, 3, n)] + rng.normal(size=(n, d))).astype(np.float32)
    return X, centers


# ------------------------------------------------------------------ k-means
def test_kmeans_bring_your_own_model_through_an_endpoint(server):
    """AWS's "k-means bring your own model" example: mx.ndarray.save('model_algo-1', [mx.nd.array(centroids)])
    tarred as model.tar.gz, deployed with the kmeans image."""
    X, centers = _clusters()
    model_algo = ndarray.dumps([centers.astype(np.float32)])
    _deploy(server, "km-byom", "kmeans", {"model_algo-1": model_algo})
    try:
        wait_in_service(server.client("sagemaker"), "km-byom", 120)
        preds = _invoke(server, "km-byom", X[:20])
        d2 = ((X[:20, None, :] - centers[None]) ** 2).sum(-1)
        assert [p["closest_cluster"] for p in preds] == d2.argmin(1).tolist()
        np.testing.assert_allclose([p["distance_to_cluster"] for p in preds], np.sqrt(d2.min(1)), rtol=1e-4)
    finally:
        _delete(server, "km-byom")


def test_kmeans_trained_here_writes_the_aws_form(tmp_path):
    X, centers = _clusters()
    model_dir = _train(tmp_path, "shipyard.algorithms.kmeans.train",
                       {"k": "3", "feature_dim": "5", "mini_batch_size": "100", "epochs": "3"},
                       {"train": Dataset(X, None)}, labelled=False)
    raw = (model_dir / "model_algo-1").read_bytes()
    assert ndarray.is_ndarray_file(raw)
    (learned,) = ndarray.loads(raw)  # mx.ndarray.load('model_algo-1')[0]
    assert learned.shape == (3, 5) and learned.dtype == np.float32
    # each true center has a learned centroid next to it
    assert np.abs(learned[:, None, :] - centers[None]).sum(-1).min(0).max() < 1.0
    h = KMeansHandler(str(model_dir))
    assert h.meta["k"] == 3 and h.meta["feature_dim"] == 5
    assert len({p["closest_cluster"] for p in h.predict(centers.astype(np.float32))}) == 3


def test_kmeans_still_reads_shipyards_older_npz(tmp_path):
    C = np.eye(3, dtype=np.float32)
    buf = io.BytesIO()
    np.savez(buf, __meta__=np.array(json.dumps({"feature_dim": 3, "k": 3})), centers=C)
    (tmp_path / "model_algo-1").write_bytes(buf.getvalue())
    assert [p["closest_cluster"] for p in KMeansHandler(str(tmp_path)).predict(C[::-1].copy())] == [2, 1, 0]


def test_kmeans_bad_artifacts_say_why(tmp_path):
    with pytest.raises(ValidationError, match="Model file model_algo-1 not found.*README"):
        (tmp_path / "README").write_text("x")
        KMeansHandler(str(tmp_path))
    (tmp_path / "model_algo-1").write_bytes(ndarray.dumps({"a": np.ones(3), "b": np.ones(3)}))
    with pytest.raises(ValidationError, match=r"as a k-means model: expected one k x feature_dim array"):
        KMeansHandler(str(tmp_path))
    (tmp_path / "model_algo-1").write_bytes(b"garbage!" * 4)
    with pytest.raises(ValidationError, match=r"unrecognised bytes .*not an MXNet NDArray file"):
        KMeansHandler(str(tmp_path))


def test_corrupt_kmeans_model_fails_the_endpoint_with_the_reason(server):
    sm = server.client("sagemaker")
    good = ndarray.dumps([np.ones((2, 3), np.float32)])
    _deploy(server, "km-corrupt", "kmeans", {"model_algo-1": good[:-7]})
    d = wait_until(lambda: (x := sm.describe_endpoint(EndpointName="km-corrupt"))["EndpointStatus"] == "Failed"
                   and x, 120, what="Failed")
    assert "Could not load model_algo-1" in d["FailureReason"] and "truncated" in d["FailureReason"]
    _delete(server, "km-corrupt")


# ------------------------------------------------------------------ PCA
def _aws_pca(D=6, k=3, seed=3):
    """A model_algo-1 the way AWS's PCA writes it: mean 1 x D, v D x k and s, smallest component first."""
    rng = np.random.default_rng(seed)
    Q, _ = np.linalg.qr(rng.normal(size=(D, D)))
    s = np.array([2.0, 5.0, 9.0][:k], np.float32)           # ascending, as in the AWS notebooks
    v = Q[:, :k].astype(np.float32)                         # column j goes with s[j]
    mean = rng.normal(size=(1, D)).astype(np.float32)
    return {"mean": mean, "v": v, "s": s}


def test_pca_aws_model_through_an_endpoint(server):
    m = _aws_pca()
    _deploy(server, "pca-aws", "pca", {"model_algo-1": ndarray.dumps(m)})
    X = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    try:
        wait_in_service(server.client("sagemaker"), "pca-aws", 120)
        got = np.array([p["projection"] for p in _invoke(server, "pca-aws", X)])
        # Shipyard answers components by descending variance: the AWS columns reversed
        expected = (X - m["mean"]) @ m["v"][:, ::-1]
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    finally:
        _delete(server, "pca-aws")


def test_pca_trained_here_writes_the_aws_form(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(400, 6)) * [5, 3, 1, 0.5, 0.2, 0.1] + 2.0).astype(np.float32)
    model_dir = _train(tmp_path, "shipyard.algorithms.pca.train",
                       {"feature_dim": "6", "num_components": "3", "mini_batch_size": "100"},
                       {"train": Dataset(X, None)}, labelled=False)
    params = ndarray.load(model_dir / "model_algo-1")  # pca_model_params = mx.ndarray.load('model_algo-1')
    assert sorted(params) == ["mean", "s", "v"]
    assert params["mean"].shape == (1, 6) and params["v"].shape == (6, 3) and params["s"].shape == (3,)
    assert np.all(np.diff(params["s"]) > 0)  # smallest first, largest last
    np.testing.assert_allclose(params["mean"][0], X.mean(0), rtol=1e-4, atol=1e-4)
    # the largest component (last column) is the first feature's axis
    assert abs(params["v"][0, -1]) > 0.99
    proj = np.array([p["projection"] for p in PCAHandler(str(model_dir)).predict(X[:4])])
    np.testing.assert_allclose(np.abs(proj), np.abs((X[:4] - params["mean"]) @ params["v"][:, ::-1]), rtol=1e-4,
                               atol=1e-4)


# ------------------------------------------------------------------ linear learner
def test_linear_learner_trained_here_is_an_mxnet_module_checkpoint(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 4)).astype(np.float32)
    y = (X @ np.array([2.0, -1.0, 0.5, 0.0]) > 0).astype(np.float32)
    model_dir = _train(tmp_path, "shipyard.algorithms.linear_learner.train",
                       {"predictor_type": "binary_classifier", "mini_batch_size": "50", "epochs": "5"},
                       {"train": Dataset(X, y)})
    raw = (model_dir / "model_algo-1").read_bytes()
    with zipfile.ZipFile(io.BytesIO(raw)) as z:  # unzip model_algo-1
        assert sorted(z.namelist()) == ["mx-mod-0000.params", "mx-mod-symbol.json"]
        params = ndarray.loads(z.read("mx-mod-0000.params"))
        symbol = json.loads(z.read("mx-mod-symbol.json"))
    assert sorted(params) == ["arg:fc0_bias", "arg:fc0_weight"]
    assert params["arg:fc0_weight"].shape == (1, 4) and params["arg:fc0_bias"].shape == (1,)
    names = [n["name"] for n in symbol["nodes"]]
    assert {"data", "fc0_weight", "fc0_bias", "fc0", "out_label"} <= set(names)
    assert symbol["nodes"][symbol["heads"][0][0]]["op"] == "LogisticRegressionOutput"
    # predictions from the checkpoint alone (what mod.predict computes) match the handler's scores
    w, b = params["arg:fc0_weight"], params["arg:fc0_bias"]
    probs = 1 / (1 + np.exp(-(X[:10] @ w.T + b)))[:, 0]
    h = LinearLearnerHandler(str(model_dir))
    np.testing.assert_allclose([p["score"] for p in h.predict(X[:10])], probs, rtol=1e-5)
    assert np.mean([p["predicted_label"] for p in h.predict(X)] == y) > 0.9


def test_linear_learner_aws_model_without_shipyard_meta_through_an_endpoint(server):
    """Only model_algo-1 (as AWS writes it, no shipyard-meta.json): multiclass via a softmax output."""
    rng = np.random.default_rng(2)
    W, b = rng.normal(size=(3, 4)).astype(np.float32), rng.normal(size=3).astype(np.float32)
    symbol = aws_artifacts.symbol_json([
        {"op": "null", "name": "data"}, {"op": "null", "name": "fc0_weight"}, {"op": "null", "name": "fc0_bias"},
        {"op": "FullyConnected", "name": "fc0", "attrs": {"num_hidden": 3}, "inputs": [0, 1, 2]},
        {"op": "null", "name": "out_label"}, {"op": "SoftmaxOutput", "name": "out", "inputs": [3, 4]}], [5])
    model_algo = aws_artifacts.zip_bytes({"mx-mod-symbol.json": symbol, "mx-mod-0000.params": ndarray.dumps(
        {"arg:fc0_weight": W, "arg:fc0_bias": b}), "manifest.json": b'{"algorithm": "linear-learner"}'})
    _deploy(server, "ll-aws", "linear-learner", {"model_algo-1": model_algo})
    X = rng.normal(size=(6, 4)).astype(np.float32)
    try:
        wait_in_service(server.client("sagemaker"), "ll-aws", 120)
        preds = _invoke(server, "ll-aws", X)
        S = X @ W.T + b
        P = np.exp(S - S.max(1, keepdims=True))
        P /= P.sum(1, keepdims=True)
        np.testing.assert_allclose([p["score"] for p in preds], P, rtol=1e-4, atol=1e-6)
        assert [p["predicted_label"] for p in preds] == P.argmax(1).tolist()
    finally:
        _delete(server, "ll-aws")


# ------------------------------------------------------------------ factorization machines
def test_factorization_machines_round_trip_in_the_aws_form(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 5)).astype(np.float32)
    y = (X[:, 0] * X[:, 1] + 0.5 * X[:, 2] > 0).astype(np.float32)
    model_dir = _train(tmp_path, "shipyard.algorithms.factorization_machines.train",
                       {"feature_dim": "5", "num_factors": "4", "predictor_type": "binary_classifier",
                        "mini_batch_size": "50", "epochs": "5"}, {"train": Dataset(X, y)}, fmt=RECORDIO)
    with zipfile.ZipFile(io.BytesIO((model_dir / "model_algo-1").read_bytes())) as z:
        assert sorted(z.namelist()) == ["params", "symbol.json"]
        params = ndarray.loads(z.read("params"))
        json.loads(z.read("symbol.json"))
    assert params["arg:v"].shape == (5, 4) and params["arg:w1_weight"].shape == (5, 1)
    assert params["arg:w0_weight"].shape == (1,)
    s, _, _ = fm_scores(X[:8].astype(np.float64), float(params["arg:w0_weight"][0]),
                        params["arg:w1_weight"].ravel().astype(np.float64), params["arg:v"].astype(np.float64))
    got = [p["score"] for p in FactorizationMachinesHandler(str(model_dir)).predict(X[:8])]
    np.testing.assert_allclose(got, 1 / (1 + np.exp(-s)), rtol=1e-5)
    # an AWS-trained one: only model_algo-1; the logistic output makes it a binary classifier
    (model_dir / aws_artifacts.META_FILE).unlink()
    h = FactorizationMachinesHandler(str(model_dir))
    assert h.meta["predictor_type"] == "binary_classifier"
    np.testing.assert_allclose([p["score"] for p in h.predict(X[:8])], got, rtol=1e-6)


# ------------------------------------------------------------------ k-NN
def _faiss_flat(points: np.ndarray, fourcc: bytes = b"IxF2", metric: int = 1) -> bytes:
    """FAISS write_index of an IndexFlat, field by field (index_write.cpp): fourcc, header, vectors."""
    n, d = points.shape
    return (fourcc + struct.pack("<i", d) + struct.pack("<q", n) + struct.pack("<qq", 1 << 20, 1 << 20)
            + b"\x01" + struct.pack("<i", metric) + struct.pack("<Q", n * d) + points.astype("<f4").tobytes())


def test_knn_aws_model_through_an_endpoint(server):
    rng = np.random.default_rng(4)
    P = rng.normal(size=(40, 3)).astype(np.float32)
    labels = (P[:, 0] > 0).astype(np.float32)
    files = {"model_algo-1": _faiss_flat(P), "model_algo-1.labels": labels.tobytes(),
             "model_algo-1.json": json.dumps({"k": 3, "predictor_type": "classifier"}).encode()}
    _deploy(server, "knn-aws", "knn", files)
    Q = rng.normal(size=(8, 3)).astype(np.float32)
    try:
        wait_in_service(server.client("sagemaker"), "knn-aws", 120)
        got = [p["predicted_label"] for p in _invoke(server, "knn-aws", Q)]
        near = ((Q[:, None] - P[None]) ** 2).sum(-1).argsort(1)[:, :3]
        assert got == [float(np.round(labels[row].mean())) for row in near]
    finally:
        _delete(server, "knn-aws")


def test_knn_trained_here_writes_the_aws_layout(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] + X[:, 1] > 0).astype(np.float32)
    model_dir = _train(tmp_path, "shipyard.algorithms.knn.train",
                       {"k": "5", "sample_size": "150", "predictor_type": "classifier", "feature_dim": "4"},
                       {"train": Dataset(X, y)})
    raw = (model_dir / "model_algo-1").read_bytes()
    assert raw[:4] == b"IxF2"
    d, n = struct.unpack_from("<iq", raw, 4)
    assert (d, n) == (4, 150)
    assert (model_dir / "model_algo-1.labels").stat().st_size == 150 * 4
    info = json.loads((model_dir / "model_algo-1.json").read_text())
    assert info["k"] == 5 and info["predictor_type"] == "classifier"
    assert not (model_dir / "shipyard-knn.npz").exists()  # a flat index without reduction needs nothing else
    h = KNNHandler(str(model_dir))
    assert np.mean([p["predicted_label"] for p in h.predict(X)] == y) > 0.85


def test_knn_ivf_and_reduced_models_keep_their_extras(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    model_dir = _train(tmp_path, "shipyard.algorithms.knn.train",
                       {"k": "3", "sample_size": "200", "predictor_type": "classifier", "feature_dim": "8",
                        "index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": "4",
                        "dimension_reduction_type": "sign", "dimension_reduction_target": "6"},
                       {"train": Dataset(X, y)})
    assert struct.unpack_from("<i", (model_dir / "model_algo-1").read_bytes(), 4)[0] == 6
    assert KNNHandler(str(model_dir)).predict(X[:3])
    (model_dir / "shipyard-knn.npz").unlink()
    with pytest.raises(ValidationError, match="6-dimensional vectors but the model takes 8 features"):
        KNNHandler(str(model_dir))


def test_knn_unsupported_faiss_index_is_named(tmp_path):
    (tmp_path / "model_algo-1").write_bytes(b"IwFl" + bytes(64))
    (tmp_path / "model_algo-1.labels").write_bytes(bytes(4))
    with pytest.raises(ValidationError, match="FAISS 'IwFl' index; only flat indexes"):
        KNNHandler(str(tmp_path))
    (tmp_path / "model_algo-1").write_bytes(_faiss_flat(np.ones((2, 3), np.float32)))
    with pytest.raises(ValidationError, match="holds 1 labels for 2 indexed points"):
        KNNHandler(str(tmp_path))


# ------------------------------------------------------------------ against bytes MXNet itself wrote
# mx.model.save_checkpoint("mx-mod", 0, LogisticRegressionOutput(FullyConnected(data, num_hidden=1,
# name="fc0"), name="out"), {"fc0_weight": W, "fc0_bias": b}, {}) in MXNet 1.9.1: the .params file
MXNET_LL_PARAMS = bytes.fromhex(
    "120100000000000000000000000000000200000000000000c9fa93f900000000020000000100000000000000050000000000"
    "0000010000000000000000000000b9864dbfa5ad783e2103d4bf7df6273fab5c923fc9fa93f9000000000100000001000000"
    "000000000100000000000000000000000000803e02000000000000000e000000000000006172673a6663305f776569676874"
    "0c000000000000006172673a6663305f62696173"
)
MXNET_LL_W = np.array([[-0.8028369545936584, 0.2428499013185501, -1.6563454866409302, 0.6561048626899719,
                        1.1434530019760132]], dtype=np.float32)


def test_linear_learner_reads_a_checkpoint_mxnet_wrote(tmp_path):
    from shipyard.algorithms.linear_learner.model import to_aws

    # the same model written by Shipyard: the params file is byte-for-byte MXNet's
    ours = to_aws({"predictor_type": "binary_classifier", "loss": "logistic"}, MXNET_LL_W.T, np.array([0.25]))
    with zipfile.ZipFile(io.BytesIO(ours)) as z:
        assert z.read("mx-mod-0000.params") == MXNET_LL_PARAMS
        symbol = z.read("mx-mod-symbol.json")
    (tmp_path / "model_algo-1").write_bytes(aws_artifacts.zip_bytes(
        {"mx-mod-symbol.json": symbol, "mx-mod-0000.params": MXNET_LL_PARAMS}))
    h = LinearLearnerHandler(str(tmp_path))
    assert h.meta["predictor_type"] == "binary_classifier" and h.meta["loss"] == "logistic"
    X = np.random.default_rng(0).normal(size=(6, 5)).astype(np.float32)
    expected = 1 / (1 + np.exp(-(X @ MXNET_LL_W.T + 0.25)))[:, 0]
    np.testing.assert_allclose([p["score"] for p in h.predict(X)], expected, rtol=1e-5)
