"""DeepAR forecasting (``forecasting-deepar``): an autoregressive LSTM that learns one global model over many
related time series and answers with sample paths, their mean and quantiles.

Channels ``train`` (required) and ``test`` (optional), JSON Lines (plain or gzipped) or Parquet series
``{"start": "2020-01-01 00:00:00", "target": [1.0, "NaN", ...], "cat": [0, 2], "dynamic_feat": [[...], ...]}``.
The model sees scaled lags of the target (chosen from ``time_freq``), calendar features of ``time_freq``, the
series' categorical embeddings, its dynamic features and its log scale; NaN targets are imputed in the inputs
and masked out of the loss. When ``test`` is given, each of its series is forecast from all but its last
``prediction_length`` points and scored on those: ``test:RMSE``, ``test:mean_wQuantileLoss`` and
``test:wQuantileLoss[q]`` for each of ``test_quantiles``; ``train:final_loss`` is the loss of the model kept.
See ``docs/neural/deepar.md`` for what differs from AWS's container.
"""

from __future__ import annotations

import json
import re
from typing import Any

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

LIKELIHOODS = ("student-T", "gaussian", "beta", "negative-binomial", "deterministic-L1")
FREQ_PATTERN = re.compile(r"^(\d*)(min|H|D|W|M)$")
DEFAULT_QUANTILES = ("0.1", "0.2", "0.3", "0.4", "0.5", "0.6", "0.7", "0.8", "0.9")

HYPERPARAMETERS = {
    "context_length": Param("int", required=True, min=1),
    "prediction_length": Param("int", required=True, min=1),
    "epochs": Param("int", required=True, min=1),
    "time_freq": Param("str", required=True,
                       description="a base frequency min, H, D, W or M, optionally after a multiple (5min)"),
    "cardinality": Param("str", default="auto",
                         description="'auto', 'ignore', '' or a list of positive integers, one per cat"),
    "dropout_rate": Param("float", default=0.1, min=0.0, max=1.0, max_exclusive=True),
    "early_stopping_patience": Param("int", min=1),
    "embedding_dimension": Param("int", default=10, min=1),
    "learning_rate": Param("float", default=0.001, min=0.0, min_exclusive=True),
    "likelihood": Param("str", default="student-T", choices=LIKELIHOODS),
    "mini_batch_size": Param("int", default=128, min=1),
    "num_cells": Param("int", default=40, min=1, max=200),
    "num_dynamic_feat": Param("str", default="auto", description="'auto', 'ignore', '' or an integer >= 0"),
    "num_eval_samples": Param("int", default=100, min=1),
    "num_layers": Param("int", default=2, min=1, max=8),
    "test_quantiles": Param("list", default=list(DEFAULT_QUANTILES),
                            description="quantiles in (0, 1) scored on the test channel"),
}


def parse_freq(text: str) -> tuple[int, str]:
    """'5min' -> (5, 'min'); raises ValidationError naming time_freq."""
    m = FREQ_PATTERN.match(str(text).strip())
    if not m or (m[1] and int(m[1]) < 1):
        raise ValidationError(f"Hyperparameter 'time_freq' has value '{text}'; expected a base frequency min, H, "
                              "D, W or M, optionally after a positive multiple (e.g. 5min, 2H, D).")
    return int(m[1] or 1), m[2]


def parse_cardinality(raw: Any) -> str | list[int]:
    """'auto' | 'ignore' | a list of positive integers ('' and '[]' mean no categorical features)."""
    if isinstance(raw, list):
        items: Any = raw
    else:
        text = str(raw).strip()
        if text.lower() in ("auto", "ignore"):
            return text.lower()
        try:
            items = json.loads(text) if text.startswith("[") else [v for v in text.split(",") if v.strip()]
        except json.JSONDecodeError:
            items = None
    try:
        values = [int(str(v).strip()) for v in items]
        if any(v < 1 for v in values):
            raise ValueError
    except (TypeError, ValueError):
        raise ValidationError(f"Hyperparameter 'cardinality' has value '{raw}'; expected 'auto', 'ignore' or a "
                              "list of positive integers such as [2, 3].") from None
    return values


def parse_num_dynamic_feat(raw: Any) -> str | int:
    text = str(raw).strip().lower()
    if text in ("auto", "ignore"):
        return text
    if text == "":
        return 0
    try:
        value = int(text)
        if value < 0:
            raise ValueError
    except ValueError:
        raise ValidationError(f"Hyperparameter 'num_dynamic_feat' has value '{raw}'; expected 'auto', 'ignore' or "
                              "an integer >= 0.") from None
    return value


def parse_quantiles(raw: Any) -> list[float]:
    items = raw if isinstance(raw, list) else str(raw).strip("[]").split(",")
    try:
        values = [float(str(v).strip().strip("'\"")) for v in items if str(v).strip()]
        if not values or any(not 0.0 < v < 1.0 for v in values):
            raise ValueError
    except ValueError:
        raise ValidationError(f"Hyperparameter 'test_quantiles' has value '{raw}'; expected a list of numbers "
                              "strictly between 0 and 1, e.g. [0.1, 0.5, 0.9].") from None
    return values


def cross_check(hps: dict[str, Any]) -> None:
    parse_freq(hps["time_freq"])
    parse_cardinality(hps.get("cardinality", "auto"))
    parse_num_dynamic_feat(hps.get("num_dynamic_feat", "auto"))
    parse_quantiles(hps.get("test_quantiles", list(DEFAULT_QUANTILES)))


ALGORITHM = Algorithm(
    name="forecasting-deepar",
    image_repos=("forecasting-deepar",),
    training_module="shipyard.algorithms.deepar.train",
    handler="shipyard.algorithms.deepar.handler:DeepARHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:RMSE": "Minimize", "test:mean_wQuantileLoss": "Minimize",
                         **{f"test:wQuantileLoss[{q}]": "Minimize" for q in DEFAULT_QUANTILES},
                         "train:final_loss": "Minimize"}),
    input_content_types=("application/jsonlines", "json", "json.gz", "parquet"),
    supports_pipe=False,
    cross_check=cross_check,
    inference_content_types=("application/json", "application/jsonlines"),
    inference_accepts=("application/json", "application/jsonlines"),
    requires=("torch",),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.deepar.sample:make", channels=("train", "test"),
        hyperparameters={"time_freq": "H", "context_length": "12", "prediction_length": "6", "epochs": "3",
                         "num_cells": "8", "num_layers": "1", "mini_batch_size": "16", "num_eval_samples": "20",
                         "learning_rate": "0.01"},
        metrics=("test:RMSE", "test:mean_wQuantileLoss", "train:final_loss"),
        output_key="predictions", output_fields=("mean", "quantiles")),
)
