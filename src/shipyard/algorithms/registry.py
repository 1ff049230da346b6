"""Which program a ``TrainingImage`` selects: a built-in algorithm, or a framework running the user's script.

Any account, region and tag map alike: ``<acct>.dkr.ecr.<region>.amazonaws.com/sagemaker-xgboost:1.7-1``,
``.../kmeans:1`` and the short names ``xgboost``, ``kmeans`` all work.
"""

from __future__ import annotations

import importlib
import os

from ..environments.image_uri import repository_and_tag
from ..errors import ValidationError
from .base import Algorithm

# short name -> module defining ALGORITHM. A new built-in is added here and gets the conformance suite.
BUILTINS: dict[str, str] = {
    "xgboost": "shipyard.algorithms.xgboost",
    "linear-learner": "shipyard.algorithms.linear_learner",
    "kmeans": "shipyard.algorithms.kmeans",
    "pca": "shipyard.algorithms.pca",
    "factorization-machines": "shipyard.algorithms.factorization_machines",
    "knn": "shipyard.algorithms.knn",
    "randomcutforest": "shipyard.algorithms.random_cut_forest",
    "ipinsights": "shipyard.algorithms.ip_insights",
    # the neural built-ins: their declarations import nothing heavy; training and serving need torch (LDA: not)
    "lda": "shipyard.algorithms.lda",
    "ntm": "shipyard.algorithms.ntm",
    "blazingtext": "shipyard.algorithms.blazingtext",
    "object2vec": "shipyard.algorithms.object2vec",
    "seq2seq": "shipyard.algorithms.seq2seq",
    "forecasting-deepar": "shipyard.algorithms.deepar",
    "image-classification": "shipyard.algorithms.image_classification",
}

# SageMaker built-ins (ECR repository -> the SDK class) that Shipyard does not implement yet: CreateTrainingJob
# refuses them by name instead of calling them unknown images.
NOT_YET_AVAILABLE: dict[str, str] = {
    "object-detection": "ObjectDetection", "semantic-segmentation": "SemanticSegmentation",
}

# ECR repository names of framework containers: these run the user's entry point (script mode).
FRAMEWORK_REPOS = {
    "sagemaker-scikit-learn": "sklearn",
    "sklearn": "sklearn",
    "pytorch-training": "pytorch",
    "pytorch-inference": "pytorch",
    "pytorch": "pytorch",
    "tensorflow-training": "tensorflow",
    "tensorflow-inference": "tensorflow",
    "huggingface-pytorch-training": "huggingface",
    "huggingface-pytorch-inference": "huggingface",
    "python": "python",
}

# ECR repositories of the images SageMaker Neo's compiled models are deployed with (a compilation job's
# InferenceImage, the SDK's neo-* image configs) -> the original framework. The model server serves their
# compiled ``model.onnx`` on onnxruntime with the original container's contract (serving/frameworks/onnx.py).
NEO_REPOS = {
    "xgboost-neo": "xgboost", "sagemaker-neo-xgboost": "xgboost",
    "sagemaker-inference-pytorch": "pytorch", "sagemaker-neo-pytorch": "pytorch", "neo-pytorch": "pytorch",
    "sagemaker-inference-tensorflow": "tensorflow", "sagemaker-neo-tensorflow": "tensorflow",
    "neo-tensorflow": "tensorflow", "sagemaker-neo-sklearn": "sklearn", "sagemaker-neo-onnx": "onnx",
    "image-classification-neo": "image-classification",
}

# Framework images Shipyard refuses by name, with the reason (instead of "unknown image" or a silent mapping).
UNSUPPORTED_FRAMEWORKS: dict[str, str] = {
    repo: ("MXNet images are not supported: Apache MXNet is retired upstream (moved to the Apache Attic in 2023) "
           "and has no maintained release for current Python; use PyTorch (sagemaker.pytorch.PyTorch) or "
           "TensorFlow (sagemaker.tensorflow.TensorFlow)")
    for repo in ("mxnet-training", "mxnet-inference", "mxnet", "sagemaker-mxnet", "sagemaker-mxnet-serving",
                 "mxnet-training-neuron", "mxnet-inference-eia", "sagemaker-mxnet-eia")
}


