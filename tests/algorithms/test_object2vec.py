"""Object2Vec beyond the conformance suite: hyperparameter cross-checks, that it learns (classification and
regression on pairs from hidden user/item factors), each encoder, negative sampling, pretrained embeddings,
early stopping, clear errors on bad data, and the serving shapes (scores for pairs, embeddings for singles).

Training runs in this process (``builtin._run`` under a ``SAGEMAKER_BASE_DIR``), so torch is imported once.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")

from shipyard.algorithms import builtin  # noqa: E402
from shipyard.algorithms.object2vec import ALGORITHM  # noqa: E402
from shipyard.algorithms.object2vec.handler import Object2VecHandler  # noqa: E402
from shipyard.algorithms.object2vec.sample import jsonl, latent_pairs, records  # noqa: E402
from shipyard.algorithms.object2vec.train import train  # noqa: E402
from shipyard.errors import ValidationError  # noqa: E402
from shipyard.testing.algorithm_harness import prepare_job  # noqa: E402

JSONL = "application/jsonlines"
JSON = "application/json"
SMALL = {"enc0_max_seq_len": "1", "enc0_vocab_size": "40", "enc1_network": "pooled_embedding",
         "enc1_max_seq_len": "1", "enc1_vocab_size": "30", "enc0_network": "pooled_embedding", "enc_dim": "16",
         "enc0_token_embedding_dim": "16", "enc1_token_embedding_dim": "16", "mlp_dim": "16", "mlp_layers": "1",
         "epochs": "6", "mini_batch_size": "32", "learning_rate": "0.01"}


class Job:
    def __init__(self, base: Path, code: int, output: str):
        self.base, self.code, self.output = base, code, output

    @property
    def model_dir(self) -> str:
        return str(self.base / "model")

    @property
    def failure(self) -> str:
        p = self.base / "output" / "failure"
        return p.read_text() if p.exists() else ""

    def metrics(self) -> dict[str, float]:
        """The last value logged for each declared metric, read back through the declared regexes."""
        import re

        out = {}
        for name, (regex, _) in ALGORITHM.metrics.items():
            found = re.findall(regex, self.output)
            if found:
                out[name] = float(found[-1])
        return out


@pytest.fixture
def run_job(tmp_path, monkeypatch, capsys):
    counter = iter(range(100))

    def run(hps: dict, channels: dict) -> Job:
        base = tmp_path / f"job{next(counter)}"
        prepare_job(base, hps, {k: (v if isinstance(v[0], dict) else ({"part-0": v[0]}, v[1]))
                                for k, v in channels.items()})
        monkeypatch.setenv("SAGEMAKER_BASE_DIR", str(base))
        for k in [k for k in os.environ if k.startswith("SM_")]:
            monkeypatch.delenv(k)
        capsys.readouterr()
        code = builtin._run(ALGORITHM, train)
        captured = capsys.readouterr()
        return Job(base, code, captured.out + captured.err)
    return run


def _pairs_channels(n_train: int, regression: bool = False) -> dict:
    out = {}
    for seed, name, n in ((0, "train", n_train), (1, "validation", 400), (2, "test", 400)):
        out[name] = (jsonl(records(*latent_pairs(n, seed=seed, regression=regression))), JSONL)
    return out


# ------------------------------------------------------------------ hyperparameters

def test_defaults_and_sdk_values():
    hps = ALGORITHM.validate({"enc0_max_seq_len": "10", "enc0_vocab_size": "100"})
    assert hps["enc0_network"] == "hcnn" and hps["enc1_network"] == "enc0" and hps["enc_dim"] == 4096
    assert hps["epochs"] == 30 and hps["mini_batch_size"] == 32 and hps["optimizer"] == "adam"
    assert hps["comparator_list"] == ["hadamard", "concat", "abs_diff"]
    assert hps["enc0_layers"] == "auto" and hps["output_layer"] == "softmax"
    # what the SDK's Object2Vec.fit and AWS's notebooks send
    ok = ALGORITHM.validate({"enc0_max_seq_len": "10", "enc0_vocab_size": "100", "feature_dim": "6",
                             "comparator_list": "hadamard, abs_diff", "enc0_layers": "2",
                             "tied_token_embedding_weight": "True", "_kvstore": "device", "_num_gpus": "auto"})
    assert ok["comparator_list"] == ["hadamard", "abs_diff"]


def test_sdk_descriptor_ranges_are_accepted():
    """Both ends of every numeric range the SDK's Object2Vec descriptors allow, and every choice, validate."""
    sagemaker = pytest.importorskip("sagemaker")
    from sagemaker.amazon.hyperparameter import Hyperparameter

    base = {"enc0_max_seq_len": "10", "enc0_vocab_size": "100"}
    checked = 0
    for desc in vars(sagemaker.Object2Vec).values():
        if not isinstance(desc, Hyperparameter):
            continue
        assert desc.name in ALGORITHM.hyperparameters, desc.name
        for v in desc.validation if isinstance(desc.validation, (list, tuple)) else [desc.validation]:
            cells = dict(zip(v.__code__.co_freevars, [c.cell_contents for c in (v.__closure__ or ())]))
            values = cells.get("minimum", cells.get("maximum"))
            for value in ([values] if values is not None else []) + list(cells.get("args", ()) or ()):
                ALGORITHM.validate({**base, desc.name: str(desc.data_type(value))})
                checked += 1
    assert checked > 40


