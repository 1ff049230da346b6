"""The built-in algorithm estimators of sagemaker_pyspark: XGBoost, k-means, PCA, linear learner.

Each fixes its images (by region), its training data format, serializer and deserializer, and exposes the
algorithm's hyperparameters as Spark ``Param``s with sagemaker_pyspark's typed setters and getters
(``setNumRound``/``getNumRound`` for ``num_round``, ``setK``, ``setFeatureDim``...). ``feature_dim``, where the
algorithm needs it, defaults to the size of the first row's features Vector.
"""

from __future__ import annotations

from typing import Any, Callable

from pyspark.ml.param import Param, Params, TypeConverters

from .estimator import SageMakerEstimator
from .serializers import (
    KMeansProtobufResponseRowDeserializer,
    LibSVMRequestRowSerializer,
    LinearLearnerBinaryClassifierProtobufResponseRowDeserializer,
    LinearLearnerRegressorProtobufResponseRowDeserializer,
    PCAProtobufResponseRowDeserializer,
    ProtobufRequestRowSerializer,
    XGBoostCSVRowDeserializer,
)

# region -> (account of the Amazon algorithms, account of XGBoost), from AWS's published image registries
_ACCOUNTS = {
    "us-east-1": ("382416733822", "683313688378"), "us-east-2": ("404615174143", "257758044811"),
    "us-west-1": ("632365934929", "746614075791"), "us-west-2": ("174872318107", "246618743249"),
    "eu-west-1": ("438346466558", "141502667606"), "eu-central-1": ("664544806723", "492215442770"),
    "ap-northeast-1": ("351501993468", "354813040037"), "ap-southeast-2": ("712309505854", "783357654285"),
}


def image_uri(repository: str, region: str | None) -> str:
    """``<account>.dkr.ecr.<region>.amazonaws.com/<repository>`` (us-west-2's accounts for other regions)."""
    region = region or "us-west-2"
    amazon, xgb = _ACCOUNTS.get(region, _ACCOUNTS["us-west-2"])
    account = xgb if "xgboost" in repository else amazon
    return f"{account}.dkr.ecr.{region}.amazonaws.com/{repository}"


_CONVERTERS: dict[type, Callable] = {int: TypeConverters.toInt, float: TypeConverters.toFloat,
                                     str: TypeConverters.toString, bool: TypeConverters.toBoolean}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def hyperparameters(*specs: tuple[str, type, str]) -> Callable[[type], type]:
    """Class decorator: a Spark Param per (SageMaker name, type, doc), with ``set<Camel>``/``get<Camel>``."""

    def decorate(cls: type) -> type:
        for name, kind, doc in specs:
            setattr(cls, name, Param(Params._dummy(), name, doc, typeConverter=_CONVERTERS[kind]))

            def setter(self: Any, value: Any, _name: str = name) -> Any:
                return self._set(**{_name: value})

            def getter(self: Any, _name: str = name) -> Any:
                return self.getOrDefault(getattr(self, _name))

            setattr(cls, "set" + _camel(name), setter)
            setattr(cls, "get" + _camel(name), getter)
        return cls

    return decorate


class _BuiltIn(SageMakerEstimator):
    """Common constructor of the built-ins: instance types and counts first, images from the region."""

    repository = ""
    dataFormat = "sagemaker"
    serializer: Any = ProtobufRequestRowSerializer
    deserializer: Any = None
    fixed: dict[str, Any] = {}
    defaults: dict[str, Any] = {}  # Param defaults for what the algorithm requires and AWS does not default
    needsFeatureDim = True

    def __init__(self, trainingInstanceType: str = "ml.m4.xlarge", trainingInstanceCount: int = 1,
                 endpointInstanceType: str = "ml.m4.xlarge", endpointInitialInstanceCount: int = 1,
                 sagemakerRole: Any = None, requestRowSerializer: Any = None, responseRowDeserializer: Any = None,
                 region: str | None = None, **kwargs: Any) -> None:
        client = kwargs.get("sagemakerClient")
        region = region or (client.meta.region_name if client is not None else None)
        image = image_uri(self.repository, region)
        super().__init__(trainingImage=image, modelImage=image, trainingInstanceType=trainingInstanceType,
                         trainingInstanceCount=trainingInstanceCount, endpointInstanceType=endpointInstanceType,
                         endpointInitialInstanceCount=endpointInitialInstanceCount,
                         requestRowSerializer=requestRowSerializer or self.serializer(),
                         responseRowDeserializer=responseRowDeserializer or self.deserializer(),
                         sagemakerRole=sagemakerRole, trainingSparkDataFormat=kwargs.pop(
                             "trainingSparkDataFormat", self.dataFormat), **kwargs)
        self.hyperParameters = {**self.fixed, **self.hyperParameters}
        if self.defaults:
            self._setDefault(**self.defaults)

    def _fit(self, dataset: Any) -> Any:
        feature_dim = getattr(self, "feature_dim", None)
        if self.needsFeatureDim and feature_dim is not None and not self.isSet(feature_dim):
            from .writers import check_columns

            check_columns(dataset, self.featuresColumnName, None, False)
            first = dataset.select(self.featuresColumnName).first()
            if first is not None:
                self._set(feature_dim=int(first[0].size))
        return super()._fit(dataset)


