"""The built-in XGBoost algorithm, declared as data (no xgboost import here: the server validates
hyperparameters without loading the library).

Training is ``python -m shipyard.algorithms.xgboost.train`` (see :mod:`.train`); serving uses
:class:`.handler.XGBoostHandler`. Names, defaults and metric regexes follow SageMaker's XGBoost container,
so hyperparameters, tuning objectives (``validation:auc``) and metric regexes written for AWS work here.
"""

from __future__ import annotations

from ..base import Algorithm, TestProblem
from .params import HYPERPARAMETERS, cross_check

# Evaluation metrics as SageMaker names them, with the direction a tuner should push them.
METRIC_DIRECTIONS: dict[str, str] = {
    "rmse": "Minimize", "rmsle": "Minimize", "mae": "Minimize", "mape": "Minimize", "mphe": "Minimize",
    "mse": "Minimize", "r2": "Maximize", "logloss": "Minimize", "error": "Minimize", "merror": "Minimize",
    "mlogloss": "Minimize", "auc": "Maximize", "aucpr": "Maximize", "ndcg": "Maximize", "map": "Maximize",
    "poisson-nloglik": "Minimize", "gamma-nloglik": "Minimize", "gamma-deviance": "Minimize",
    "tweedie-nloglik": "Minimize", "cox-nloglik": "Minimize", "accuracy": "Maximize", "f1": "Maximize",
    "balanced_accuracy": "Maximize", "precision": "Maximize", "recall": "Maximize",
}

_NUMBER = r"([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)"


def metric_regex(channel: str, metric: str) -> str:
    """SageMaker's regex for one logged metric. ``#011`` is how SageMaker's logs render the TAB that
    separates entries; the training controller renders tabs the same way before matching."""
    return rf".*\[[0-9]+\].*#011{channel}-{metric}:{_NUMBER}"


METRICS: dict[str, tuple[str, str]] = {
    f"{channel}:{m}": (metric_regex(channel, m), direction)
    for channel in ("train", "validation")
    for m, direction in METRIC_DIRECTIONS.items()
}

ALGORITHM = Algorithm(
    name="xgboost",
    image_repos=("sagemaker-xgboost", "xgboost"),
    training_module="shipyard.algorithms.xgboost.train",
    handler="shipyard.algorithms.xgboost.handler:XGBoostHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=METRICS,
    input_content_types=("text/csv", "text/libsvm", "application/x-recordio-protobuf", "text/x-libsvm",
                         "application/x-parquet"),
    supports_pipe=True,             # CSV and RecordIO-protobuf; LibSVM and Parquet are File-mode only, as on AWS
    supports_sparse=True,
    default_accept="text/csv",
    cross_check=cross_check,
    inference_content_types=("text/csv", "text/libsvm", "application/json", "application/jsonlines",
                             "application/x-recordio-protobuf"),
    inference_accepts=("application/json", "application/jsonlines", "application/x-recordio-protobuf",
                       "text/csv"),
    test_problem=TestProblem(
        kind="binary",
        hyperparameters={"num_round": "8", "max_depth": "3", "objective": "binary:logistic",
                         "eval_metric": "auc,logloss,accuracy"},
        channels=("train", "validation"),
        metrics=("train:auc", "validation:auc", "validation:logloss", "validation:accuracy"),
        output_key="predictions",
        output_fields=("score",),
    ),
)

__all__ = ["ALGORITHM", "METRICS", "metric_regex"]