def test_cross_checks():
    base = {"enc0_max_seq_len": "10", "enc0_vocab_size": "100", "enc1_network": "bilstm"}
    hps = ALGORITHM.validate(base)  # a second encoder without its own vocabulary takes enc0's
    from shipyard.algorithms.object2vec.model import model_config

    cfg = model_config(hps)
    assert cfg["enc1"]["vocab_size"] == 100 and cfg["enc1"]["network"] == "bilstm" and not cfg["shared_encoder"]
    tied = model_config(ALGORITHM.validate({**base, "tied_token_embedding_weight": "true", "enc1_vocab_size": "50",
                                            "enc1_token_embedding_dim": "8"}))
    assert tied["enc1"]["vocab_size"] == 100 and tied["enc1"]["token_dim"] == 300  # enc0's shared table
    with pytest.raises(ValidationError, match="'enc0_vocab_file'"):
        ALGORITHM.validate({**base, "enc0_pretrained_embedding_file": "glove.txt"})
    with pytest.raises(ValidationError, match="comparator_list"):
        ALGORITHM.validate({**base, "comparator_list": "hadamard,dot"})


# ------------------------------------------------------------------ learning

def test_learns_classification_and_serves_scores(run_job):
    job = run_job(SMALL, _pairs_channels(2000))
    assert job.code == 0, job.output[-2000:] + job.failure
    m = job.metrics()
    assert m["test:accuracy"] > 0.72, m            # chance is about 0.5
    assert m["validation:cross_entropy"] < 0.6, m  # ln 2 = 0.69 for a coin
    h = Object2VecHandler(job.model_dir)
    u, i, y = latent_pairs(300, seed=5)
    body = json.dumps({"instances": records(u, i)}).encode()
    out = json.loads(h.invoke(body, JSON, JSON)[0])["predictions"]
    assert len(out) == 300 and all(len(p["scores"]) == 2 for p in out)
    assert np.allclose([sum(p["scores"]) for p in out], 1.0, atol=1e-5)
    acc = np.mean([int(np.argmax(p["scores"])) == t for p, t in zip(out, y)])
    assert acc > 0.72
    assert h.invoke(body, JSON, JSON)[0] == h.invoke(body, JSON, JSON)[0]   # deterministic
    lines = h.invoke(jsonl(records(u[:3], i[:3])), JSONL, JSONL)[0].decode().splitlines()
    got = [v for x in lines for v in json.loads(x)["scores"]]
    assert got == pytest.approx([v for p in out[:3] for v in p["scores"]], abs=1e-6)


def test_learns_regression(run_job):
    job = run_job({**SMALL, "output_layer": "mean_squared_error"}, _pairs_channels(2000, regression=True))
    assert job.code == 0, job.output[-2000:] + job.failure
    _, _, y = latent_pairs(400, seed=2, regression=True)
    m = job.metrics()
    assert m["test:mean_squared_error"] < 0.5 * y.var(), (m, y.var())
    assert "test:accuracy" not in m
    h = Object2VecHandler(job.model_dir)
    out = json.loads(h.invoke(json.dumps({"instances": [{"in0": [1], "in1": [2]}]}).encode(), JSON, JSON)[0])
    assert len(out["predictions"][0]["scores"]) == 1


def _sequence_channels(n: int, seed: int) -> bytes:
    """Variable-length sequences: label 1 when the two share a token, over a vocabulary of 12."""
    rng = np.random.default_rng(seed)
    recs = []
    for _ in range(n):
        a = rng.integers(0, 12, rng.integers(1, 6)).tolist()
        b = rng.integers(0, 12, rng.integers(1, 6)).tolist()
        recs.append({"label": int(bool(set(a) & set(b))), "in0": a, "in1": b})
    return jsonl(recs)


