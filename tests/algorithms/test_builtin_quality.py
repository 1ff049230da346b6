"""Per-algorithm behaviour beyond conformance: results agree with scikit-learn, errors are ClientErrors."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.neighbors import KNeighborsClassifier

from shipyard.algorithms.kmeans.handler import KMeansHandler
from shipyard.algorithms.knn.handler import KNNHandler
from shipyard.algorithms.linear_learner.handler import LinearLearnerHandler
from shipyard.algorithms.pca.handler import PCAHandler
from shipyard.algorithms.random_cut_forest.handler import RandomCutForestHandler
from shipyard.testing.algorithm_harness import CSV, RECORDIO, Dataset, encode, prepare_job, run_training


def train(tmp_path, module, hps, channels, fmt=CSV, labelled=True):
    chans = {name: encode(data, fmt, labelled) for name, data in channels.items()}
    prepare_job(tmp_path, hps, chans)
    r = run_training(module, tmp_path, timeout=120)
    return r


def test_linear_learner_multiclass_and_regression(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 5)).astype(np.float32)
    W = rng.normal(size=(5, 4))
    y = (X @ W).argmax(axis=1).astype(np.float32)
    r = train(tmp_path / "mc", "shipyard.algorithms.linear_learner.train",
              {"predictor_type": "multiclass_classifier", "num_classes": "4", "mini_batch_size": "50",
               "epochs": "10", "learning_rate": "0.05"},
              {"train": Dataset(X[:500], y[:500]), "validation": Dataset(X[500:], y[500:])}, RECORDIO)
    assert r.returncode == 0, r.output
    h = LinearLearnerHandler(str(r.model_dir))
    preds = h.predict(X[500:])
    assert len(preds[0]["score"]) == 4
    assert np.mean([p["predicted_label"] for p in preds] == y[500:]) > 0.85
    yr = (X @ W[:, 0] * 10 + 3).astype(np.float32)
    r = train(tmp_path / "reg", "shipyard.algorithms.linear_learner.train",
              {"predictor_type": "regressor", "mini_batch_size": "50", "epochs": "15", "learning_rate": "0.1"},
              {"train": Dataset(X[:500], yr[:500]), "validation": Dataset(X[500:], yr[500:])})
    assert r.returncode == 0, r.output
    pred = np.array([p["score"] for p in LinearLearnerHandler(str(r.model_dir)).predict(X[500:])])
    assert np.sqrt(np.mean((pred - yr[500:]) ** 2)) < 0.1 * np.std(yr)
    assert "validation rmse <score>=" in r.output


def test_linear_learner_bad_labels_are_a_client_error(tmp_path):
    X = np.zeros((20, 3), np.float32)
    r = train(tmp_path, "shipyard.algorithms.linear_learner.train", {"predictor_type": "binary_classifier"},
              {"train": Dataset(X, np.full(20, 2.0, np.float32))})
    assert r.returncode != 0
    assert r.failure.startswith("ClientError: Labels must be 0 or 1")


def test_linear_learner_selection_beats_a_bad_first_model(tmp_path):
    """Model 0 uses the given (too small) learning rate; the variants around it find a better fit."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(800, 8)).astype(np.float32)
    y = (X @ rng.normal(size=8) > 0).astype(np.float32)
    accs = {}
    for m in (1, 16):
        r = train(tmp_path / str(m), "shipyard.algorithms.linear_learner.train",
                  {"predictor_type": "binary_classifier", "num_models": str(m), "learning_rate": "0.0005",
                   "optimizer": "sgd", "use_lr_scheduler": "false", "epochs": "3", "mini_batch_size": "100"},
                  {"train": Dataset(X[:600], y[:600]), "validation": Dataset(X[600:], y[600:])})
        assert r.returncode == 0, r.output
        preds = LinearLearnerHandler(str(r.model_dir)).predict(X[600:])
        accs[m] = np.mean([p["predicted_label"] for p in preds] == y[600:])
    assert accs[16] > accs[1] + 0.15, accs


