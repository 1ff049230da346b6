"""The NTM network in torch (training) and its encoder's forward pass in numpy (serving, so an endpoint needs
no torch and answers the same on any machine).

Encoder input is ``log(1 + counts)``: raw counts of long documents saturate sigmoid units; the reconstruction
term still scores the raw counts.
"""

from __future__ import annotations

from typing import Any

import numpy as np

ACTIVATIONS = ("sigmoid", "tanh", "relu")
BN_EPS = 1e-5


def build(torch: Any, vocab: int, num_topics: int, hidden: list[int], activation: str, batch_norm: bool):
    nn = torch.nn

    class NTM(nn.Module):  # type: ignore[name-defined]
        def __init__(self) -> None:
            super().__init__()
            layers: list = []
            width = vocab
            for size in hidden:
                layers.append(nn.Linear(width, size))
                if batch_norm:
                    layers.append(nn.BatchNorm1d(size, eps=BN_EPS))
                layers.append({"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}[activation]())
                width = size
            self.encoder = nn.Sequential(*layers)
            self.mu = nn.Linear(width, num_topics)
            self.logvar = nn.Linear(width, num_topics)
            self.decoder = nn.Linear(num_topics, vocab)

        def encode(self, x):
            h = self.encoder(torch.log1p(x))
            return self.mu(h), self.logvar(h).clamp(-10.0, 10.0)

        def losses(self, x, sample: bool = True):
            """(reconstruction NLL, KL) per document."""
            mu, logvar = self.encode(x)
            z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
            logp = torch.log_softmax(self.decoder(torch.softmax(z, dim=1)), dim=1)
            recon = -(x * logp).sum(dim=1)
            kl = -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=1)
            return recon, kl

    return NTM()


def topic_words(arrays: dict[str, np.ndarray]) -> np.ndarray:
    """Each topic's word distribution (num_topics x vocabulary): the decoder's output for a one-hot mixture."""
    logits = arrays["decoder.weight"].T.astype(np.float64) + arrays["decoder.bias"][None, :]
    logits -= logits.max(axis=1, keepdims=True)
    p = np.exp(logits)
    return p / p.sum(axis=1, keepdims=True)


def encode_numpy(X: np.ndarray, arrays: dict[str, np.ndarray], meta: dict) -> np.ndarray:
    """The latent mean of each document, with the saved weights (eval mode: batch norm's running stats)."""
    h = np.log1p(np.asarray(X, dtype=np.float64))
    idx = 0
    for _ in meta["hidden"]:
        h = h @ arrays[f"encoder.{idx}.weight"].T.astype(np.float64) + arrays[f"encoder.{idx}.bias"]
        idx += 1
        if meta["batch_norm"]:
            p = f"encoder.{idx}."
            h = (h - arrays[p + "running_mean"]) / np.sqrt(arrays[p + "running_var"] + BN_EPS) \
                * arrays[p + "weight"] + arrays[p + "bias"]
            idx += 1
        act = meta["activation"]
        h = 1.0 / (1.0 + np.exp(-h)) if act == "sigmoid" else np.tanh(h) if act == "tanh" else np.maximum(h, 0.0)
        idx += 1
    return h @ arrays["mu.weight"].T.astype(np.float64) + arrays["mu.bias"]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)