@pytest.mark.parametrize("network", ["hcnn", "bilstm"])
def test_sequence_encoders_batch_matches_single(run_job, network):
    hps = {**SMALL, "enc0_network": network, "enc1_network": "enc0", "enc0_max_seq_len": "5",
           "enc0_vocab_size": "12", "enc0_layers": "2", "epochs": "3", "bucket_width": "2"}
    job = run_job(hps, {"train": (_sequence_channels(300, 0), JSONL),
                        "validation": (_sequence_channels(100, 1), JSONL)})
    assert job.code == 0, job.output[-2000:] + job.failure
    h = Object2VecHandler(job.model_dir)
    inst = [{"in0": [1, 2, 3, 4, 5], "in1": [3]}, {"in0": [7], "in1": [8, 9]}, {"in0": [0, 11], "in1": [1, 2, 3]}]
    batch = json.loads(h.invoke(json.dumps({"instances": inst}).encode(), JSON, JSON)[0])["predictions"]
    single = [json.loads(h.invoke(json.dumps({"instances": [x]}).encode(), JSON, JSON)[0])["predictions"][0]
              for x in inst]
    for b, s in zip(batch, single):
        assert b["scores"] == pytest.approx(s["scores"], abs=1e-5)
    emb = [{"in0": x["in0"]} for x in inst]
    eb = json.loads(h.invoke(json.dumps({"instances": emb}).encode(), JSON, JSON)[0])["predictions"]
    es = json.loads(h.invoke(json.dumps({"instances": emb[:1]}).encode(), JSON, JSON)[0])["predictions"]
    assert len(eb[0]["embeddings"]) == 16 and eb[0]["embeddings"] == pytest.approx(es[0]["embeddings"], abs=1e-5)


def test_tied_token_embedding_is_one_table(run_job):
    hps = {**SMALL, "enc0_network": "pooled_embedding", "enc1_network": "hcnn", "enc0_vocab_size": "40",
           "enc1_vocab_size": "40", "tied_token_embedding_weight": "true", "epochs": "1"}
    job = run_job(hps, {"train": (jsonl(records(*latent_pairs(200))), JSONL)})
    assert job.code == 0, job.output[-2000:] + job.failure
    h = Object2VecHandler(job.model_dir)
    assert h.net.enc0.embedding is h.net.enc1.embedding and h.net.enc0 is not h.net.enc1


def test_negative_sampling_learns_from_positives_only(run_job):
    u, i, y = latent_pairs(3000, seed=0, noise=0.0)
    pos = y == 1
    train_recs = records(u[pos], i[pos], y[pos])
    job = run_job({**SMALL, "negative_sampling_rate": "2", "epochs": "5"}, {"train": (jsonl(train_recs), JSONL)})
    assert job.code == 0, job.output[-2000:] + job.failure
    h = Object2VecHandler(job.model_dir)
    u2, i2, y2 = latent_pairs(400, seed=8, noise=0.0)
    out = json.loads(h.invoke(json.dumps({"instances": records(u2, i2)}).encode(), JSON, JSON)[0])["predictions"]
    p1 = np.array([p["scores"][1] for p in out])
    assert p1[y2 == 1].mean() > p1[y2 == 0].mean() + 0.1   # observed-like pairs score higher


def test_pretrained_embeddings_frozen(run_job):
    vocab = {f"user{k}": k for k in range(40)}
    glove = "".join(f"user{k} " + " ".join(f"{0.01 * (k + d):.2f}" for d in range(16)) + "\n" for k in range(40))
    channels = _pairs_channels(300)
    channels["auxiliary"] = ({"vocab.json": json.dumps(vocab).encode(), "glove.txt": glove.encode()}, "text/plain")
    job = run_job({**SMALL, "epochs": "2", "enc0_vocab_file": "vocab.json",
                   "enc0_pretrained_embedding_file": "glove.txt"}, channels)
    assert job.code == 0, job.output[-2000:] + job.failure
    import torch

    state = torch.load(Path(job.model_dir) / "object2vec.pt", weights_only=True)
    w = state["enc0.embedding.weight"]
    assert float(w[3, 0]) == pytest.approx(0.03) and float(w[3, 15]) == pytest.approx(0.18)  # frozen, as loaded


def test_early_stopping(run_job):
    job = run_job({**SMALL, "epochs": "40", "early_stopping_patience": "1", "early_stopping_tolerance": "0.1"},
                  _pairs_channels(600))
    assert job.code == 0, job.failure
    assert "early stopping after epoch" in job.output
    assert job.output.count("validation accuracy") < 40


