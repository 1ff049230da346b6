"""A BentoML service wrapping the benchmark's XGBoost booster (served by ``bentoml serve`` in the peers' venv).

    BENCH_XGB_MODEL=/path/xgboost-model bentoml serve bento_service:XGBoostService --port P

``POST /predict`` with ``{"input": [[f1, f2, ...]]}`` returns the predictions as a JSON list. Prediction uses
``inplace_predict`` (no DMatrix), the fastest way XGBoost offers, so the peer is not handicapped.
"""

import os

import bentoml
import numpy as np
import xgboost as xgb


@bentoml.service
class XGBoostService:
    def __init__(self) -> None:
        self.booster = xgb.Booster()
        self.booster.load_model(os.environ["BENCH_XGB_MODEL"])
        self.booster.set_param({"nthread": 1})

    @bentoml.api
    def predict(self, input: np.ndarray) -> np.ndarray:
        return self.booster.inplace_predict(np.asarray(input, dtype=np.float32))
