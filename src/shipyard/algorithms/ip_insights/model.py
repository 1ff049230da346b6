"""Hashing, the IPv4 prefix encoder, scoring and the lazy-Adam training step of IP Insights."""

from __future__ import annotations

import zlib

import numpy as np

from ...errors import ValidationError


def entity_rows(entities, n: int) -> np.ndarray:
    return np.fromiter((zlib.crc32(str(e).encode()) % n for e in entities), dtype=np.int64, count=len(entities))


def ip_ints(ips) -> np.ndarray:
    out = np.empty(len(ips), dtype=np.int64)
    for i, ip in enumerate(ips):
        parts = str(ip).strip().split(".")
        try:
            octets = [int(p) for p in parts]
            if len(octets) != 4 or not all(0 <= o <= 255 for o in octets):
                raise ValueError
        except ValueError:
            raise ValidationError(f"'{ip}' is not an IPv4 address (a.b.c.d).") from None
        out[i] = (octets[0] << 24) | (octets[1] << 16) | (octets[2] << 8) | octets[3]
    return out


def prefix_rows(ip: np.ndarray, n: int) -> np.ndarray:
    """[len, 4] table rows of the /8, /16, /24, /32 prefixes (a multiplicative hash of prefix and length)."""
    cols = []
    for k, bits in enumerate((8, 16, 24, 32)):
        prefix = (ip >> (32 - bits)).astype(np.uint64)
        h = (prefix * np.uint64(0x9E3779B97F4A7C15) + np.uint64(k * 0x85EBCA6B + 1)) >> np.uint64(17)
        cols.append((h % np.uint64(n)).astype(np.int64))
    return np.stack(cols, axis=1)


class IPInsightsModel:
    def __init__(self, n: int, dim: int, rng: np.random.Generator, lr: float = 0.001, wd: float = 0.0):
        self.E = rng.normal(0, 0.1, (n, dim))
        self.P = rng.normal(0, 0.1, (n, dim))
        self.state = {k: (np.zeros((n, dim)), np.zeros((n, dim)), np.zeros(n)) for k in ("E", "P")}
        self.lr, self.wd, self.n = lr, wd, n

    def ip_vectors(self, rows: np.ndarray) -> np.ndarray:
        return self.P[rows].mean(axis=1)

    def scores(self, ent: np.ndarray, iprows: np.ndarray) -> np.ndarray:
        return np.einsum("ij,ij->i", self.E[ent], self.ip_vectors(iprows))

    def _adam(self, name: str, rows: np.ndarray, grads: np.ndarray):
        uniq, inv = np.unique(rows, return_inverse=True)
        g = np.zeros((len(uniq), grads.shape[1]))
        np.add.at(g, inv, grads)
        table = getattr(self, name)
        m, v, t = self.state[name]
        g += self.wd * table[uniq]
        t[uniq] += 1
        m[uniq] = 0.9 * m[uniq] + 0.1 * g
        v[uniq] = 0.999 * v[uniq] + 0.001 * g * g
        mh = m[uniq] / (1 - 0.9 ** t[uniq])[:, None]
        vh = v[uniq] / (1 - 0.999 ** t[uniq])[:, None]
        table[uniq] -= self.lr * mh / (np.sqrt(vh) + 1e-8)

    def step(self, ent: np.ndarray, iprows: np.ndarray, y: np.ndarray) -> float:
        f = self.ip_vectors(iprows)
        e = self.E[ent]
        s = np.einsum("ij,ij->i", e, f)
        g = (0.5 * (1.0 + np.tanh(0.5 * s)) - y) / len(y)
        self._adam("E", ent, g[:, None] * f)
        gp = np.repeat((g[:, None] * e / iprows.shape[1])[:, None, :], iprows.shape[1], axis=1)
        self._adam("P", iprows.reshape(-1), gp.reshape(-1, e.shape[1]))
        return float(np.mean(np.logaddexp(0.0, s) - y * s))


def with_negatives(ent: np.ndarray, ip: np.ndarray, random_rate: int, shuffled_rate: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Positives plus negatives: (entity rows, IPs as ints, labels)."""
    ents, ips, ys = [ent], [ip], [np.ones(len(ent))]
    for _ in range(random_rate):
        ents.append(ent)
        ips.append(rng.integers(0, 2 ** 32, len(ent), dtype=np.int64))
        ys.append(np.zeros(len(ent)))
    for _ in range(shuffled_rate):
        ents.append(ent)
        ips.append(ip[rng.permutation(len(ip))])
        ys.append(np.zeros(len(ent)))
    return np.concatenate(ents), np.concatenate(ips), np.concatenate(ys)
