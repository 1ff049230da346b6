"""DeepAR's network, its likelihoods, the windows it trains on, and forecasting by ancestral sampling.

Everything works on *windows* of one fixed length ``max_lag + context_length + prediction_length`` per series,
aligned at the forecast start: the first ``max_lag`` steps only feed lags, the next ``context_length`` steps
are the conditioning range (the scale is the mean absolute observed value there), the last
``prediction_length`` steps are predicted. Training draws such windows at random positions of the training
series (positions before a series' start are zeros, marked unobserved) and maximises the likelihood of every
observed step after the lag prefix with teacher forcing; forecasting unrolls the LSTM over the context with the
true values, then feeds its own samples back one step at a time.

Sampling is done with NumPy, one ``Generator`` per series, so that a series' forecast depends only on the
series and its seed (the handler seeds from the instance's content: a batch answers as one request per
instance would).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..neural import import_torch
from .data import Series, forward_fill, time_features

import_torch()  # a ValidationError naming the extra to install when torch is missing

import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

N_PARAMS = {"gaussian": 2, "student-T": 3, "beta": 2, "negative-binomial": 2, "deterministic-L1": 1}


@dataclass
class Config:
    """What fixes the network's shape and its inputs; saved as the model's metadata."""

    context_length: int
    prediction_length: int
    freq_multiple: int
    freq_base: str
    lags: list[int]
    num_time_features: int
    num_dynamic_feat: int
    cardinality: list[int]
    embedding_dimension: int
    num_cells: int
    num_layers: int
    dropout_rate: float
    likelihood: str

    @property
    def max_lag(self) -> int:
        return max(self.lags)

    @property
    def window(self) -> int:
        return self.max_lag + self.context_length + self.prediction_length


class DeepARNet(nn.Module):
    def __init__(self, cfg: Config):
        super().__init__()
        self.cfg = cfg
        self.embeddings = nn.ModuleList(nn.Embedding(c, cfg.embedding_dimension) for c in cfg.cardinality)
        size = (len(cfg.lags) + cfg.num_time_features + cfg.num_dynamic_feat
                + len(cfg.cardinality) * cfg.embedding_dimension + 1)
        self.lstm = nn.LSTM(size, cfg.num_cells, cfg.num_layers, batch_first=True,
                            dropout=cfg.dropout_rate if cfg.num_layers > 1 else 0.0)
        self.head = nn.Linear(cfg.num_cells, N_PARAMS[cfg.likelihood])
        self.register_buffer("lag_index", torch.tensor(cfg.lags, dtype=torch.long))

    def step_inputs(self, lag_values, tf, dyn, cat, log_scale):
        """[B, T, ...] parts -> [B, T, input size]. ``lag_values`` are already scaled."""
        T = lag_values.shape[1]
        parts = [lag_values, tf]
        if self.cfg.num_dynamic_feat:
            parts.append(dyn)
        if self.cfg.cardinality:
            emb = torch.cat([e(cat[:, i]) for i, e in enumerate(self.embeddings)], dim=-1)
            parts.append(emb[:, None, :].expand(-1, T, -1))
        parts.append(log_scale[:, None, None].expand(-1, T, 1))
        return torch.cat(parts, dim=-1)

    def forward(self, x, state=None):
        out, state = self.lstm(x, state)
        return self.head(out), state


# ------------------------------------------------------------------ likelihoods

def distribution_params(raw, likelihood: str, scale) -> dict[str, Any]:
    """The head's raw outputs [..., n] -> the distribution's parameters in the data's units.
    ``scale`` broadcasts against raw[..., 0]."""
    eps = 1e-6
    if likelihood == "gaussian":
        return {"mu": raw[..., 0] * scale, "sigma": (F.softplus(raw[..., 1]) + eps) * scale}
    if likelihood == "student-T":
        return {"mu": raw[..., 0] * scale, "sigma": (F.softplus(raw[..., 1]) + eps) * scale,
                "nu": 2.0 + F.softplus(raw[..., 2])}
    if likelihood == "beta":
        return {"alpha": F.softplus(raw[..., 0]) + 1e-3, "beta": F.softplus(raw[..., 1]) + 1e-3}
    if likelihood == "negative-binomial":
        return {"mu": (F.softplus(raw[..., 0]) + eps) * scale,
                "alpha": (F.softplus(raw[..., 1]) + eps) / torch.sqrt(scale)}
    return {"mu": raw[..., 0] * scale}  # deterministic-L1


def negative_log_likelihood(raw, y, scale, likelihood: str):
    """Per-step loss [B, T] of targets ``y`` (data units). Gaussian and Student-T are scored on the scaled
    values (a constant shift per series), so series of every size weigh alike."""
    p = distribution_params(raw, likelihood, torch.ones_like(scale) if likelihood != "negative-binomial"
                            else scale)
    if likelihood in ("gaussian", "student-T", "deterministic-L1"):
        y = y / scale
    if likelihood == "gaussian":
        return torch.log(p["sigma"]) + 0.5 * ((y - p["mu"]) / p["sigma"]) ** 2 + 0.5 * np.log(2 * np.pi)
    if likelihood == "student-T":
        return -torch.distributions.StudentT(p["nu"], p["mu"], p["sigma"]).log_prob(y)
    if likelihood == "beta":
        return -torch.distributions.Beta(p["alpha"], p["beta"]).log_prob(y.clamp(1e-4, 1 - 1e-4))
    if likelihood == "negative-binomial":
        mu, alpha = p["mu"], p["alpha"]
        r = 1.0 / alpha
        return -(torch.lgamma(y + r) - torch.lgamma(y + 1.0) - torch.lgamma(r)
                 + r * torch.log(r / (r + mu)) + y * torch.log(mu / (r + mu)))
    return torch.abs(y - p["mu"])


def sample(params: dict[str, np.ndarray], likelihood: str, rng: np.random.Generator) -> np.ndarray:
    if likelihood == "gaussian":
        return rng.normal(params["mu"], params["sigma"])
    if likelihood == "student-T":
        return params["mu"] + params["sigma"] * rng.standard_t(params["nu"])
    if likelihood == "beta":
        return rng.beta(params["alpha"], params["beta"])
    if likelihood == "negative-binomial":
        r = 1.0 / params["alpha"]
        return rng.negative_binomial(r, r / (r + params["mu"])).astype(np.float64)
    return np.asarray(params["mu"], dtype=np.float64)


# ------------------------------------------------------------------ windows

@dataclass
class Windows:
    """A batch of aligned windows (numpy): values with NaN imputed, observed mask, calendar and dynamic
    features, categorical indices."""

    values: np.ndarray      # [B, window] float32
    observed: np.ndarray    # [B, window] float32
    tf: np.ndarray          # [B, window, F]
    dyn: np.ndarray         # [B, window, D]
    cat: np.ndarray         # [B, C] int64


class TrainingBank:
    """The training series, each front-padded by one window of zeros, flattened so that windows at random
    positions are gathered with one fancy index."""

    def __init__(self, series: list[Series], cfg: Config):
        self.cfg = cfg
        pad = cfg.window
        vals, obs, tfs, dyns, ends = [], [], [], [], []
        offset = 0
        self.cats = np.array([s.cat[:len(cfg.cardinality)] for s in series], dtype=np.int64).reshape(
            len(series), len(cfg.cardinality))
        owner = []
        for i, s in enumerate(series):
            n = len(s.target)
            vals.append(np.concatenate([np.zeros(pad), forward_fill(s.target)]))
            obs.append(np.concatenate([np.zeros(pad), (~np.isnan(s.target)).astype(np.float64)]))
            tfs.append(time_features(s.start, cfg.freq_multiple, cfg.freq_base, np.arange(-pad, n)))
            d = np.zeros((pad + n, cfg.num_dynamic_feat), np.float32)
            if cfg.num_dynamic_feat:
                assert s.dynamic_feat is not None
                d[pad:] = s.dynamic_feat[:, :n].T
            dyns.append(d)
            # a window may end anywhere from the series' first value to its last
            ends.append(offset + pad + np.arange(1, n + 1))
            owner.append(np.full(pad + n, i))
            offset += pad + n
        self.values = np.concatenate(vals).astype(np.float32)
        self.observed = np.concatenate(obs).astype(np.float32)
        self.tf = np.concatenate(tfs)
        self.dyn = np.concatenate(dyns)
        self.owner = np.concatenate(owner)
        self.ends = np.concatenate(ends)

    def draw(self, rng: np.random.Generator, batch: int) -> Windows:
        e = self.ends[rng.integers(0, len(self.ends), batch)]
        pos = e[:, None] - self.cfg.window + np.arange(self.cfg.window)[None, :]
        return Windows(self.values[pos], self.observed[pos], self.tf[pos], self.dyn[pos],
                       self.cats[self.owner[e - 1]])


def forecast_windows(series: list[Series], cfg: Config) -> Windows:
    """Windows whose prediction range starts right after each series' last target value. Each series'
    ``dynamic_feat`` (when the model uses them) must already cover ``len(target) + prediction_length``."""
    W, lead = cfg.window, cfg.max_lag + cfg.context_length
    B = len(series)
    values = np.zeros((B, W), np.float32)
    observed = np.zeros((B, W), np.float32)
    tf = np.zeros((B, W, cfg.num_time_features), np.float32)
    dyn = np.zeros((B, W, cfg.num_dynamic_feat), np.float32)
    cat = np.zeros((B, len(cfg.cardinality)), np.int64)
    for b, s in enumerate(series):
        n = len(s.target)
        take = min(n, lead)
        values[b, lead - take:lead] = forward_fill(s.target)[n - take:]
        observed[b, lead - take:lead] = ~np.isnan(s.target[n - take:])
        tf[b] = time_features(s.start, cfg.freq_multiple, cfg.freq_base, np.arange(n - lead, n - lead + W))
        if cfg.num_dynamic_feat:
            assert s.dynamic_feat is not None
            d = s.dynamic_feat[:, :n + cfg.prediction_length].T[-W:]
            dyn[b, W - len(d):] = d
        if cfg.cardinality:
            cat[b] = s.cat[:len(cfg.cardinality)]
    return Windows(values, observed, tf, dyn, cat)


def context_scale(values, observed, cfg: Config):
    """Mean absolute observed value over the context range, per window (1 where nothing is observed)."""
    lo, hi = cfg.max_lag, cfg.max_lag + cfg.context_length
    if cfg.likelihood == "beta":
        return torch.ones(values.shape[0], device=values.device)
    obs = observed[:, lo:hi]
    total = (values[:, lo:hi].abs() * obs).sum(dim=1)
    count = obs.sum(dim=1)
    scale = total / count.clamp(min=1.0)
    return torch.where(scale > 1e-8, scale, torch.ones_like(scale))


def _lag_block(net: DeepARNet, values_scaled, start: int, length: int):
    """Scaled lag inputs of steps [start, start+length) of the windows: [B, length, L]."""
    lags: Any = net.lag_index
    idx = torch.arange(start, start + length, device=values_scaled.device)[:, None] - lags[None, :]
    return values_scaled[:, idx]


def to_tensors(w: Windows, device) -> dict[str, Any]:
    return {"values": torch.as_tensor(w.values, device=device), "observed": torch.as_tensor(w.observed, device=device),
            "tf": torch.as_tensor(w.tf, device=device), "dyn": torch.as_tensor(w.dyn, device=device),
            "cat": torch.as_tensor(w.cat, device=device)}


def training_loss(net: DeepARNet, t: dict[str, Any]):
    """Mean loss over the observed steps after the lag prefix (context and prediction range)."""
    cfg = net.cfg
    scale = context_scale(t["values"], t["observed"], cfg)
    scaled = t["values"] / scale[:, None]
    start, T = cfg.max_lag, cfg.context_length + cfg.prediction_length
    x = net.step_inputs(_lag_block(net, scaled, start, T), t["tf"][:, start:], t["dyn"][:, start:], t["cat"],
                        torch.log(scale))
    raw, _ = net(x)
    loss = negative_log_likelihood(raw, t["values"][:, start:], scale[:, None], cfg.likelihood)
    mask = t["observed"][:, start:]
    return (loss * mask).sum() / mask.sum().clamp(min=1.0)


def forecast(net: DeepARNet, series: list[Series], num_samples: int, rngs: list[np.random.Generator],
             device) -> np.ndarray:
    """Sample paths [len(series), num_samples, prediction_length] (float64, data units)."""
    cfg = net.cfg
    w = forecast_windows(series, cfg)
    t = to_tensors(w, device)
    B, S, P = len(series), num_samples, cfg.prediction_length
    lead = cfg.max_lag + cfg.context_length
    with torch.inference_mode():
        scale = context_scale(t["values"], t["observed"], cfg)
        scaled = t["values"] / scale[:, None]
        x = net.step_inputs(_lag_block(net, scaled, cfg.max_lag, cfg.context_length),
                            t["tf"][:, cfg.max_lag:lead], t["dyn"][:, cfg.max_lag:lead], t["cat"], torch.log(scale))
        _, (h, c) = net(x)
        rep = lambda z: z.repeat_interleave(S, dim=0)  # noqa: E731 - [B, ...] -> [B*S, ...]
        state = (h.repeat_interleave(S, dim=1), c.repeat_interleave(S, dim=1))
        buf = rep(scaled).clone()
        scale_s, cat_s, tf_s, dyn_s = rep(scale), rep(t["cat"]), rep(t["tf"]), rep(t["dyn"])
        paths = np.zeros((B, S, P))
        for k in range(P):
            j = lead + k
            x = net.step_inputs(_lag_block(net, buf, j, 1), tf_s[:, j:j + 1], dyn_s[:, j:j + 1], cat_s,
                                torch.log(scale_s))
            raw, state = net(x, state)
            params = distribution_params(raw[:, 0].double(), cfg.likelihood, scale_s.double())
            host = {k2: v.cpu().numpy().reshape(B, S) for k2, v in params.items()}
            for b in range(B):
                paths[b, :, k] = sample({k2: v[b] for k2, v in host.items()}, cfg.likelihood, rngs[b])
            buf[:, j] = torch.as_tensor(paths[:, :, k].reshape(B * S) / scale_s.double().cpu().numpy(),
                                        dtype=buf.dtype, device=buf.device)
    return paths


# ------------------------------------------------------------------ saving and loading

def state_arrays(net: DeepARNet) -> dict[str, np.ndarray]:
    return {k: v.detach().cpu().numpy() for k, v in net.state_dict().items()}


def from_arrays(cfg: Config, arrays: dict[str, np.ndarray], device) -> DeepARNet:
    net = DeepARNet(cfg)
    net.load_state_dict({k: torch.as_tensor(v) for k, v in arrays.items()})
    return net.to(device).eval()
