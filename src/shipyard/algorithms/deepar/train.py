"""DeepAR training program: ``python -m shipyard.algorithms.deepar.train``.

Reads the ``train`` channel (and ``test`` when given), trains on random windows with Adam, keeps the weights
of the epoch with the lowest training loss (stopping after ``early_stopping_patience`` epochs without a new
lowest one), saves them with the configuration as ``model_algo-1`` and scores the ``test`` channel the way
AWS's DeepAR does. An *epoch* is ``max(number of series, observed points / prediction_length)`` windows.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Any

import numpy as np

from ...errors import ValidationError
from .. import neural
from ..builtin import TrainingRun, main
from . import ALGORITHM, parse_cardinality, parse_freq, parse_num_dynamic_feat, parse_quantiles
from .data import (Series, check_dynamic_lengths, check_likelihood_support, lags_for, num_time_features,
                   read_channel, resolve_cardinality, resolve_num_dynamic_feat)

CHANNEL_TYPES = {"", "json", "json.gz", "parquet", "application/jsonlines", "application/x-jsonlines",
                 "application/jsonl", "application/json", "application/x-parquet", "application/parquet",
                 "application/gzip", "application/x-gzip"}


def channel_series(run: TrainingRun, channel: str) -> list[Series]:
    ct = run.env.input_config.get(channel, {}).get("ContentType") or ""
    base = ct.split(";")[0].strip().lower()
    if base not in CHANNEL_TYPES:
        raise ValidationError(f"Channel '{channel}' has content type '{ct}'; DeepAR reads JSON Lines (json, "
                              "json.gz, application/jsonlines) or Parquet (parquet).")
    if run.mode(channel).lower() != "file":
        raise ValidationError(f"Channel '{channel}' uses {run.mode(channel)} mode; DeepAR reads File mode "
                              "channels only.")
    return read_channel(run.env.channels[channel], ct)


def quantile_losses(truth: np.ndarray, paths: np.ndarray, quantiles: list[float]) -> dict[str, float]:
    """RMSE of the mean forecast and wQuantileLoss[q] = 2 sum|pinball_q| / sum|y| over the observed truth."""
    mask = ~np.isnan(truth)
    y = np.where(mask, truth, 0.0)
    mean = paths.mean(axis=1)
    out = {"RMSE": float(np.sqrt(((mean - y) ** 2)[mask].mean())) if mask.any() else math.nan}
    denom = np.abs(y[mask]).sum()
    losses = []
    for q in quantiles:
        pred = np.quantile(paths, q, axis=1)
        err = y - pred
        pin = np.where(err >= 0, q * err, (q - 1) * err)[mask].sum()
        value = float(2 * pin / denom) if denom > 0 else math.nan
        out[f"wQuantileLoss[{q:g}]"] = value
        losses.append(value)
    out["mean_wQuantileLoss"] = float(np.mean(losses))
    return out


def evaluate(run: TrainingRun, net: Any, cfg: Any, series: list[Series], device) -> dict[str, float]:
    from .model import forecast

    P = cfg.prediction_length
    for s in series:
        if len(s.target) <= P:
            raise ValidationError(f"test {s.where}: a test series must be longer than prediction_length ({P}): "
                                  "its last prediction_length values are what the forecast is scored on.")
        for i, (c, card) in enumerate(zip(s.cat, cfg.cardinality)):
            if c >= card:
                raise ValidationError(f"test {s.where}: cat[{i}] is {c}, a category the training data did not "
                                      f"have (cardinality {card}).")
        if cfg.cardinality and len(s.cat) < len(cfg.cardinality):
            raise ValidationError(f"test {s.where}: the model was trained with {len(cfg.cardinality)} 'cat' "
                                  "value(s) per series.")
    if cfg.num_dynamic_feat:
        resolve_num_dynamic_feat(series, cfg.num_dynamic_feat)
        check_dynamic_lengths(series, cfg.num_dynamic_feat, 0, "as long as the test target")
    history = [Series(s.start, s.target[:-P], s.cat, s.dynamic_feat, s.where) for s in series]
    truth = np.stack([s.target[-P:] for s in series])
    paths = np.concatenate([
        forecast(net, history[i:i + 256], run.hps["num_eval_samples"],
                 [np.random.default_rng(j) for j in range(i, min(i + 256, len(history)))], device)
        for i in range(0, len(history), 256)])
    return quantile_losses(truth, paths, parse_quantiles(run.hps["test_quantiles"]))


def train(run: TrainingRun) -> None:
    h = run.hps
    if not run.has("train"):
        raise ValidationError("DeepAR needs a 'train' channel.")
    torch = neural.import_torch()
    from .model import Config, DeepARNet, TrainingBank, state_arrays, to_tensors, training_loss

    multiple, base = parse_freq(h["time_freq"])
    likelihood = h["likelihood"]
    series = channel_series(run, "train")
    test = channel_series(run, "test") if run.has("test") else None
    cardinality = resolve_cardinality(series, parse_cardinality(h["cardinality"]))
    num_dyn = resolve_num_dynamic_feat(series, parse_num_dynamic_feat(h["num_dynamic_feat"]))
    check_dynamic_lengths(series, num_dyn, 0, "as long as the target in the train channel")
    check_likelihood_support(series, likelihood)
    observed = int(sum((~np.isnan(s.target)).sum() for s in series))
    if observed == 0:
        raise ValidationError("The train channel's targets are all missing (NaN); there is nothing to learn.")
    longest = max(len(s.target) for s in series)
    lags = [lag for lag in lags_for(multiple, base) if lag == 1 or lag < longest]
    cfg = Config(context_length=h["context_length"], prediction_length=h["prediction_length"],
                 freq_multiple=multiple, freq_base=base, lags=lags, num_time_features=num_time_features(base),
                 num_dynamic_feat=num_dyn, cardinality=cardinality, embedding_dimension=h["embedding_dimension"],
                 num_cells=h["num_cells"], num_layers=h["num_layers"], dropout_rate=h["dropout_rate"],
                 likelihood=likelihood)
    run.log(f"{len(series)} series, {observed} observed values; lags {lags}; cardinality {cardinality}; "
            f"{num_dyn} dynamic feature(s)")

    neural.seed_everything(0)
    device = neural.device()
    if device.type == "cpu":
        torch.set_num_threads(1)  # one LSTM step is too small to gain from threads; on a shared CPU they cost
    net = DeepARNet(cfg).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=h["learning_rate"])
    bank = TrainingBank(series, cfg)
    rng = np.random.default_rng(0)
    per_epoch = math.ceil(max(len(series), observed // cfg.prediction_length) / h["mini_batch_size"])
    patience = h.get("early_stopping_patience")
    best, best_state, since_best = math.inf, state_arrays(net), 0
    started = time.monotonic()
    for epoch in range(h["epochs"]):
        net.train()
        total = 0.0
        for _ in range(per_epoch):
            loss = training_loss(net, to_tensors(bank.draw(rng, h["mini_batch_size"]), device))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
            opt.step()
            total += float(loss.detach())
        epoch_loss = total / per_epoch
        print(f"#quality_metric: host={run.env.current_host}, epoch={epoch}, batch={per_epoch} "
              f"train loss <loss>={epoch_loss:.6g}", flush=True)
        if not math.isfinite(epoch_loss):
            raise ValidationError(f"The training loss became {epoch_loss} at epoch {epoch}; lower learning_rate "
                                  "or check the data for extreme values.")
        if epoch_loss < best:
            best, best_state, since_best = epoch_loss, state_arrays(net), 0
        else:
            since_best += 1
            if patience and since_best >= patience:
                run.log(f"early stopping after epoch {epoch}: no lower loss in {patience} epochs")
                break
    run.log(f"trained in {time.monotonic() - started:.2f}s on {device}")
    net.load_state_dict({k: torch.as_tensor(v) for k, v in best_state.items()})
    net.eval()
    run.metric("train:final_loss", best)
    run.save({"config": asdict(cfg), "num_eval_samples": h["num_eval_samples"]}, **best_state)
    if test is not None:
        scores = evaluate(run, net, cfg, test, device)
        for name, value in scores.items():
            print(f"#test_score ({run.env.current_host}, {name}): {value:.6g}", flush=True)
            run.metric(f"test:{name}", value)


if __name__ == "__main__":
    main(ALGORITHM, train)
