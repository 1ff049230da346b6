"""Bag-of-words documents drawn from known topics (LDA's generative process), for tests, the conformance
sample, the benchmark and the examples: no corpus can be downloaded, and known topics let a test check that
the learned ones match them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Corpus:
    counts: np.ndarray        # documents x vocabulary word counts (float32)
    topics: np.ndarray        # num_topics x vocabulary, rows sum to 1
    mixtures: np.ndarray      # documents x num_topics, rows sum to 1


def topic_matrix(num_topics: int, vocab: int, seed: int = 0, concentration: float = 0.1) -> np.ndarray:
    """Topics that each favour their own block of words (plus a sparse Dirichlet tail), so they are distinct."""
    rng = np.random.default_rng(seed)
    topics = rng.dirichlet(np.full(vocab, concentration), size=num_topics)
    block = max(1, vocab // num_topics)
    for i in range(num_topics):
        topics[i, i * block:(i + 1) * block] += 2.0 / block
    return topics / topics.sum(axis=1, keepdims=True)


def generate(num_docs: int, num_topics: int, vocab: int, words_per_doc: int = 50, alpha: float = 0.3,
             seed: int = 0, topics: np.ndarray | None = None) -> Corpus:
    rng = np.random.default_rng(seed + 1)
    if topics is None:
        topics = topic_matrix(num_topics, vocab, seed)
    mixtures = rng.dirichlet(np.full(num_topics, alpha), size=num_docs)
    probs = mixtures @ topics
    counts = np.stack([rng.multinomial(words_per_doc, p / p.sum()) for p in probs]).astype(np.float32)
    return Corpus(counts, topics, mixtures)


def best_match_cosine(learned: np.ndarray, true: np.ndarray) -> float:
    """Mean over true topics of the cosine similarity of the best one-to-one matching learned topic."""
    from scipy.optimize import linear_sum_assignment

    a = learned / np.linalg.norm(learned, axis=1, keepdims=True)
    b = true / np.linalg.norm(true, axis=1, keepdims=True)
    sim = b @ a.T
    rows, cols = linear_sum_assignment(-sim)
    return float(sim[rows, cols].mean())
