"""Shipyard's Neural Topic Model: it learns known topics, stops early on the validation loss, logs top words
from vocab.txt, trains with every optimizer, refuses bad input clearly, and its numpy serving path gives what
the torch network gives.

Training runs in-process (``builtin._run`` under a prepared /opt/ml), so these tests start no subprocess.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from shipyard.algorithms import builtin  # noqa: E402
from shipyard.algorithms.lda.corpus import best_match_cosine, generate  # noqa: E402
from shipyard.algorithms.lda.sample import CSV, RECORDIO, encode  # noqa: E402
from shipyard.algorithms.ntm import ALGORITHM, encoder_sizes  # noqa: E402
from shipyard.algorithms.ntm.handler import NTMHandler  # noqa: E402
from shipyard.algorithms.ntm.model import build, topic_words  # noqa: E402
from shipyard.algorithms.ntm.train import train  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.testing.algorithm_harness import PipeFeeder, logged_metrics, prepare_job  # noqa: E402

K, V = 4, 48


@pytest.fixture(scope="module")
def corpus():
    c = generate(1200, K, V, words_per_doc=60, seed=1)
    return c, generate(200, K, V, words_per_doc=60, seed=2, topics=c.topics)


def run_job(base: Path, monkeypatch, channels: dict, hps: dict | None = None, mode: str = "File"):
    hyper = {"num_topics": str(K), "feature_dim": str(V), "mini_batch_size": "64", "epochs": "3",
             "optimizer": "adam", "learning_rate": "0.01", **(hps or {})}
    prepare_job(base, hyper, channels, mode)
    monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
    for var in ("SM_MODEL_DIR", "SM_OUTPUT_DIR", "SM_INPUT_CONFIG_DIR", "SM_NUM_GPUS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("SM_NUM_GPUS", "0")
    if mode == "Pipe":
        with PipeFeeder(base / "input" / "data", {c: p for c, (p, _) in channels.items()}, max_epochs=50):
            rc = builtin._run(ALGORITHM, train)
    else:
        rc = builtin._run(ALGORITHM, train)
    failure = base / "output" / "failure"
    return rc, failure.read_text() if failure.exists() else ""


@pytest.mark.slow  # 25 epochs over 1,200 documents: a few seconds
def test_learns_known_topics_and_logs_metrics(corpus, tmp_path, monkeypatch, capsys):
    c, val = corpus
    ct = RECORDIO
    vocab = "".join(f"w{i}\n" for i in range(V)).encode()
    rc, failure = run_job(tmp_path, monkeypatch, {
        "train": (encode(c.counts, ct), ct), "validation": (encode(val.counts, ct), ct),
        "test": (encode(val.counts[:50], ct), ct), "auxiliary": ({"vocab.txt": vocab}, "text/plain")},
        hps={"epochs": "25"})
    out = capsys.readouterr().out
    assert rc == 0, failure + out[-2000:]
    meta, arrays = builtin.load_model(tmp_path / "model")
    assert best_match_cosine(topic_words(arrays), c.topics) > 0.8
    found = logged_metrics(out, ALGORITHM.metrics)
    assert {"validation:total_loss", "test:total_loss"} <= set(found)
    # a topic line names words from vocab.txt
    assert re.search(r"topic 0: (w\d+ ){9}w\d+", out), out[-1500:]
    # served topic weights follow the documents' true mixtures: the dominant topic agrees (after matching)
    handler = NTMHandler(str(tmp_path / "model"))
    body = json.dumps({"instances": [{"features": r.tolist()} for r in val.counts[:100]]}).encode()
    weights = np.array([p["topic_weights"] for p in json.loads(handler.invoke(body, "application/json",
                                                                              "application/json")[0])
                        ["predictions"]])
    assert weights.shape == (100, K) and np.allclose(weights.sum(axis=1), 1.0, atol=1e-5)
    from scipy.optimize import linear_sum_assignment

    tw = topic_words(arrays)
    sim = (c.topics / np.linalg.norm(c.topics, axis=1, keepdims=True)) @ (tw / np.linalg.norm(tw, axis=1,
                                                                                               keepdims=True)).T
    _, cols = linear_sum_assignment(-sim)
    agree = np.mean(weights[:, cols].argmax(axis=1) == val.mixtures[:100].argmax(axis=1))
    assert agree > 0.6, agree


def test_early_stopping_on_validation_loss(corpus, tmp_path, monkeypatch, capsys):
    c, val = corpus
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(c.counts[:300], CSV), CSV),
                                                   "validation": (encode(val.counts, CSV), CSV)},
                          hps={"epochs": "40", "tolerance": "0.1", "num_patience_epochs": "1"})
    out = capsys.readouterr().out
    assert rc == 0, failure
    assert "early stopping after epoch" in out
    assert len(re.findall(r"train total_loss <loss>", out)) < 40


def test_pipe_mode_streams_each_pass(corpus, tmp_path, monkeypatch, capsys):
    c, val = corpus
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(c.counts[:300], RECORDIO), RECORDIO),
                                                   "validation": (encode(val.counts[:100], RECORDIO), RECORDIO),
                                                   "test": (encode(val.counts[100:], RECORDIO), RECORDIO)},
                          hps={"epochs": "20", "tolerance": "0.1", "num_patience_epochs": "1"}, mode="Pipe")
    out = capsys.readouterr().out
    assert rc == 0, failure + out[-2000:]
    assert "early stopping" in out  # then the final metrics read no FIFO that was never fed
    assert {"validation:total_loss", "test:total_loss"} <= set(logged_metrics(out, ALGORITHM.metrics))


@pytest.mark.parametrize("optimizer", ["adagrad", "adam", "rmsprop", "sgd", "adadelta"])
def test_every_optimizer_trains(corpus, tmp_path, monkeypatch, optimizer):
    c, _ = corpus
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(c.counts[:200], RECORDIO), RECORDIO)},
                          hps={"optimizer": optimizer, "epochs": "1", "clip_gradient": "1.0",
                               "weight_decay": "0.01", "rescale_gradient": "0.5", "sub_sample": "0.5"})
    assert rc == 0, failure


def test_numpy_serving_matches_torch_with_batch_norm(corpus, tmp_path, monkeypatch):
    c, _ = corpus
    hps = {"batch_norm": "true", "encoder_layers": "20,10", "encoder_layers_activation": "tanh", "epochs": "2"}
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(c.counts[:300], CSV), CSV)}, hps=hps)
    assert rc == 0, failure
    meta, arrays = builtin.load_model(tmp_path / "model")
    net = build(torch, V, K, [20, 10], "tanh", True)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()}, strict=False)
    net.eval()
    with torch.no_grad():
        mu, _ = net.encode(torch.as_tensor(c.counts[:5]))
    expected = torch.softmax(mu, dim=1).numpy()
    handler = NTMHandler(str(tmp_path / "model"))
    body = "\n".join(",".join(f"{v:g}" for v in r) for r in c.counts[:5]).encode()
    got = [p["topic_weights"] for p in json.loads(handler.invoke(body, "text/csv", "application/json")[0])
           ["predictions"]]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_encoder_layers_rules():
    assert encoder_sizes("auto", 5) == [15, 10]
    assert encoder_sizes(["100", "50"], 5) == [100, 50]
    good = {"num_topics": "5", "feature_dim": "10"}
    assert ALGORITHM.validate({**good, "encoder_layers": "[100, 50]"})["encoder_layers"] == ["100", "50"]
    for bad in ("0,5", "ten", "@@"):
        with pytest.raises(ValidationError, match="'encoder_layers'.*expected"):
            ALGORITHM.validate({**good, "encoder_layers": bad})
    with pytest.raises(ValidationError, match="num_topics"):
        ALGORITHM.validate({**good, "num_topics": "1"})  # AWS: [2, 1000]


@pytest.mark.parametrize("mutate, fragment", [
    (lambda X: -X, "negative"),
    (lambda X: X[:, :-1], "feature_dim"),
])
def test_bad_data_is_a_client_error(corpus, tmp_path, monkeypatch, mutate, fragment):
    c, _ = corpus
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(mutate(c.counts[:50]), CSV), CSV)})
    assert rc == 1 and failure.startswith("ClientError:") and fragment in failure, failure


def test_handler_refuses_bad_payloads(corpus, tmp_path, monkeypatch):
    c, _ = corpus
    rc, failure = run_job(tmp_path, monkeypatch, {"train": (encode(c.counts[:100], CSV), CSV)},
                          hps={"epochs": "1"})
    assert rc == 0, failure
    handler = NTMHandler(str(tmp_path / "model"))
    with pytest.raises(ValidationError, match=f"{V} features"):
        handler.invoke(b"1,2,3", "text/csv", "application/json")
    with pytest.raises(ValidationError, match="negative"):
        handler.invoke(",".join(["-2"] * V).encode(), "text/csv", "application/json")