def check_supported(image: str) -> None:
    """Refuse an image of a framework Shipyard does not run (MXNet), saying what to use instead."""
    reason = UNSUPPORTED_FRAMEWORKS.get(repository(image)) if image else None
    if reason:
        raise ValidationError(f"Image {image!r}: {reason}.")


def repository(image: str) -> str:
    """The ECR repository an image names (``.../sagemaker-xgboost:1.7-1`` -> ``sagemaker-xgboost``)."""
    return repository_and_tag(image)[0]


def _load(name: str) -> Algorithm | None:
    try:
        mod = importlib.import_module(BUILTINS[name])
    except ModuleNotFoundError as e:
        if e.name and BUILTINS[name].startswith(e.name):
            return None  # not implemented yet
        raise
    return mod.ALGORITHM


def all_algorithms() -> list[Algorithm]:
    return [a for a in (_load(n) for n in BUILTINS) if a is not None]


def builtin_for_image(image: str) -> Algorithm | None:
    """The built-in algorithm an image names, or None for framework images."""
    repo = repository(image)
    for name in BUILTINS:
        algo = _load(name)
        if algo is not None and (repo == name or repo in algo.image_repos):
            return algo
    return None


def check_image(image: str) -> None:
    """Refuse an unsupported framework's image (MXNet) and a framework image tag AWS never published
    (``sagemaker-xgboost:0.1-bad``), listing the valid versions (from the SageMaker SDK's image list, see
    :mod:`shipyard.environments.catalog`)."""
    from ..environments.spec import check_image as _check

    check_supported(image)
    _check(image)


def is_container_image(image: str) -> bool:
    """A bring-your-own image: an ECR URI (``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>``, mapped to
    the local registry when the job runs), or an image the local container engine has. Asked only of images
    that name no built-in algorithm or framework (those win by repository name, as :func:`resolve` says)."""
    from ..containers import uris

    if repository(image) in NEO_REPOS:  # a Neo inference image: the model server serves its model.onnx
        return False
    try:
        if uris.is_ecr(image):
            return True
        uris.parse(image)
    except uris.ImageUriError:
        return False
    if image in _ENGINE_IMAGES:
        return True
    from ..containers.engine import find_engine

    engine = find_engine(os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
    if engine is not None and engine.has_image(image):
        _ENGINE_IMAGES.add(image)
        return True
    return False


# Local-engine images seen (each DescribeTrainingJob resolves its image again: one `docker image inspect` per
# name, not per call). An image removed since still resolves; its job then fails saying it cannot be pulled.
_ENGINE_IMAGES: set[str] = set()


def resolve(image: str, hyperparameters: dict[str, str], environment: dict[str, str] | None = None
            ) -> tuple[str, Algorithm | None]:
    """Return ("builtin", algo), ("script", None) or ("container", None). Script mode wins when an entry point
    is named, so the XGBoost image runs a user's script in framework mode as on AWS; a built-in or framework
    repository name wins over a bring-your-own image of the same name; anything else that is an ECR URI or an
    image of the local engine runs as a container (:func:`is_container_image`)."""
    environment = environment or {}
    check_image(image)
    if "sagemaker_program" in hyperparameters or "SAGEMAKER_PROGRAM" in environment:
        return "script", None
    algo = builtin_for_image(image)
    if algo is not None:
        return "builtin", algo
    if repository(image) in FRAMEWORK_REPOS:
        raise ValidationError(
            f"TrainingImage {image!r} is a framework image: name the entry point with the 'sagemaker_program' "
            "hyperparameter (the SageMaker SDK's framework estimators do this).")
    known = ", ".join(sorted(BUILTINS))
    if repository(image) in NOT_YET_AVAILABLE:
        raise ValidationError(
            f"The '{repository(image)}' built-in algorithm (TrainingImage {image!r}) is not available in Shipyard "
            f"yet; the built-ins available are {known}.")
    if is_container_image(image):
        return "container", None
    raise ValidationError(
        f"TrainingImage {image!r} is not a built-in algorithm ({known}), a framework image "
        f"({', '.join(sorted(FRAMEWORK_REPOS))}), an ECR image URI "
        "(<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>) or an image of the local container engine.")
