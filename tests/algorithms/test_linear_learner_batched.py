"""Linear learner's batched training: M models in one tensor behave exactly like M separate models, and
the fast loss / calibration paths agree with their straightforward definitions."""

from __future__ import annotations

import numpy as np
import pytest

from shipyard.algorithms.linear_learner import ALGORITHM
from shipyard.algorithms.linear_learner.metrics import binned_calibrate, calibrate
from shipyard.algorithms.linear_learner.model import LinearModels, loss_and_grad, mean_losses
from shipyard.algorithms.linear_learner.train import resolve

rng = np.random.default_rng(7)
X = rng.normal(size=(64, 5)).astype(np.float32)
Y_BIN = (X[:, 0] - X[:, 1] > 0).astype(np.float32)
Y_REG = (X @ rng.normal(size=5)).astype(np.float32)
Y_MC = np.digitize(X[:, 0], [-0.5, 0.5]).astype(np.float32)


def _hp(ptype, **extra):
    hps = {"predictor_type": ptype, **({"num_classes": "3"} if ptype == "multiclass_classifier" else {})}
    return resolve(ALGORITHM.validate({**hps, **{k: str(v) for k, v in extra.items()}}))


@pytest.mark.parametrize("ptype, y, loss, opt", [
    ("binary_classifier", Y_BIN, "logistic", "adam"), ("binary_classifier", Y_BIN, "hinge_loss", "sgd"),
    ("regressor", Y_REG, "squared_loss", "rmsprop"), ("regressor", Y_REG, "huber_loss", "adam"),
    ("multiclass_classifier", Y_MC, "softmax_loss", "adam")])
@pytest.mark.parametrize("augmented", [False, True])
def test_batched_models_match_separate_models(ptype, y, loss, opt, augmented):
    h = _hp(ptype, loss=loss, optimizer=opt, momentum=0.5, lr_scheduler_step=3)
    K = 3 if ptype == "multiclass_classifier" else 1
    lr = np.array([0.05, 0.01, 0.2], np.float32)
    wd = np.array([0.0, 1e-3, 1e-2], np.float32)
    l1 = np.array([1e-3, 0.0, 1e-2], np.float32)
    weight = np.where(y > 0.5, 2.0, 1.0).astype(np.float32) if ptype == "binary_classifier" else None
    together = LinearModels(5, K, lr, wd, l1, h, np.random.default_rng(0))
    alone = [LinearModels(5, K, lr[i:i + 1], wd[i:i + 1], l1[i:i + 1], h, np.random.default_rng(0))
             for i in range(3)]
    for i, m in enumerate(alone):
        m.P[:] = together.P[:, i * K:(i + 1) * K]
    Xin = np.hstack([X, np.ones((64, 1), np.float32)]) if augmented else X
    for step in range(8):
        rows = slice(step * 8, step * 8 + 16)
        losses = together.step(Xin[rows], y[rows], loss, None if weight is None else weight[rows])
        for i, m in enumerate(alone):
            single = m.step(Xin[rows], y[rows], loss, None if weight is None else weight[rows])
            np.testing.assert_allclose(losses[i], single[0], rtol=1e-5, atol=1e-6)
    for i, m in enumerate(alone):
        np.testing.assert_allclose(together.P[:, i * K:(i + 1) * K], m.P, rtol=1e-5, atol=1e-6)


def test_fast_logistic_loss_matches_definition():
    S = (rng.normal(size=(200, 4, 1)) * 30).astype(np.float32)  # includes large margins
    y = (rng.random(200) > 0.5).astype(np.float32)
    expected = (np.logaddexp(0.0, S[:, :, 0].astype(np.float64)) - y[:, None] * S[:, :, 0]).mean(axis=0)
    np.testing.assert_allclose(mean_losses(S, y, "logistic", {}), expected, rtol=1e-4)
    L, G = loss_and_grad(S, y, "logistic", {})
    np.testing.assert_allclose(L.mean(axis=0), expected, rtol=1e-4)
    np.testing.assert_allclose(G[:, :, 0], 1 / (1 + np.exp(-S[:, :, 0].astype(np.float64))) - y[:, None],
                               atol=1e-6)


@pytest.mark.parametrize("criterion", ["accuracy", "f_beta", "precision_at_target_recall",
                                       "recall_at_target_precision"])
def test_screened_calibration_finds_the_exact_best(criterion):
    y = (rng.random(3000) > 0.6).astype(np.float64)
    quality = np.linspace(0.2, 2.0, 32)[:, None]
    scores = y[None, :] * quality + rng.normal(size=(32, 3000))
    exact_thr, exact = calibrate(scores, y, criterion, exact_top=32)      # every model exactly
    coarse_thr, coarse = binned_calibrate(scores, y, criterion)
    assert np.all(coarse <= exact + 1e-12)                                 # screening never overstates
    thr, value = calibrate(scores, y, criterion)                           # screened, top 4 exact
    assert value.argmax() == exact.argmax() and value.max() == pytest.approx(exact.max())
    best = exact.argmax()
    assert thr[best] == pytest.approx(exact_thr[best])