def test_kmeans_pca_knn_agree_with_sklearn(tmp_path):
    rng = np.random.default_rng(2)
    centers = rng.normal(scale=8, size=(4, 5))
    lab = rng.integers(0, 4, 800)
    X = (centers[lab] + rng.normal(size=(800, 5))).astype(np.float32)
    r = train(tmp_path / "km", "shipyard.algorithms.kmeans.train",
              {"k": "4", "feature_dim": "5", "mini_batch_size": "100", "epochs": "3", "init_method": "kmeans++"},
              {"train": Dataset(X, None)}, RECORDIO, labelled=False)
    assert r.returncode == 0, r.output
    found = KMeansHandler(str(r.model_dir)).arrays["centers"]
    # every true center has a learned one close by
    d = np.linalg.norm(centers[:, None, :] - found[None], axis=2).min(axis=1)
    assert d.max() < 0.5, d

    r = train(tmp_path / "pca", "shipyard.algorithms.pca.train",
              {"feature_dim": "5", "num_components": "2", "mini_batch_size": "128"},
              {"train": Dataset(X, None)}, CSV, labelled=False)
    assert r.returncode == 0, r.output
    ours = np.array([p["projection"] for p in PCAHandler(str(r.model_dir)).predict(X)])
    theirs = PCA(2).fit_transform(X)
    np.testing.assert_allclose(np.abs(ours), np.abs(theirs), rtol=1e-3, atol=1e-3)

    y = lab.astype(np.float32)
    r = train(tmp_path / "knn", "shipyard.algorithms.knn.train",
              {"feature_dim": "5", "k": "5", "predictor_type": "classifier", "sample_size": "600"},
              {"train": Dataset(X[:600], y[:600])})
    assert r.returncode == 0, r.output
    ours = [p["predicted_label"] for p in KNNHandler(str(r.model_dir)).predict(X[600:])]
    theirs = KNeighborsClassifier(5).fit(X[:600], y[:600]).predict(X[600:])
    assert np.mean(np.array(ours) == theirs) > 0.98


def test_random_cut_forest_ranks_outliers_first(tmp_path):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(1000, 3)).astype(np.float32)
    r = train(tmp_path, "shipyard.algorithms.random_cut_forest.train",
              {"feature_dim": "3", "num_trees": "50", "num_samples_per_tree": "128"},
              {"train": Dataset(X, None)}, RECORDIO, labelled=False)
    assert r.returncode == 0, r.output
    h = RandomCutForestHandler(str(r.model_dir))
    probe = np.vstack([rng.normal(size=(50, 3)), [[8, 8, 8], [-7, 0, 6], [0, 9, 0]]]).astype(np.float32)
    s = np.array([p["score"] for p in h.predict(probe)])
    assert s[50:].min() > s[:50].max()
    assert s[50:].min() > h.meta["threshold"]


@pytest.mark.parametrize("bad, message", [({"k": "0"}, "'k'"), ({"feature_dim": "x"}, "'feature_dim'")])
def test_hyperparameter_errors_reach_the_failure_file(tmp_path, bad, message):
    X = np.zeros((10, 2), np.float32)
    r = train(tmp_path, "shipyard.algorithms.kmeans.train", {"k": "2", "feature_dim": "2", **bad},
              {"train": Dataset(X, None)}, CSV, labelled=False)
    assert r.returncode != 0 and r.failure.startswith("ClientError") and message in r.failure


def test_sdk_record_serializer_and_deserializer_round_trip(tmp_path):
    """What the SageMaker SDK's LinearLearnerPredictor sends and parses works against our handler."""
    import os
    import warnings
    os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")
    warnings.filterwarnings("ignore")
    from sagemaker.amazon.common import read_records
    from sagemaker.serializers import RecordSerializer
    import io

    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.float32)
    r = train(tmp_path, "shipyard.algorithms.linear_learner.train",
              {"predictor_type": "binary_classifier", "mini_batch_size": "50", "epochs": "5"},
              {"train": Dataset(X, y)}, RECORDIO)
    assert r.returncode == 0, r.output
    h = LinearLearnerHandler(str(r.model_dir))
    body = RecordSerializer().serialize(X[:10]).getvalue()
    out, ct = h.invoke(body, "application/x-recordio-protobuf", "application/x-recordio-protobuf")
    records = read_records(io.BytesIO(out))
    assert len(records) == 10
    labels = [rec.label["predicted_label"].float32_tensor.values[0] for rec in records]
    scores = [rec.label["score"].float32_tensor.values[0] for rec in records]
    assert all(0 <= s <= 1 for s in scores)
    assert np.mean(np.array(labels) == y[:10]) >= 0.9
