"""LDA training program: ``python -m shipyard.algorithms.lda.train`` (spectral method, :mod:`.spectral`)."""

from __future__ import annotations

import numpy as np

from ...errors import ValidationError
from ...io import ndarray
from .. import aws_artifacts
from ..builtin import TrainingRun, main
from . import ALGORITHM
from .spectral import check_counts, fit, infer, log_likelihood


def _counts(run: TrainingRun, channel: str, epoch: int):
    h = run.hps
    D = h["feature_dim"]
    for b in run.batches(channel, h["mini_batch_size"], epoch, label_size=0, feature_dim=D):
        if b.X.shape[1] != D:
            raise ValidationError(f"The {channel} channel has rows of {b.X.shape[1]} word counts; feature_dim is "
                                  f"{D} (the vocabulary size): each row must hold one count per word.")
        yield b.X


def train(run: TrainingRun) -> None:
    h = run.hps
    k, D = h["num_topics"], h["feature_dim"]
    if k > D:
        raise ValidationError(f"Hyperparameter 'num_topics' is {k}; expected int in [1, feature_dim={D}].")
    for channel in ("train", "test"):
        if run.has(channel) and run.mode(channel).lower() == "pipe" and \
                run.content_type(channel).startswith("text/csv"):
            raise ValidationError(f"Channel '{channel}' is text/csv in Pipe mode; LDA reads CSV in File mode "
                                  "only (as AWS's): use File mode or application/x-recordio-protobuf.")
    if len(run.env.hosts) > 1:
        run.log(f"LDA trains on one instance; {len(run.env.hosts)} hosts given: "
                f"{run.env.current_host} trains, the others stay idle")
        if run.env.current_host != sorted(run.env.hosts)[0]:
            return
    alpha, beta = fit(_counts(run, "train", 0), _counts(run, "train", 1), D, k, h["alpha0"], h["max_restarts"],
                      h["max_iterations"], h["tol"], log=run.log)
    run.log(f"alpha: {np.round(alpha, 4).tolist()}")
    # AWS's artifact: an NDArray list [alpha, beta], so AWS's notebook reads it with mx.ndarray.load
    aws_artifacts.write(run.env.model_dir, to_aws(alpha, beta),
                        meta={"feature_dim": D, "num_topics": k, "alpha0": h["alpha0"]})
    if run.has("test"):
        total, words = 0.0, 0.0
        for X in _counts(run, "test", 0):
            check_counts(X, "test channel")
            ll, n = log_likelihood(X, infer(X, alpha, beta), beta)
            total, words = total + ll, words + n
        if words == 0:
            raise ValidationError("The test channel holds no words.")
        run.metric("test:pwll", total / words)


def to_aws(alpha: np.ndarray, beta: np.ndarray) -> bytes:
    """AWS's LDA artifact: ``mx.nd.save`` of [alpha (num_topics,), beta (num_topics x vocabulary)]."""
    return ndarray.dumps([np.asarray(alpha, np.float32), np.asarray(beta, np.float32)])


def from_aws(data: bytes, meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
    a = ndarray.loads(data)
    if isinstance(a, dict):
        a = [a.get("alpha"), a.get("beta")]
    if len(a) != 2 or a[0] is None or a[1] is None:
        raise ValueError("expected an NDArray list [alpha, beta]")
    alpha = np.asarray(a[0], np.float64).ravel()
    beta = np.asarray(a[1], np.float64)
    if beta.ndim != 2 or beta.shape[0] != alpha.size:
        if beta.ndim == 2 and beta.shape[1] == alpha.size:
            beta = beta.T
        else:
            raise ValueError(f"alpha {alpha.shape} and beta {beta.shape} do not fit together")
    beta = np.maximum(beta, 1e-10)
    beta = beta / beta.sum(axis=1, keepdims=True)
    return ({"num_topics": int(alpha.size), **meta, "feature_dim": int(beta.shape[1])},
            {"alpha": alpha, "beta": beta})


if __name__ == "__main__":
    main(ALGORITHM, train)
