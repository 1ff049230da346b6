"""kNN training program: reservoir-sample ``sample_size`` labelled points, reduce, build the index."""

from __future__ import annotations

import numpy as np

from ...errors import ValidationError
from ..builtin import TrainingRun, main
from . import ALGORITHM
from .index import build_ivf, make_reducer, prepare, reduce, search, vote
from .model import write as write_aws


def reservoir(batches, size: int, rng: np.random.Generator, reducer: dict):
    """Uniform sample of ``size`` rows from a stream (priority sampling: keep the smallest random keys)."""
    keys = np.zeros(0)
    X = y = None
    for b in batches:
        if b.y is None:
            raise ValidationError("knn needs labels: CSV label first (label_size=1) or label['values'].")
        Xb = reduce(b.X, reducer)
        kb = rng.random(len(b))
        keys = np.concatenate([keys, kb])
        X = Xb if X is None else np.vstack([X, Xb])
        y = b.y if y is None else np.concatenate([y, b.y])
        if len(keys) > size:
            keep = np.argpartition(keys, size - 1)[:size]
            keys, X, y = keys[keep], X[keep], y[keep]
    return X, y


def train(run: TrainingRun) -> None:
    h = run.hps
    rng = np.random.default_rng(0)
    D = h["feature_dim"]
    reducer = make_reducer(h.get("dimension_reduction_type"), D, h.get("dimension_reduction_target"), rng)
    X, y = reservoir(run.batches("train", h["mini_batch_size"], 0, label_size=1, feature_dim=D),
                     h["sample_size"], rng, reducer)
    if X is None:
        raise ValidationError("The train channel holds no data.")
    X = prepare(X, h["index_metric"])
    arrays = {"points": X, "labels": y.astype(np.float32)}
    if h["index_type"] != "faiss.Flat":
        nl = h["faiss_index_ivf_nlists"]
        nl = max(1, int(np.sqrt(len(X)))) if nl == "auto" else nl
        arrays["centroids"], arrays["assign"] = build_ivf(X, nl, rng)
    arrays.update(reducer)
    meta = {"feature_dim": D, "k": h["k"], "predictor_type": h["predictor_type"], "metric": h["index_metric"],
            "nprobe": h["faiss_index_nprobe"]}
    if run.has("test"):
        test = run.load("test", label_size=1, feature_dim=D)
        if test is not None and test.y is not None:
            Q = prepare(reduce(test.X, reducer), h["index_metric"])
            idx = search(Q, X, h["k"], h["index_metric"], arrays.get("centroids"), arrays.get("assign"),
                         h["faiss_index_nprobe"])
            pred = vote(y[idx], h["predictor_type"] == "classifier")
            if h["predictor_type"] == "classifier":
                run.metric("test:accuracy", float((pred == test.y).mean()))
            else:
                run.metric("test:mse", float(((pred - test.y) ** 2).mean()))
    # AWS's layout (a FAISS flat index, the labels, JSON metadata), so the model also deploys on SageMaker
    write_aws(run.env.model_dir, {**meta, "index_type": h["index_type"],
                                  "dimension_reduction_type": h.get("dimension_reduction_type"),
                                  "dimension_reduction_target": h.get("dimension_reduction_target")}, arrays)


if __name__ == "__main__":
    main(ALGORITHM, train)
