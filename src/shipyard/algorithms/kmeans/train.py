"""k-means training program: ``python -m shipyard.algorithms.kmeans.train``."""

from __future__ import annotations

import numpy as np

from ...errors import ValidationError
from .. import aws_artifacts
from ..builtin import TrainingRun, as_dense, main
from . import ALGORITHM
from .model import MiniBatchKMeans, kmeans_pp, random_init, sq_distances, to_aws, weighted_lloyd


def train(run: TrainingRun) -> None:
    h = run.hps
    k, dim = h["k"], h["feature_dim"]
    extra = h["extra_center_factor"]
    if extra == "auto":
        extra = h["center_factor"] if h["center_factor"] != "auto" else 4
    n_centers = k * extra
    rng = np.random.default_rng(0)
    model = None
    rows = 0
    for epoch in range(h["epochs"]):
        cost, n = 0.0, 0
        for b in run.batches("train", h["mini_batch_size"], epoch, label_size=0, feature_dim=dim):
            X = (as_dense(b.X) if h["force_dense"] else b.X).astype(np.float64)
            if model is None:
                init = kmeans_pp(X, min(n_centers, X.shape[0]), rng) if h["init_method"] == "kmeans++" \
                    else random_init(X, min(n_centers, X.shape[0]), rng)
                model = MiniBatchKMeans(init, h["half_life_time_size"])
            cost += model.partial_fit(X)
            n += X.shape[0]
        if model is None:
            raise ValidationError("The train channel holds no data.")
        rows = max(rows, n)
        run.log(f"epoch {epoch + 1}: {n} points, mean squared distance {cost / max(n, 1):.6g}")
    if rows < k:
        raise ValidationError(f"Hyperparameter 'k' is {k} but the train channel holds only {rows} points.")
    trials = h["local_lloyd_num_trials"]
    trials = 1 if trials == "auto" else trials
    centers, _ = weighted_lloyd(model.C, model.counts, k, h["local_lloyd_init_method"],
                                h["local_lloyd_max_iter"], h["local_lloyd_tol"], trials, rng)
    if run.has("test"):
        ssd, n = 0.0, 0
        for b in run.batches("test", h["mini_batch_size"], 0, label_size=0, feature_dim=dim):
            ssd += float(sq_distances(b.X.astype(np.float64), centers).min(axis=1).sum())
            n += len(b)
        if n:
            if "msd" in h["eval_metrics"]:
                run.metric("test:msd", ssd / n)
            if "ssd" in h["eval_metrics"]:
                run.metric("test:ssd", ssd)
    # AWS's format (an NDArray list with the centroids), so the model also deploys on SageMaker
    aws_artifacts.write(run.env.model_dir, to_aws(centers))


if __name__ == "__main__":
    main(ALGORITHM, train)
