"""Random cut forest training program: per-tree reservoir samples from one pass, then the trees."""

from __future__ import annotations

import numpy as np

from ...errors import ValidationError
from ..builtin import TrainingRun, as_dense, main
from ..linear_learner.metrics import binary_report
from . import ALGORITHM
from .forest import Tree, forest_scores, to_arrays


def tree_samples(batches, trees: int, size: int, rng: np.random.Generator):
    """For each tree an independent uniform sample of ``size`` rows (priority sampling per tree)."""
    pool = None
    keys = None  # [rows in pool, trees]
    for b in batches:
        Xb = as_dense(b.X).astype(np.float64)
        kb = rng.random((len(Xb), trees))
        pool = Xb if pool is None else np.vstack([pool, Xb])
        keys = kb if keys is None else np.vstack([keys, kb])
        if len(pool) > 4 * size:
            kth = min(size, len(pool)) - 1
            chosen = np.argpartition(keys, kth, axis=0)[:size]      # rows each tree keeps
            used = np.unique(chosen)
            mask = np.full(keys.shape, np.inf)
            cols = np.broadcast_to(np.arange(trees), chosen.shape)
            mask[chosen, cols] = keys[chosen, cols]
            pool, keys = pool[used], mask[used]
    if pool is None:
        raise ValidationError("The train channel holds no data.")
    kth = min(size, len(pool)) - 1
    chosen = np.argpartition(keys, kth, axis=0)[:kth + 1]
    return pool, [pool[chosen[:, t]] for t in range(trees)]


def train(run: TrainingRun) -> None:
    h = run.hps
    rng = np.random.default_rng(0)
    D, T, S = h["feature_dim"], h["num_trees"], h["num_samples_per_tree"]
    pool, samples = tree_samples(run.batches("train", h["mini_batch_size"], 0, label_size=0, feature_dim=D),
                                 T, S, rng)
    trees = [Tree(s, rng) for s in samples]
    train_scores = forest_scores(trees, pool[:5000], S)
    threshold = float(train_scores.mean() + 3 * train_scores.std())
    run.log(f"{T} trees of {len(samples[0])} points; anomaly threshold {threshold:.4g}")
    if run.has("test"):
        test = run.load("test", label_size=1, feature_dim=D)
        if test is not None and test.y is not None:
            scores = forest_scores(trees, as_dense(test.X).astype(np.float64), S)
            rep = binary_report(scores, test.y, threshold)
            if "accuracy" in h["eval_metrics"]:
                run.metric("test:accuracy", rep["binary_classification_accuracy"])
            if "precision_recall_fscore" in h["eval_metrics"]:
                run.metric("test:precision", rep["precision"])
                run.metric("test:recall", rep["recall"])
                run.metric("test:f1", rep["binary_f_beta"])
    run.save({"feature_dim": D, "sample_size": len(samples[0]), "threshold": threshold}, **to_arrays(trees))


if __name__ == "__main__":
    main(ALGORITHM, train)
