"""BlazingText: fastText-compatible artifacts (checked with the ``fasttext`` package itself), quality on generated
text in every mode, the training program's artifacts and errors, hyperparameter cross-checks and serving shapes.

The conformance suite (tests/algorithms/test_conformance.py) covers supervised training in both channel formats
and the handler's content types; this file covers the rest.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from shipyard.algorithms.blazingtext import ALGORITHM
from shipyard.algorithms.blazingtext.fasttext_format import FastTextModel, char_ngrams, read_vectors_txt, tokenize_line
from shipyard.algorithms.blazingtext.synthetic import (analogies, fasttext_lines, labelled_text, similarity_pairs,
                                                       word2vec_corpus)
from shipyard.errors import ValidationError
from shipyard.testing.algorithm_harness import logged_metrics, prepare_job, run_training

torch = pytest.importorskip("torch", reason="BlazingText trains with PyTorch (pip install 'shipyard[torch]')")

from shipyard.algorithms.blazingtext.handler import BlazingTextHandler  # noqa: E402
from shipyard.algorithms.blazingtext.supervised import train_supervised  # noqa: E402
from shipyard.algorithms.blazingtext.word2vec import train_word2vec, word_vectors  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """One intra-op thread, as the training program uses on the CPU (threads contend on shared cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _fasttext():
    """The fastText Python package, or a skip saying why."""
    try:
        import fasttext
    except ImportError:
        pytest.skip("the fasttext package (fasttext-wheel) is not installed; it proves the .bin files compatible")
    fasttext.FastText.eprint = lambda *a, **k: None  # its load_model prints a deprecation warning
    return fasttext


def _ft_predict(ft, text: str, k: int):
    """fastText's predict through its binding (FastText.predict's np.array(copy=False) fails on NumPy 2)."""
    pairs = ft.f.predict(text + "\n", k, 0.0, "strict")
    return [label for _, label in pairs], [float(np.exp(p)) if p <= 0 else float(p) for p, _ in pairs]


def _hps(**kw):
    return ALGORITHM.validate({k: str(v) for k, v in kw.items()})


def _tokens(text: str) -> list[list[str]]:
    return [tokenize_line(line) for line in text.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def supervised_model(tmp_path_factory):
    train = _tokens(fasttext_lines(labelled_text(1500, classes=4, seed=0)))
    val = _tokens(fasttext_lines(labelled_text(300, classes=4, seed=1)))
    metrics: dict[str, float] = {}
    model, stats = train_supervised(train, val, _hps(mode="supervised", min_count=1, buckets=20000, epochs=10,
                                                                   learning_rate=0.1),
                                    CPU, lambda m: None, metrics.__setitem__)
    folder = tmp_path_factory.mktemp("bt-sup")
    model.save(folder / "model.bin")
    return folder, model, metrics, stats


@pytest.fixture(scope="module")
def subword_model(tmp_path_factory):
    sentences = _tokens("\n".join(word2vec_corpus(1500, seed=0)))
    model, _ = train_word2vec(sentences, _hps(mode="skipgram", min_count=1, subwords="true", buckets=3000,
                                              vector_dim=16, epochs=2), CPU, lambda m: None)
    folder = tmp_path_factory.mktemp("bt-w2v")
    model.save(folder / "vectors.bin")
    return folder, model


# ------------------------------------------------------------------ fastText compatibility

def test_hash_and_subwords_match_fasttext(subword_model):
    fasttext = _fasttext()
    folder, model = subword_model
    ft = fasttext.load_model(str(folder / "vectors.bin"))
    for word in ("e1f0", "w3", "unseenword", "naïve", "日本語"):
        names, ids = ft.get_subwords(word)
        assert list(ids) == model.subword_rows(word), word  # non-ASCII words check the hash's sign extension
        mine = char_ngrams("<" + word + ">", 3, 6)
        assert list(names) == ([word] if word in model.word2id else []) + mine, word
    assert ft.get_words() == model.words


def test_word_vectors_match_fasttext_including_unknown_words(subword_model):
    fasttext = _fasttext()
    folder, model = subword_model
    ft = fasttext.load_model(str(folder / "vectors.bin"))
    assert ft.get_dimension() == 16
    handler = BlazingTextHandler(str(folder))
    body, _ = handler.invoke(json.dumps({"instances": ["e2f1", "e2f1zz", "qqqq"]}).encode(), "application/json",
                             "application/json")
    answers = json.loads(body)
    for ans in answers:
        expected = ft.get_word_vector(ans["word"])
        np.testing.assert_allclose(ans["vector"], expected, atol=1e-5)
    assert np.abs(answers[1]["vector"]).sum() > 0  # an unknown word has a subword vector


def test_supervised_model_bin_predicts_as_fasttext(supervised_model):
    fasttext = _fasttext()
    folder, model, _, _ = supervised_model
    ft = fasttext.load_model(str(folder / "model.bin"))
    assert sorted(ft.get_labels()) == sorted(model.labels)
    handler = BlazingTextHandler(str(folder))
    texts = [text for _, text in labelled_text(20, classes=4, seed=7)] + ["never seen words only"]
    for text in texts:
        mine = handler.classify(text, 3)
        labels, probs = _ft_predict(ft, text, 3)
        assert mine["label"] == labels, text
        np.testing.assert_allclose(mine["prob"], probs, atol=2e-5)


def test_model_file_round_trips(supervised_model, tmp_path):
    folder, model, _, _ = supervised_model
    again = FastTextModel.load(folder / "model.bin")
    assert again.words == model.words and again.labels == model.labels
    np.testing.assert_array_equal(again.input, model.input)
    assert again.args.word_ngrams == 2 and again.args.bucket == 20000
    (tmp_path / "bad.bin").write_bytes(b"not a model at all")
    with pytest.raises(ValueError, match="not a fastText model"):
        FastTextModel.load(tmp_path / "bad.bin")


# ------------------------------------------------------------------ quality

@pytest.fixture(scope="module")
def corpus():
    return _tokens("\n".join(word2vec_corpus(20000, seed=3)))


def test_supervised_accuracy(supervised_model):
    _, _, metrics, stats = supervised_model
    assert metrics["validation:accuracy"] >= 0.9, metrics
    assert metrics["train:accuracy"] >= 0.9, metrics
    assert stats["words_per_second"] > 0


def _similarity_and_analogy(model) -> tuple[float, float]:
    from scipy.stats import spearmanr

    vec = word_vectors(model)
    idx = model.word2id
    gold, pred = [], []
    for a, b, s in similarity_pairs():
        va, vb = vec[idx[a]], vec[idx[b]]
        gold.append(s)
        pred.append(va @ vb / np.linalg.norm(va) / np.linalg.norm(vb))
    V = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    right = 0
    questions = analogies()[:100]
    for a, b, c, d in questions:
        scores = V @ (V[idx[b]] - V[idx[a]] + V[idx[c]])
        scores[[idx[a], idx[b], idx[c]]] = -np.inf
        right += int(np.argmax(scores) == idx[d])
    return float(spearmanr(gold, pred).correlation), right / len(questions)


@pytest.mark.parametrize("mode, rho_min, analogy_min", [("skipgram", 0.25, 0.6), ("cbow", 0.05, 0.6),
                                                          ("batch_skipgram", 0.25, 0.6)])
def test_word2vec_learns_similarity_and_analogies(mode, rho_min, analogy_min, corpus):
    sentences = corpus
    model, stats = train_word2vec(sentences, _hps(mode=mode, min_count=1, vector_dim=32, epochs=5), CPU,
                                  lambda m: None)
    rho, analogy = _similarity_and_analogy(model)
    assert rho > rho_min and analogy > analogy_min, (mode, rho, analogy)
    assert stats["words_per_second"] > 1000


# ------------------------------------------------------------------ the training program

def _run(tmp_path, hps, channels):
    prepare_job(tmp_path, {k: str(v) for k, v in hps.items()}, channels, "File")
    return run_training(ALGORITHM.training_module, tmp_path, timeout=120)


@pytest.mark.slow
def test_word2vec_job_writes_vectors_and_mean_rho(tmp_path):
    corpus = ("\n".join(word2vec_corpus(1500, seed=1)) + "\n").encode()
    result = _run(tmp_path, {"mode": "cbow", "min_count": 2, "vector_dim": 12, "epochs": 2,
                             "sampling_threshold": 0.01, "evaluation": "true"},
                  {"train": ({"corpus.txt": corpus}, "text/plain")})
    assert result.returncode == 0, result.output[-2000:] + result.failure
    rho = logged_metrics(result.output, ALGORITHM.metrics)["train:mean_rho"]
    assert json.loads((result.model_dir / "eval.json").read_text())["mean_rho"] == pytest.approx(rho, abs=1e-5)
    words, vectors = read_vectors_txt(result.model_dir / "vectors.txt")
    header = (result.model_dir / "vectors.txt").read_text().splitlines()[0]
    assert header == f"{len(words)} 12" and vectors.shape == (len(words), 12)
    assert "e0f0" in words
    model = FastTextModel.load(result.model_dir / "vectors.bin")
    assert model.words == words and model.args.model == "cbow"
    np.testing.assert_allclose(model.word_vector("e0f0"), vectors[words.index("e0f0")], atol=1e-4)
    try:
        from gensim.models import KeyedVectors
    except ImportError:
        return
    kv = KeyedVectors.load_word2vec_format(str(result.model_dir / "vectors.txt"), binary=False)
    assert kv.index_to_key == words
    np.testing.assert_allclose(kv["e0f0"], vectors[words.index("e0f0")], atol=1e-6)


@pytest.mark.slow
def test_job_refuses_unlabelled_lines_with_a_clear_reason(tmp_path):
    result = _run(tmp_path, {"mode": "supervised", "min_count": 1},
                  {"train": ({"a.txt": b"__label__a one two\nno label here\n"}, "text/plain")})
    assert result.returncode != 0
    assert result.failure.startswith("ClientError:") and "Line 2 of the train channel has no label" in result.failure


# ------------------------------------------------------------------ hyperparameters and data errors

@pytest.mark.parametrize("hps, fragment", [
    ({"mode": "batch_skipgram", "subwords": "true"}, "'subwords'"),
    ({"mode": "supervised", "subwords": "true"}, "'subwords'"),
    ({"mode": "skipgram", "subwords": "true", "min_char": "5", "max_char": "3"}, "'min_char'"),
    ({"mode": "glove"}, "'mode'"),
])
def test_cross_checks(hps, fragment):
    with pytest.raises(ValidationError, match=fragment):
        ALGORITHM.validate(hps)


def test_defaults_follow_aws():
    hps = ALGORITHM.validate({"mode": "skipgram"})
    assert (hps["epochs"], hps["learning_rate"], hps["window_size"], hps["negative_samples"], hps["min_count"],
            hps["sampling_threshold"], hps["batch_size"], hps["buckets"], hps["word_ngrams"]) == \
        (5, 0.05, 5, 5, 5, 1e-4, 11, 2000000, 2)
    assert "vector_dim" not in hps  # 100 for Word2Vec, 10 for supervised: chosen by mode
    # the word2vec notebook sends subwords=False with batch_skipgram; the DBpedia one early-stopping settings
    ALGORITHM.validate({"mode": "batch_skipgram", "subwords": "False", "batch_size": "11", "evaluation": "True"})
    ALGORITHM.validate({"mode": "supervised", "early_stopping": "True", "patience": "4", "min_epochs": "5"})


def test_early_stopping_needs_validation_and_stops():
    train = _tokens(fasttext_lines(labelled_text(300, classes=2, topical=0.9, seed=0)))
    with pytest.raises(ValidationError, match="early_stopping"):
        train_supervised(train, None, _hps(mode="supervised", early_stopping="true", min_count=1), CPU,
                         lambda m: None, lambda n, v: None)
    val = _tokens(fasttext_lines(labelled_text(60, classes=2, topical=0.9, seed=1)))
    seen: list[float] = []
    logs: list[str] = []
    model, _ = train_supervised(train, val, _hps(mode="supervised", early_stopping="true", min_count=1,
                                                 epochs=40, min_epochs=2, patience=2, learning_rate=0.5),
                                CPU, logs.append, lambda n, v: seen.append(v) if n == "validation:accuracy" else 0)
    assert model.args.epoch < 40 and any("early stopping" in m for m in logs), logs
    assert max(seen) == seen[-1]  # the reported (kept) accuracy is the best one


def test_supervised_needs_two_labels():
    train = _tokens("__label__a x y\n__label__a y z\n")
    with pytest.raises(ValidationError, match="at least two"):
        train_supervised(train, None, _hps(mode="supervised", min_count=1), CPU, lambda m: None, lambda n, v: None)


def test_data_errors_name_the_file_and_line(tmp_path):
    from shipyard.algorithms.blazingtext.data import read_lines, supervised_examples

    (tmp_path / "bad.txt").write_bytes(b"\xff\xfe bad bytes\n")
    with pytest.raises(ValidationError, match="bad.txt.*not UTF-8"):
        read_lines(tmp_path, "train")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValidationError, match="holds no files"):
        read_lines(empty, "train")
    manifest = tmp_path / "m"
    manifest.mkdir()
    (manifest / "a.jsonl").write_text('{"source": "good text", "label": 3}\n{"text": "no source"}\n')
    with pytest.raises(ValidationError, match="Line 2.*augmented-manifest"):
        supervised_examples(manifest, "train")
    (manifest / "a.jsonl").write_text('{"source": "good text", "label": 3}\n')
    assert supervised_examples(manifest, "train") == [["__label__3", "good", "text", "</s>"]]


# ------------------------------------------------------------------ serving

def test_supervised_serving_shapes_and_errors(supervised_model):
    folder, _, _, _ = supervised_model
    handler = BlazingTextHandler(str(folder))
    texts = [t for _, t in labelled_text(3, classes=4, seed=9)]
    body, ct = handler.invoke(json.dumps({"instances": texts, "configuration": {"k": 2}}).encode(),
                              "application/json", "application/json")
    doc = json.loads(body)
    assert ct == "application/json" and isinstance(doc, list) and len(doc) == 3
    for row in doc:
        assert len(row["label"]) == 2 and row["label"][0].startswith("__label__")
        assert row["prob"][0] >= row["prob"][1] and 0 < row["prob"][0] <= 1
    lines, ct = handler.invoke("\n".join(json.dumps({"source": t}) for t in texts).encode(),
                               "application/jsonlines", "application/jsonlines")
    assert ct == "application/jsonlines"
    assert [json.loads(x)["label"] for x in lines.decode().splitlines()] == [[r["label"][0]] for r in doc]
    for bad, fragment in [({"instances": "text"}, "instances"), ({"instances": [1]}, "must be a string"),
                          ({"instances": ["x"], "configuration": {"k": 0}}, "positive integer"),
                          ({"instances": []}, "no instances")]:
        with pytest.raises(ValidationError, match=fragment):
            handler.invoke(json.dumps(bad).encode(), "application/json", "application/json")
    with pytest.raises(ValidationError, match="not supported"):
        handler.invoke(b"a,b", "text/csv", "application/json")


def test_vectors_txt_alone_serves_words(tmp_path, subword_model):
    _, model = subword_model
    from shipyard.algorithms.blazingtext.fasttext_format import write_vectors_txt

    write_vectors_txt(tmp_path / "vectors.txt", model.words, word_vectors(model))
    handler = BlazingTextHandler(str(tmp_path))
    doc = json.loads(handler.invoke(b'{"instances": ["e1f1", "nope"]}', "application/json", "")[0])
    assert [d["word"] for d in doc] == ["e1f1", "nope"] and len(doc[0]["vector"]) == 16
    np.testing.assert_allclose(doc[0]["vector"], model.word_vector("e1f1"), atol=1e-4)
    assert not any(doc[1]["vector"])  # unknown without subwords: zeros, as fastText
