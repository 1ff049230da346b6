"""BlazingText training program: ``python -m shipyard.algorithms.blazingtext.train``.

Word2Vec modes write ``vectors.txt`` and ``vectors.bin``; ``supervised`` writes ``model.bin`` (see
:mod:`.fasttext_format`). Metrics: ``train:mean_rho`` (Word2Vec with ``evaluation``), ``validation:accuracy``
per epoch and ``train:accuracy`` (supervised).
"""

from __future__ import annotations

import json

from ...errors import ValidationError
from ..builtin import TrainingRun, main
from ..neural import device, import_torch, seed_everything
from . import ALGORITHM, JSONLINES, TEXT, WORD2VEC_MODES
from .data import supervised_examples, word_sentences
from .fasttext_format import write_vectors_txt
from .supervised import train_supervised
from .word2vec import corpus_similarity_rho, train_word2vec, word_vectors


def _check(run: TrainingRun, channel: str) -> None:
    ct = run.content_type(channel).split(";")[0].strip()
    if ct not in (TEXT, JSONLINES):
        raise ValidationError(f"Channel '{channel}' has content type '{ct}'; BlazingText reads text/plain (one "
                              "sentence or '__label__X text' example per line) or application/jsonlines "
                              "(augmented manifest lines {\"source\": ..., \"label\": ...}).")


def train(run: TrainingRun) -> None:
    h = run.hps
    seed_everything(0)
    dev = device()
    if dev.type == "cpu":
        # The mini-batch operations here are small: intra-op threads gain little and, on shared cores, lose
        # much (measured 30x slower with 2 threads on a loaded 2-core machine), so one thread, as fastText's
        # per-thread loop.
        import_torch().set_num_threads(1)
    if not run.has("train"):
        raise ValidationError("BlazingText needs a 'train' channel.")
    _check(run, "train")
    out = run.env.model_dir
    out.mkdir(parents=True, exist_ok=True)
    run.log(f"mode {h['mode']} on {dev}")
    if h["mode"] in WORD2VEC_MODES:
        sentences = word_sentences(run.env.channels["train"])
        model, stats = train_word2vec(sentences, h, dev, run.log)
        vectors = word_vectors(model)
        write_vectors_txt(out / "vectors.txt", model.words, vectors)
        model.save(out / "vectors.bin")
        run.log(f"{model.nwords} words, {stats['words_per_second']:.0f} words/second "
                f"({stats['seconds']:.2f} s training)")
        if h["evaluation"]:
            scored = corpus_similarity_rho(model, vectors, sentences)
            if scored is not None:
                rho, pairs = scored
                run.metric("train:mean_rho", rho)
                # AWS writes eval.json with its WordSimilarity-353 scores; this one names the set it used
                (out / "eval.json").write_text(json.dumps({
                    "corpus-ppmi-similarity": {"spearmans_rho": rho, "total_pairs": pairs, "not_found": 0},
                    "mean_rho": rho}, indent=2))
        return
    validation = None
    if run.has("validation"):
        _check(run, "validation")
        validation = supervised_examples(run.env.channels["validation"], "validation")
    examples = supervised_examples(run.env.channels["train"], "train")
    model, stats = train_supervised(examples, validation, h, dev, run.log, run.metric)
    model.save(out / "model.bin")
    run.log(f"{model.nwords} words, {len(model.labels)} labels, {stats['words_per_second']:.0f} words/second "
            f"({stats['seconds']:.2f} s training)")


if __name__ == "__main__":
    main(ALGORITHM, train)
