"""Generated text for BlazingText's tests, sample, benchmark and examples (nothing is downloaded).

``word2vec_corpus``: sentences about ``entities`` in ``forms`` (think "king"/"queen": entity x gender). Each
target word ``e<i>f<f>`` appears with context words of its entity and of its form, among common filler words,
so that words of one entity are similar and ``e<i>f1 - e<i>f0 + e<j>f0 ~ e<j>f1`` (an analogy set);
``similarity_pairs`` grades pairs by what they share. ``labelled_text``: documents of ``classes`` topics, each
drawing most words from its topic's vocabulary and the rest from a shared one (DBpedia-like, separable but
noisy).
"""

from __future__ import annotations

import numpy as np


def word2vec_corpus(n_sentences: int = 2000, entities: int = 20, forms: int = 2, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    fillers = [f"w{k}" for k in range(60)]
    filler_p = 1.0 / np.arange(1, len(fillers) + 1)
    filler_p /= filler_p.sum()
    lines = []
    for _ in range(n_sentences):
        i, f = int(rng.integers(entities)), int(rng.integers(forms))
        words = [f"e{i}f{f}"]
        words += [f"c{i}x{k}" for k in rng.integers(0, 6, 3)]
        words += [f"g{f}x{k}" for k in rng.integers(0, 6, 2)]
        words += [fillers[k] for k in rng.choice(len(fillers), 4, p=filler_p)]
        order = rng.permutation(len(words))
        lines.append(" ".join(words[k] for k in order))
    return lines


def similarity_pairs(entities: int = 20, forms: int = 2) -> list[tuple[str, str, float]]:
    """(word, word, gold score): 2 for one entity in two forms, 1 for two entities in one form, else 0."""
    targets = [(i, f) for i in range(entities) for f in range(forms)]
    out = []
    for a in range(len(targets)):
        for b in range(a + 1, len(targets)):
            (i, f), (j, g) = targets[a], targets[b]
            out.append((f"e{i}f{f}", f"e{j}f{g}", 2.0 if i == j else 1.0 if f == g else 0.0))
    return out


def analogies(entities: int = 20) -> list[tuple[str, str, str, str]]:
    """a : b :: c : d questions, ``e<i>f0 : e<i>f1 :: e<j>f0 : e<j>f1``."""
    return [(f"e{i}f0", f"e{i}f1", f"e{j}f0", f"e{j}f1") for i in range(entities) for j in range(entities) if i != j]


def labelled_text(n_docs: int = 600, classes: int = 4, words_per_class: int = 30, shared: int = 80,
                  length: int = 12, topical: float = 0.5, seed: int = 0) -> list[tuple[int, str]]:
    """(class, text) documents; ``topical`` is the share of words drawn from the class's own vocabulary."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_docs):
        c = int(rng.integers(classes))
        words = []
        for _ in range(length):
            if rng.random() < topical:
                words.append(f"t{c}w{int(rng.integers(words_per_class))}")
            else:
                words.append(f"s{int(rng.integers(shared))}")
        out.append((c, " ".join(words)))
    return out


def fasttext_lines(docs: list[tuple[int, str]]) -> str:
    """``__label__<class> text`` lines, as the supervised train and validation channels take them."""
    return "".join(f"__label__{c} {text}\n" for c, text in docs)
