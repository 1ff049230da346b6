"""Image classification: a ResNet trained from scratch on RecordIO or .lst + image channels (torch).

The network follows the MXNet ResNet (v2, pre-activation) that AWS's container trains: ``num_layers`` 18, 34,
50, 101, 152, 200 are the ImageNet-style networks (basic blocks below 50 layers, bottlenecks from 50), with the
7x7/2 stem and max-pool replaced by one 3x3 convolution when the image is 32 pixels high or less, as MXNet does;
20, 32, 44, 56, 110 (6n+2) are the CIFAR-style networks (three stages of 16, 32, 64 channels). Pretrained
ImageNet weights cannot be downloaded here: ``use_pretrained_model=1`` needs a ``model`` channel holding the
weights (a model.tar.gz of an earlier job), and a ``model`` channel alone continues training from it
(incremental training).

Training channels: ``application/x-recordio`` ``train`` / ``validation`` (``.rec`` files, MXNet image records;
Pipe mode too, and the augmented-manifest stream of image and label records when the channel's
``RecordWrapperType`` is ``RecordIO``), or ``application/x-image`` ``train`` / ``validation`` (images in
folders) with ``train_lst`` / ``validation_lst`` (``.lst`` files). Inference takes one image (JPEG or PNG) and
answers the class probabilities as a JSON list (``application/jsonlines``: ``{"prediction": [...]}``).
"""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

CIFAR_DEPTHS = (20, 32, 44, 56, 110)
IMAGENET_DEPTHS = (18, 34, 50, 101, 152, 200)


def parse_image_shape(text: str) -> tuple[int, int, int]:
    """``"3,224,224"`` -> (3, 224, 224); ValidationError naming the hyperparameter otherwise."""
    parts = [p.strip() for p in str(text).strip().strip("()[]").split(",")]
    try:
        c, h, w = (int(p) for p in parts)
    except ValueError:
        raise ValidationError(
            f"Hyperparameter 'image_shape' has value '{text}'; expected 'channels,height,width' "
            "(e.g. '3,224,224') with 1 or 3 channels and height and width of at least 8.") from None
    if c not in (1, 3) or h < 8 or w < 8 or h > 4096 or w > 4096:
        raise ValidationError(
            f"Hyperparameter 'image_shape' has value '{text}'; expected 'channels,height,width' "
            "(e.g. '3,224,224') with 1 or 3 channels and height and width of at least 8.")
    return c, h, w


def parse_steps(text: str) -> list[int]:
    """``lr_scheduler_step`` "10,20" -> [10, 20] (epochs at which the learning rate is multiplied)."""
    try:
        steps = [int(float(s)) for s in str(text).replace(";", ",").split(",") if s.strip()]
    except ValueError:
        steps = []
    if not steps or any(s <= 0 for s in steps) or steps != sorted(steps):
        raise ValidationError(
            f"Hyperparameter 'lr_scheduler_step' has value '{text}'; expected comma-separated epochs in "
            "increasing order, e.g. '10,20'.")
    return steps


def _cross_check(hps: dict[str, Any]) -> None:
    parse_image_shape(hps["image_shape"])
    if "lr_scheduler_step" in hps:
        parse_steps(hps["lr_scheduler_step"])
    if "top_k" in hps and hps["top_k"] > hps["num_classes"]:
        raise ValidationError(
            f"Hyperparameter 'top_k' has value '{hps['top_k']}'; expected an int in [2, num_classes] "
            f"(num_classes is {hps['num_classes']}).")
    if "resize" in hps:
        _, h, w = parse_image_shape(hps["image_shape"])
        if hps["resize"] < min(h, w):
            raise ValidationError(
                f"Hyperparameter 'resize' has value '{hps['resize']}'; expected an int of at least the "
                f"image_shape's smaller side ({min(h, w)}), since images are resized and then cropped.")


HYPERPARAMETERS = {
    "num_classes": Param("int", required=True, min=2, max=100000),
    "num_training_samples": Param("int", required=True, min=1),
    "num_layers": Param("int", default=152, choices=IMAGENET_DEPTHS + CIFAR_DEPTHS),
    "image_shape": Param("str", default="3,224,224"),
    "epochs": Param("int", default=30, min=1),
    "learning_rate": Param("float", default=0.1, min=1e-6, max=1.0),
    "mini_batch_size": Param("int", default=32, min=1),
    "optimizer": Param("str", default="sgd", choices=("sgd", "adam", "rmsprop", "nag")),
    "momentum": Param("float", default=0.9, min=0.0, max=1.0),
    "weight_decay": Param("float", default=0.0001, min=0.0, max=1.0),
    "beta_1": Param("float", default=0.9, min=0.0, max=1.0),
    "beta_2": Param("float", default=0.999, min=0.0, max=1.0),
    "eps": Param("float", default=1e-8, min=0.0, max=1.0),
    "gamma": Param("float", default=0.9, min=0.0, max=1.0),
    "lr_scheduler_factor": Param("float", default=0.1, min=0.0, max=1.0),
    "lr_scheduler_step": Param("str", description="comma-separated epochs, e.g. '10,20'"),
    "augmentation_type": Param("str", choices=("crop", "crop_color", "crop_color_transform")),
    "resize": Param("int", min=1),
    "top_k": Param("int", min=2),
    "multi_label": Param("int", default=0, choices=(0, 1)),
    "use_pretrained_model": Param("int", default=0, choices=(0, 1)),
    "use_weighted_loss": Param("int", default=0, choices=(0, 1)),
    "checkpoint_frequency": Param("int", min=1),
    "early_stopping": Param("bool", default=False),
    "early_stopping_min_epochs": Param("int", default=10, min=1),
    "early_stopping_patience": Param("int", default=5, min=1),
    "early_stopping_tolerance": Param("float", default=0.0, min=0.0, max=1.0),
    "precision_dtype": Param("str", default="float32", choices=("float32", "float16")),
    "kv_store": Param("str", choices=("dist_sync", "dist_async"),
                      description="distributed training mode; accepted, one host trains"),
}

ALGORITHM = Algorithm(
    name="image-classification",
    image_repos=("image-classification",),
    training_module="shipyard.algorithms.image_classification.train",
    handler="shipyard.algorithms.image_classification.handler:ImageClassificationHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"validation:accuracy": "Maximize", "train:accuracy": "Maximize"}),
    input_content_types=("application/x-recordio", "application/x-image"),
    supports_pipe=True,
    cross_check=_cross_check,
    inference_content_types=("image/jpeg", "image/png", "application/x-image"),
    inference_accepts=("application/json",),
    requires=("torch", "PIL"),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", channels=("train", "validation"),
        sample="shipyard.algorithms.image_classification.sample:make",
        hyperparameters={"num_classes": "3", "num_training_samples": "90", "num_layers": "20",
                         "image_shape": "3,16,16", "epochs": "2", "mini_batch_size": "16",
                         "learning_rate": "0.05"},
        metrics=("validation:accuracy", "train:accuracy"),
        output_key="", output_fields=()),
)