@hyperparameters(
    ("num_round", int, "number of boosting rounds"), ("eta", float, "step size shrinkage"),
    ("max_depth", int, "maximum tree depth"), ("objective", str, "learning objective, e.g. binary:logistic"),
    ("num_class", int, "number of classes (multi:softmax)"), ("subsample", float, "row subsample ratio"),
    ("gamma", float, "minimum loss reduction to split"), ("min_child_weight", float, "minimum child weight"),
    ("colsample_bytree", float, "column subsample ratio per tree"), ("eval_metric", str, "evaluation metric"),
    ("seed", int, "random seed"), ("alpha", float, "L1 regularisation"), ("lambda", float, "L2 regularisation"))
class XGBoostSageMakerEstimator(_BuiltIn):
    """XGBoost on LibSVM training data; ``prediction`` from the CSV answer."""

    repository = "sagemaker-xgboost:1.7-1"
    dataFormat = "libsvm"
    serializer = LibSVMRequestRowSerializer
    deserializer = XGBoostCSVRowDeserializer
    requiresLabel = True
    needsFeatureDim = False

    def setNumClasses(self, value: int) -> Any:  # sagemaker_pyspark's name for num_class
        return self._set(num_class=value)

    def setLambda(self, value: float) -> Any:
        return self._set(**{"lambda": value})


@hyperparameters(
    ("k", int, "number of clusters"), ("feature_dim", int, "number of features"),
    ("mini_batch_size", int, "rows per mini-batch"), ("epochs", int, "passes over the data"),
    ("init_method", str, "random or kmeans++"), ("max_iterations", int, "local Lloyd iterations"),
    ("tol", float, "local Lloyd tolerance"), ("extra_center_factor", str, "extra centers factor or auto"),
    ("eval_metrics", str, "['msd'] and/or ['ssd']"))
class KMeansSageMakerEstimator(_BuiltIn):
    """k-means on RecordIO-protobuf; ``distance_to_cluster`` and ``closest_cluster``."""

    repository = "kmeans:1"
    deserializer = KMeansProtobufResponseRowDeserializer

    def setMaxIter(self, value: int) -> Any:  # sagemaker_pyspark's name for max_iterations
        return self._set(max_iterations=value)


@hyperparameters(
    ("num_components", int, "number of principal components"), ("feature_dim", int, "number of features"),
    ("mini_batch_size", int, "rows per mini-batch"), ("algorithm_mode", str, "regular or randomized"),
    ("subtract_mean", bool, "centre the data"), ("extra_components", int, "extra components (randomized)"))
class PCASageMakerEstimator(_BuiltIn):
    """PCA on RecordIO-protobuf; the ``projection`` Vector."""

    repository = "pca:1"
    deserializer = PCAProtobufResponseRowDeserializer
    defaults = {"mini_batch_size": 500}


_LINEAR = (
    ("feature_dim", int, "number of features"), ("mini_batch_size", int, "rows per mini-batch"),
    ("epochs", int, "passes over the data"), ("learning_rate", float, "step size"), ("l1", float, "L1 penalty"),
    ("wd", float, "L2 penalty"), ("num_models", int, "models trained in parallel"), ("loss", str, "loss function"),
    ("optimizer", str, "sgd, adam or rmsprop"), ("normalize_data", bool, "normalise features"),
    ("normalize_label", bool, "normalise the label"))


@hyperparameters(*_LINEAR, ("binary_classifier_model_selection_criteria", str, "threshold selection criterion"))
class LinearLearnerBinaryClassifier(_BuiltIn):
    """Linear learner, ``predictor_type=binary_classifier``; ``score`` and ``predicted_label``."""

    repository = "linear-learner:1"
    deserializer = LinearLearnerBinaryClassifierProtobufResponseRowDeserializer
    fixed = {"predictor_type": "binary_classifier"}
    requiresLabel = True


@hyperparameters(*_LINEAR)
class LinearLearnerRegressor(_BuiltIn):
    """Linear learner, ``predictor_type=regressor``; ``score``."""

    repository = "linear-learner:1"
    deserializer = LinearLearnerRegressorProtobufResponseRowDeserializer
    fixed = {"predictor_type": "regressor"}
    requiresLabel = True
