"""DensePredictor (XGBoost's C predict entry with a reused proxy) equals Booster.inplace_predict exactly."""

from __future__ import annotations

import concurrent.futures

import numpy as np
import scipy.sparse as sp
import xgboost as xgb

from shipyard.algorithms.xgboost.fast_predict import DensePredictor


def _boosters():
    rng = np.random.default_rng(3)
    X = rng.random((300, 5))
    reg = xgb.train({"max_depth": 3, "nthread": 1}, xgb.DMatrix(X, X[:, 0] * 2), 8)
    multi = xgb.train({"objective": "multi:softprob", "num_class": 3, "nthread": 1},
                      xgb.DMatrix(X, (X[:, 1] * 3).astype(int)), 5)
    return reg, multi


def test_same_values_and_shapes_as_inplace_predict():
    rng = np.random.default_rng(4)
    for booster in _boosters():
        fast = DensePredictor(booster)
        inputs = [rng.random((1, 5)).astype(np.float32), rng.random((257, 5)).astype(np.float32),
                  np.array([[np.nan, 0.1, np.nan, 0.3, 0.9]], np.float32),
                  rng.random((4, 5)),  # float64: falls back to inplace_predict
                  np.asfortranarray(rng.random((6, 5)).astype(np.float32)),  # not C-contiguous: fallback
                  sp.csr_matrix(rng.random((3, 5)))]  # sparse: fallback
        for x in inputs * 2:  # twice: the reused proxy must not keep the previous array
            want = booster.inplace_predict(x, validate_features=False)
            got = fast(x)
            assert got.shape == want.shape and np.array_equal(got, want)


def test_threads_each_get_their_own_result():
    booster = _boosters()[1]
    fast = DensePredictor(booster)

    def work(i: int) -> bool:
        x = np.random.default_rng(i).random((1 + i % 5, 5)).astype(np.float32)
        want = booster.inplace_predict(x)
        return all(np.array_equal(fast(x), want) for _ in range(300))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        assert all(pool.map(work, range(12)))
