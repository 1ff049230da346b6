"""Every objective family trains (in-process, a few rounds) and the model serves through the handler."""

from __future__ import annotations

import re

import numpy as np
import pytest

from shipyard.algorithms.env import TrainingEnv
from shipyard.algorithms.xgboost.handler import XGBoostHandler
from shipyard.algorithms.xgboost.train import run

from xgb_helpers import make_regression, write_csv, write_libsvm

rng = np.random.default_rng(3)
X, y_reg = make_regression(120, 4, seed=3)
Y_BIN = (y_reg > 0).astype(float)
Y_MULTI = np.digitize(y_reg, [-1.0, 1.0]).astype(float)  # 3 classes
Y_POS = np.exp(y_reg / 3)
Y_COUNT = rng.poisson(Y_POS).astype(float)
Y_COX = np.where(rng.random(120) < 0.2, -1, 1) * (1 + np.abs(y_reg))

CASES = [
    ("reg:squarederror", y_reg, {}, "rmse"),
    ("reg:absoluteerror", y_reg, {}, "mae"),
    ("reg:pseudohubererror", y_reg, {}, "mphe"),
    ("reg:quantileerror", y_reg, {"quantile_alpha": 0.9}, "quantile"),
    ("reg:squaredlogerror", Y_POS, {}, "rmsle"),
    ("reg:logistic", Y_BIN, {}, "rmse"),
    ("binary:logistic", Y_BIN, {"eval_metric": "auc,f1"}, "auc"),
    ("binary:logitraw", Y_BIN, {}, "logloss"),
    ("binary:hinge", Y_BIN, {"eval_metric": "accuracy"}, "accuracy"),
    ("multi:softmax", Y_MULTI, {"num_class": 3}, "mlogloss"),
    ("multi:softprob", Y_MULTI, {"num_class": 3, "eval_metric": "merror"}, "merror"),
    ("count:poisson", Y_COUNT, {}, "poisson-nloglik"),
    ("reg:gamma", Y_POS, {}, "gamma-deviance"),
    ("reg:tweedie", Y_POS, {}, "tweedie-nloglik"),
    ("survival:cox", Y_COX, {}, "cox-nloglik"),
]


def _env(tmp_path, hps, channels) -> TrainingEnv:
    return TrainingEnv(hyperparameters={k: str(v) for k, v in hps.items()},
                       channels={c: tmp_path / c for c in channels},
                       input_config={c: {"ContentType": ct} for c, ct in channels.items()},
                       model_dir=tmp_path / "model", output_dir=tmp_path / "output",
                       output_data_dir=tmp_path / "output/data", checkpoint_dir=tmp_path / "ckpt", num_cpus=1)


@pytest.mark.parametrize("objective, label, extra, metric", CASES, ids=[c[0] for c in CASES])
def test_objective_trains_and_serves(tmp_path, capfd, objective, label, extra, metric):
    write_csv(tmp_path / "train/t.csv", X, label)
    run(_env(tmp_path, {"num_round": 3, "objective": objective, **extra}, {"train": "text/csv"}))
    out = capfd.readouterr().out
    rounds = [ln for ln in out.splitlines() if re.match(r"^\[\d\]\t", ln)]
    assert len(rounds) == 3 and f"train-{metric}" in rounds[-1], out
    handler = XGBoostHandler(str(tmp_path / "model"))
    body, ctype = handler.invoke(b"\n".join(",".join(str(v) for v in r).encode() for r in X[:5]), "text/csv",
                                 "text/csv")
    lines = body.decode().splitlines()
    assert ctype == "text/csv" and len(lines) == 5
    width = 3 if objective == "multi:softprob" else 1
    assert all(len(ln.split(",")) == width for ln in lines)


@pytest.mark.parametrize("objective", ["rank:pairwise", "rank:ndcg", "rank:map"])
def test_ranking_objectives_with_libsvm_qid(tmp_path, capfd, objective):
    qid = np.repeat(np.arange(12), 10)
    write_libsvm(tmp_path / "train/t.libsvm", X, (Y_MULTI > 0).astype(int), qid)
    run(_env(tmp_path, {"num_round": 3, "objective": objective, "eval_metric": "ndcg@5"},
             {"train": "text/x-libsvm"}))
    rounds = [ln for ln in capfd.readouterr().out.splitlines() if re.match(r"^\[\d\]\t", ln)]
    assert len(rounds) == 3 and "train-ndcg@5:" in rounds[-1]
    assert (tmp_path / "model" / "xgboost-model").stat().st_size > 0
