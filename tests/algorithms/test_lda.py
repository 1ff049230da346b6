"""Shipyard's LDA (spectral method): it recovers known topics, reads every training format, writes AWS's
artifact, refuses bad data with a ClientError that says what to fix, and serves topic mixtures.

Training runs in-process (``builtin._run`` under a prepared /opt/ml), so these tests start no subprocess.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from shipyard.algorithms import builtin
from shipyard.algorithms.lda import ALGORITHM
from shipyard.algorithms.lda.corpus import best_match_cosine, generate
from shipyard.algorithms.lda.handler import LDAHandler
from shipyard.algorithms.lda.sample import CSV, RECORDIO, encode
from shipyard.algorithms.lda.spectral import fit, infer
from shipyard.algorithms.lda.train import train
from shipyard.errors import ValidationError
from shipyard.io import ndarray
from shipyard.testing.algorithm_harness import PipeFeeder, logged_metrics, prepare_job

K, V = 4, 40


@pytest.fixture(scope="module")
def corpus():
    return generate(800, K, V, words_per_doc=50, seed=3)


def run_job(base: Path, monkeypatch, channels: dict, hps: dict | None = None, mode: str = "File"):
    """(exit code, output, failure text) of the LDA training program run in this process."""
    hyper = {"num_topics": str(K), "feature_dim": str(V), "mini_batch_size": "100", **(hps or {})}
    prepare_job(base, hyper, channels, mode)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    for var in ("SM_MODEL_DIR", "SM_OUTPUT_DIR", "SM_INPUT_CONFIG_DIR", "SM_CHANNEL_TRAIN", "SM_CHANNEL_TEST"):
        monkeypatch.delenv(var, raising=False)
    if mode == "Pipe":
        with PipeFeeder(base / "input" / "data", {c: p for c, (p, _) in channels.items()}, max_epochs=3):
            rc = builtin._run(ALGORITHM, train)
    else:
        rc = builtin._run(ALGORITHM, train)
    failure = base / "output" / "failure"
    return rc, failure.read_text() if failure.exists() else ""


def test_spectral_method_recovers_known_topics():
    c = generate(3000, 5, 100, words_per_doc=50, seed=1)
    batches = [c.counts[i:i + 500] for i in range(0, 3000, 500)]
    alpha, beta = fit(batches, batches, 100, 5, alpha0=1.0, restarts=10, iterations=1000, tol=1e-8,
                      log=lambda m: None)
    assert beta.shape == (5, 100) and np.allclose(beta.sum(axis=1), 1.0)
    assert alpha.shape == (5,) and alpha.sum() == pytest.approx(1.0)
    assert best_match_cosine(beta, c.topics) > 0.9
    # the inferred mixtures follow the true ones (topics matched to the true order first)
    from scipy.optimize import linear_sum_assignment

    sim = (c.topics / np.linalg.norm(c.topics, axis=1, keepdims=True)) @ \
        (beta / np.linalg.norm(beta, axis=1, keepdims=True)).T
    _, cols = linear_sum_assignment(-sim)
    theta = infer(c.counts[:300], alpha, beta)[:, cols]
    assert np.abs(theta - c.mixtures[:300]).sum(axis=1).mean() < 0.5


@pytest.mark.parametrize("fmt, sparse, mode", [(RECORDIO, True, "File"), (RECORDIO, False, "Pipe"),
                                               (CSV, False, "File")])
def test_training_writes_aws_artifact_and_logs_pwll(corpus, tmp_path, monkeypatch, capsys, fmt, sparse, mode):
    test = generate(100, K, V, words_per_doc=50, seed=9, topics=corpus.topics)
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(corpus.counts, fmt, sparse), fmt),
                                                   "test": (encode(test.counts, fmt, sparse), fmt)}, mode=mode)
    out = capsys.readouterr().out
    assert rc == 0, failure + out
    arrays = ndarray.load(tmp_path / "model" / "model_algo-1")  # what mx.ndarray.load gives AWS's notebook
    assert isinstance(arrays, list) and len(arrays) == 2
    alpha, beta = arrays
    assert alpha.shape == (K,) and beta.shape == (K, V)
    assert best_match_cosine(beta, corpus.topics) > 0.85
    pwll = logged_metrics(out, ALGORITHM.metrics)["test:pwll"]
    assert pwll > np.log(1.0 / V) + 0.3, (pwll, np.log(1.0 / V))  # clearly better than a uniform word model


def test_csv_in_pipe_mode_is_refused(corpus, tmp_path, monkeypatch):
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(corpus.counts, CSV), CSV)}, mode="Pipe")
    assert rc == 1 and failure.startswith("ClientError:") and "File mode" in failure


@pytest.mark.parametrize("mutate, fragment", [
    (lambda X: np.where(np.arange(X.shape[1]) == 0, -1.0, X), "negative"),
    (lambda X: X[:, :-3], "feature_dim"),
    (lambda X: np.minimum(X, 1.0) * (np.arange(X.shape[1]) == 0), "at least 2 words"),
])
def test_bad_data_is_a_client_error_that_says_what_to_fix(corpus, tmp_path, monkeypatch, mutate, fragment):
    X = mutate(corpus.counts[:200].copy())
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(X, CSV), CSV)})
    assert rc == 1 and failure.startswith("ClientError:") and fragment in failure, failure


def test_more_topics_than_words_is_refused(corpus, tmp_path, monkeypatch):
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(corpus.counts, CSV), CSV)},
                          hps={"num_topics": str(V + 1)})
    assert rc == 1 and "num_topics" in failure


def test_hyperparameters_follow_aws():
    full = ALGORITHM.validate({"num_topics": "3", "feature_dim": "10", "mini_batch_size": "5"})
    assert (full["alpha0"], full["max_restarts"], full["max_iterations"], full["tol"]) == (1.0, 10, 1000, 1e-8)
    for name in ("num_topics", "feature_dim", "mini_batch_size"):
        with pytest.raises(ValidationError, match=name):
            ALGORITHM.validate({k: "3" for k in ("num_topics", "feature_dim", "mini_batch_size") if k != name})
    with pytest.raises(ValidationError, match="alpha0"):
        ALGORITHM.validate({"num_topics": "3", "feature_dim": "10", "mini_batch_size": "5", "alpha0": "0"})


@pytest.fixture(scope="module")
def handler(corpus, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lda-model")
    batches = [corpus.counts]
    alpha, beta = fit(batches, batches, V, K, 1.0, 5, 200, 1e-8, log=lambda m: None)
    (folder / "model_algo-1").write_bytes(ndarray.dumps([alpha.astype(np.float32), beta.astype(np.float32)]))
    return LDAHandler(str(folder))


def test_handler_serves_topic_mixtures_in_aws_shapes(handler, corpus):
    X = corpus.counts[:4]
    body = "\n".join(",".join(f"{v:g}" for v in r) for r in X).encode()
    doc = json.loads(handler.invoke(body, "text/csv", "application/json")[0])
    mixtures = np.array([p["topic_mixture"] for p in doc["predictions"]])
    assert mixtures.shape == (4, K) and np.allclose(mixtures.sum(axis=1), 1.0, atol=1e-5)
    lines = handler.invoke(body, "text/csv", "application/jsonlines")[0].decode().splitlines()
    np.testing.assert_allclose([json.loads(line)["topic_mixture"] for line in lines], mixtures)
    # an empty document gets the prior mean alpha / alpha0; the same request, the same answer
    empty = json.dumps({"instances": [{"features": [0] * V}]}).encode()
    got = json.loads(handler.invoke(empty, "application/json", "application/json")[0])["predictions"][0]
    alpha = handler.arrays["alpha"]
    assert got["topic_mixture"] == pytest.approx((alpha / alpha.sum()).tolist())
    assert handler.invoke(body, "text/csv", "application/json") == handler.invoke(body, "text/csv",
                                                                                 "application/json")


@pytest.mark.parametrize("body, content_type, fragment", [
    (b"1,2,3", "text/csv", f"{V} features"),
    (",".join(["-1"] * V).encode(), "text/csv", "negative"),
    (b"{not json", "application/json", "Could not parse"),
])
def test_handler_refuses_bad_payloads(handler, body, content_type, fragment):
    with pytest.raises(ValidationError, match=fragment):
        handler.invoke(body, content_type, "application/json")


def test_handler_reads_beta_either_way_round(handler, tmp_path):
    alpha, beta = handler.arrays["alpha"], handler.arrays["beta"]
    (tmp_path / "model_algo-1").write_bytes(ndarray.dumps([alpha.astype(np.float32), beta.T.astype(np.float32)]))
    other = LDAHandler(str(tmp_path))
    assert other.arrays["beta"].shape == (K, V)
    (tmp_path / "model_algo-1").write_bytes(ndarray.dumps([alpha.astype(np.float32)]))
    with pytest.raises(ValidationError, match="alpha, beta"):
        LDAHandler(str(tmp_path))
