"""IP Insights training program: ``python -m shipyard.algorithms.ip_insights.train`` (CSV ``entity,ip``)."""

from __future__ import annotations

import numpy as np

from ...errors import ValidationError
from ...io.readers import iter_string_rows
from ..builtin import TrainingRun, main
from ..linear_learner.metrics import roc_auc
from . import ALGORITHM
from .model import IPInsightsModel, entity_rows, ip_ints, prefix_rows, with_negatives


def pairs(run: TrainingRun, channel: str, batch: int, epoch: int):
    run.check_format(channel)
    for ent, ip in iter_string_rows(run.env.channels[channel], 2, batch, run.mode(channel), epoch):
        yield ent, ip_ints(ip)


def train(run: TrainingRun) -> None:
    h = run.hps
    n, dim = h["num_entity_vectors"], h["vector_dim"]
    rng = np.random.default_rng(0)
    model = IPInsightsModel(n, dim, rng, h["learning_rate"], h["weight_decay"])
    cached = None
    for epoch in range(h["epochs"]):
        if run.mode("train").lower() == "pipe" or cached is None:
            source = list(pairs(run, "train", h["mini_batch_size"], epoch))
            cached = source if run.mode("train").lower() != "pipe" else None
        else:
            source = cached
        if not source:
            raise ValidationError("The train channel holds no data.")
        total, count = 0.0, 0
        for ent_s, ip in source:
            ent = entity_rows(ent_s, n)
            e, i, y = with_negatives(ent, ip, h["random_negative_sampling_rate"],
                                     h["shuffled_negative_sampling_rate"], rng)
            total += model.step(e, prefix_rows(i, n), y) * len(y)
            count += len(y)
        run.metric("train:objective_loss", total / max(count, 1))
    if run.has("validation"):
        batches = list(pairs(run, "validation", 1 << 16, 0))
        if batches:
            ent = entity_rows(np.concatenate([b[0] for b in batches]), n)
            ip = np.concatenate([b[1] for b in batches])
            e, i, y = with_negatives(ent, ip, max(1, h["random_negative_sampling_rate"]),
                                     max(1, h["shuffled_negative_sampling_rate"]), np.random.default_rng(1))
            s = model.scores(e, prefix_rows(i, n))
            run.metric("validation:discriminator_auc", float(roc_auc(s[None, :], y)[0]))
    run.save({"num_entity_vectors": n, "vector_dim": dim}, entities=model.E.astype(np.float32),
             prefixes=model.P.astype(np.float32))


if __name__ == "__main__":
    main(ALGORITHM, train)