@pytest.mark.parametrize("line, fragment", [
    (b"not json\n", "is not JSON"),
    (b'{"label": 1, "in0": [50], "in1": [1]}\n', "outside the vocabulary [0, 40)"),
    (b'{"in0": [1], "in1": [1]}\n', "has no 'label'"),
    (b'{"label": 0.5, "in0": [1], "in1": [1]}\n', "not a class index"),
    (b'{"label": 1, "in0": [], "in1": [1]}\n', "non-empty list"),
    (b'{"label": 1, "in0": ["a"], "in1": [1]}\n', "not an integer token id"),
])
def test_bad_data_is_a_client_error(run_job, line, fragment):
    good = jsonl(records(*latent_pairs(5)))
    job = run_job(SMALL, {"train": (good + line, JSONL)})
    assert job.code == 1
    assert job.failure.startswith("ClientError:") and fragment in job.failure and "line 6" in job.failure, job.failure


def test_wrong_content_type_is_refused(run_job):
    job = run_job(SMALL, {"train": (jsonl(records(*latent_pairs(5))), "text/csv")})
    assert job.code == 1 and "application/jsonlines" in job.failure


# ------------------------------------------------------------------ serving

@pytest.fixture(scope="module")
def handler(tmp_path_factory):
    """A model trained once for the serving tests (one epoch; shapes only), with two encoders of their own."""
    base = tmp_path_factory.mktemp("o2v-serve")
    prepare_job(base, {**SMALL, "epochs": "1", "enc1_network": "hcnn", "enc1_max_seq_len": "3"},
                {"train": ({"a.jsonl": jsonl(records(*latent_pairs(200)))}, JSONL)})
    saved = dict(os.environ)
    os.environ["SAGEMAKER_BASE_DIR"] = str(base)
    for k in [k for k in os.environ if k.startswith("SM_")]:
        del os.environ[k]
    try:
        assert builtin._run(ALGORITHM, train) == 0, (base / "output" / "failure").read_text()
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Object2VecHandler(str(base / "model"))


def test_embeddings_for_single_inputs(handler):
    for key in ("in0", "in1"):
        body = json.dumps({"instances": [{key: [1]}, {key: [2, 3]}]}).encode()
        for accept in (JSON, "application/json; verbose=true"):
            out, ct = handler.invoke(body, JSON, accept)
            preds = json.loads(out)["predictions"]
            assert ct == JSON and len(preds) == 2 and set(preds[0]) == {"embeddings"}
            assert len(preds[0]["embeddings"]) == 16
        lines, ct = handler.invoke(b'{"%s": [1]}\n{"%s": [4]}\n' % (key.encode(), key.encode()), JSONL,
                                   "application/jsonlines; verbose=true")
        assert ct == JSONL and [set(json.loads(x)) for x in lines.decode().splitlines()] == [{"embeddings"}] * 2
    e0 = json.loads(handler.invoke(b'{"instances": [{"in0": [1]}]}', JSON, JSON)[0])["predictions"][0]
    e1 = json.loads(handler.invoke(b'{"instances": [{"in1": [1]}]}', JSON, JSON)[0])["predictions"][0]
    assert e0 != e1  # two encoders of their own


def test_infer_max_seqlens_truncates(handler):
    long = json.dumps({"instances": [{"in0": [1], "in1": [2, 3, 4]}]}).encode()
    short = json.dumps({"instances": [{"in0": [1], "in1": [2]}]}).encode()
    a = handler.invoke(long, "application/json; infer_max_seqlens=1,1", JSON)[0]
    assert a == handler.invoke(short, JSON, JSON)[0]
    with pytest.raises(ValidationError, match="infer_max_seqlens"):
        handler.invoke(long, "application/json; infer_max_seqlens=0,x", JSON)


@pytest.mark.parametrize("body, ctype, accept, fragment", [
    (b'{"instances": [{"in0": [1], "in1": [2]}, {"in0": [1]}]}', JSON, JSON, "mixes pairs"),
    (b'{"instances": [{"in0": [99], "in1": [2]}]}', JSON, JSON, "outside the vocabulary"),
    (b'{"instances": [{"x": [1]}]}', JSON, JSON, '"in0" and/or "in1"'),
    (b'{"data": []}', JSON, JSON, '"instances"'),
    (b'{"instances": []}', JSON, JSON, "no instances"),
    (b"1,2", "text/csv", JSON, "not supported"),
    (b'{"instances": [{"in0": [1], "in1": [2]}]}', JSON, "text/csv", "Accept type"),
    (b"\xff\xfe", JSONL, JSON, "Could not parse"),
])
def test_bad_requests_are_validation_errors(handler, body, ctype, accept, fragment):
    with pytest.raises(ValidationError, match=fragment):
        handler.invoke(body, ctype, accept)
