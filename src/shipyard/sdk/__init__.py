"""The people-facing Shipyard SDK: train, deploy and predict with a few lines, over plain boto3.

It imports nothing from the server side (only boto3 and :mod:`shipyard.errors`), so the same code runs
against AWS SageMaker. The public API is exactly ``__all__`` (pinned by tests/sdk/test_sdk_public_api.py).

    from shipyard.sdk import Estimator, TrainingInput

    est = Estimator("xgboost", hyperparameters={"objective": "binary:logistic", "num_round": 50})
    est.fit({"train": TrainingInput("s3://bucket/train/", content_type="text/csv")})
    predictor = est.deploy()
    predictor.predict([[0.1, 0.2, 0.3]])
    predictor.delete_endpoint()

Tuning: ``HyperparameterTuner(est, "validation:auc", {"eta": ContinuousParameter(0.01, 0.5)}).fit(...)``.
"""

from .analytics import HyperparameterTuningJobAnalytics
from .estimator import Estimator
from .exceptions import UnexpectedStatusError, WaitTimeout
from .inputs import TrainingInput
from .logs import LogTailer
from .predictor import Predictor
from .serializers import (
    CSVDeserializer,
    CSVSerializer,
    JSONDeserializer,
    JSONSerializer,
    NumpyDeserializer,
    NumpySerializer,
)
from .session import Session
from .tuner import (
    CategoricalParameter,
    ContinuousParameter,
    HyperparameterTuner,
    IntegerParameter,
    WarmStartConfig,
)

__all__ = [
    "CSVDeserializer",
    "CSVSerializer",
    "CategoricalParameter",
    "ContinuousParameter",
    "Estimator",
    "HyperparameterTuner",
    "HyperparameterTuningJobAnalytics",
    "IntegerParameter",
    "JSONDeserializer",
    "JSONSerializer",
    "LogTailer",
    "NumpyDeserializer",
    "NumpySerializer",
    "Predictor",
    "Session",
    "TrainingInput",
    "UnexpectedStatusError",
    "WaitTimeout",
    "WarmStartConfig",
]
