"""Tiny generated Object2Vec data for the conformance suite, tests and benchmarks (nothing is downloaded).

Pairs come from latent factors: user ``u`` and item ``i`` have hidden vectors, and a pair's label is whether
their dot product is positive (classification) or a 1..5 rating that grows with it (regression), so a model
that learns the users' and items' embeddings beats chance and the rating variance.
"""

from __future__ import annotations

import json

import numpy as np

from ..base import SampleData, SampleRequest

JSONL = "application/jsonlines"
JSON = "application/json"


def latent_pairs(n: int, n_users: int = 40, n_items: int = 30, rank: int = 3, seed: int = 0,
                 truth_seed: int = 7, regression: bool = False, noise: float = 0.3
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, labels) of ``n`` random pairs; the same hidden factors for every ``seed`` (same truth)."""
    truth = np.random.default_rng(truth_seed)
    U = truth.normal(size=(n_users, rank))
    V = truth.normal(size=(n_items, rank))
    bu, bi = truth.normal(scale=0.5, size=n_users), truth.normal(scale=0.5, size=n_items)
    rng = np.random.default_rng(seed)
    users, items = rng.integers(0, n_users, n), rng.integers(0, n_items, n)
    score = np.einsum("ij,ij->i", U[users], V[items]) / np.sqrt(rank)
    if regression:
        raw = 3.0 + score + bu[users] + bi[items] + noise * rng.normal(size=n)
        return users, items, np.clip(np.round(raw), 1, 5)
    return users, items, (score + noise * rng.normal(size=n) > 0).astype(np.int64)


def records(users: np.ndarray, items: np.ndarray, labels: np.ndarray | None = None) -> list[dict]:
    out: list[dict] = []
    for k, (u, i) in enumerate(zip(users.tolist(), items.tolist())):
        rec: dict = {"in0": [u], "in1": [i]}
        if labels is not None:
            lab = labels[k]
            rec = {"label": int(lab) if float(lab).is_integer() else float(lab), **rec}
        out.append(rec)
    return out


def jsonl(recs: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in recs).encode()


def _with_second_token(recs: list[dict], vocab: int, every: int = 3) -> list[dict]:
    """Give every ``every``-th ``in0`` a second token (user id + a fixed offset), so batches hold sequences of
    different lengths and padding is exercised."""
    for k, r in enumerate(recs):
        if k % every == 0:
            r["in0"] = r["in0"] + [(r["in0"][0] + 1) % vocab]
    return recs


def make(content_type: str) -> SampleData:
    """train/validation/test JSON Lines channels of binary pairs and pair-scoring requests (JSON, JSON Lines)."""
    channels = {}
    for seed, name, n in ((0, "train", 600), (1, "validation", 200), (2, "test", 200)):
        recs = _with_second_token(records(*latent_pairs(n, seed=seed)), 40)
        channels[name] = ({f"{name}.jsonl": jsonl(recs)}, JSONL)
    u, i, _ = latent_pairs(5, seed=9)
    inst = _with_second_token(records(u, i), 40, every=2)
    json_body = json.dumps({"instances": inst}).encode()
    singles = tuple(json.dumps({"instances": [x]}).encode() for x in inst)
    requests = [SampleRequest(JSON, json_body, len(inst), singles),
                SampleRequest(JSONL, jsonl(inst), len(inst))]
    return SampleData(channels=channels, requests=requests)
