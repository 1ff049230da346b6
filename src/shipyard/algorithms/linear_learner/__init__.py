"""Linear learner: binary / multiclass classification and regression with ``num_models`` trained at once.

Hyperparameters mirror SageMaker's (names, defaults, ranges); see :mod:`.model` for how the models are
trained together and :mod:`.train` for model selection, threshold calibration and early stopping.
"""

from __future__ import annotations

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import INFERENCE_ACCEPTS, INFERENCE_CONTENT_TYPES, TRAINING_CONTENT_TYPES, metric_defs

LOSSES = ("auto", "logistic", "squared_loss", "absolute_loss", "hinge_loss", "eps_insensitive_squared_loss",
          "eps_insensitive_absolute_loss", "quantile_loss", "huber_loss", "softmax_loss")
_BINARY_LOSSES = ("logistic", "hinge_loss")
CRITERIA = ("accuracy", "f_beta", "precision_at_target_recall", "recall_at_target_precision", "loss_function",
            "f1", "cross_entropy_loss")

HYPERPARAMETERS = {
    "predictor_type": Param("str", required=True,
                            choices=("binary_classifier", "multiclass_classifier", "regressor")),
    # [1, 1000000] as the SDK allows; multiclass_classifier needs >= 3 (cross_check), others ignore it
    "num_classes": Param("int", min=1, max=1000000),
    "feature_dim": Param("int", default="auto", min=1, allow_auto=True),
    "num_models": Param("int", default="auto", min=1, allow_auto=True),
    "num_calibration_samples": Param("int", default=10000000, min=1),
    "init_method": Param("str", default="uniform", choices=("uniform", "normal")),
    "init_scale": Param("float", default=0.07, min=0, min_exclusive=True),
    "init_sigma": Param("float", default=0.01, min=0, min_exclusive=True),
    "init_bias": Param("float", default=0.0),
    "optimizer": Param("str", default="auto", choices=("auto", "sgd", "adam", "rmsprop")),
    "loss": Param("str", default="auto", choices=LOSSES),
    "wd": Param("float", default="auto", min=0, allow_auto=True),
    "l1": Param("float", default="auto", min=0, allow_auto=True),
    "momentum": Param("float", default="auto", min=0, max=1, max_exclusive=True, allow_auto=True),
    "learning_rate": Param("float", default="auto", min=0, min_exclusive=True, allow_auto=True),
    "beta_1": Param("float", default="auto", min=0, max=1, max_exclusive=True, allow_auto=True),
    "beta_2": Param("float", default="auto", min=0, max=1, max_exclusive=True, allow_auto=True),
    "bias_lr_mult": Param("float", default="auto", min=0, min_exclusive=True, allow_auto=True),
    "bias_wd_mult": Param("float", default="auto", min=0, allow_auto=True),
    "use_lr_scheduler": Param("bool", default=True),
    "lr_scheduler_step": Param("int", default="auto", min=1, allow_auto=True),
    "lr_scheduler_factor": Param("float", default="auto", min=0, max=1, min_exclusive=True, allow_auto=True),
    "lr_scheduler_minimum_lr": Param("float", default="auto", min=0, min_exclusive=True, allow_auto=True),
    "mini_batch_size": Param("int", default=1000, min=1),
    "epochs": Param("int", default=15, min=1),
    "normalize_data": Param("bool", default=True),
    "normalize_label": Param("bool", default="auto", allow_auto=True),
    "unbias_data": Param("bool", default="auto", allow_auto=True),
    "unbias_label": Param("bool", default="auto", allow_auto=True),
    "num_point_for_scaler": Param("int", default=10000, min=1),
    "margin": Param("float", default=1.0, min=0),
    "quantile": Param("float", default=0.5, min=0, max=1, min_exclusive=True),
    "loss_insensitivity": Param("float", default=0.01, min=0, min_exclusive=True),
    "huber_delta": Param("float", default=1.0, min=0,
                         description="0 is allowed (as by the SDK) and makes the Huber loss identically 0"),
    "early_stopping_patience": Param("int", default=3, min=1),
    "early_stopping_tolerance": Param("float", default=0.001, min=0, min_exclusive=True),
    "binary_classifier_model_selection_criteria": Param("str", default="accuracy", choices=CRITERIA),
    "target_recall": Param("float", default=0.8, min=0, max=1, min_exclusive=True),
    "target_precision": Param("float", default=0.8, min=0, max=1, min_exclusive=True),
    "positive_example_weight_mult": Param("str", default="1.0",
                                          description="a float > 0, 'auto' or 'balanced'"),
    "use_bias": Param("bool", default=True),
    "accuracy_top_k": Param("int", default=3, min=1),
    "f_beta": Param("float", default=1.0, min=0, min_exclusive=True),
    "balance_multiclass_weights": Param("bool", default=False),
}


def cross_check(h: dict) -> None:
    ptype = h["predictor_type"]
    if ptype == "multiclass_classifier" and h.get("num_classes", 0) < 3:
        got = f" (got {h['num_classes']})" if "num_classes" in h else ""
        raise ValidationError("Hyperparameter 'num_classes' is required when predictor_type is "
                              f"multiclass_classifier; expected int in [3, 1000000]{got}.")
    loss = h["loss"]
    if loss != "auto":
        ok = {"binary_classifier": _BINARY_LOSSES, "multiclass_classifier": ("softmax_loss",)}.get(
            ptype, tuple(x for x in LOSSES if x not in _BINARY_LOSSES + ("softmax_loss", "auto")))
        if loss not in ok:
            raise ValidationError(f"Hyperparameter 'loss' has value '{loss}', which is not valid for "
                                  f"predictor_type {ptype}; expected one of auto, {', '.join(ok)}.")
    mult = h["positive_example_weight_mult"]
    if mult not in ("auto", "balanced"):
        try:
            ok = float(mult) > 0
        except ValueError:
            ok = False
        if not ok:
            raise ValidationError(f"Hyperparameter 'positive_example_weight_mult' has value '{mult}'; "
                                  "expected a float in (0, +inf), 'auto' or 'balanced'.")


_METRICS = {f"{c}:{m}": d for c in ("validation", "test") for m, d in (
    ("objective_loss", "Minimize"), ("mse", "Minimize"), ("rmse", "Minimize"), ("absolute_loss", "Minimize"),
    ("binary_classification_accuracy", "Maximize"), ("binary_f_beta", "Maximize"), ("precision", "Maximize"),
    ("recall", "Maximize"), ("roc_auc_score", "Maximize"), ("multiclass_accuracy", "Maximize"),
    ("multiclass_top_k_accuracy", "Maximize"), ("macro_f_beta", "Maximize"), ("macro_precision", "Maximize"),
    ("macro_recall", "Maximize"))}
_METRICS["train:objective_loss"] = "Minimize"

ALGORITHM = Algorithm(
    name="linear-learner",
    image_repos=("linear-learner",),
    training_module="shipyard.algorithms.linear_learner.train",
    handler="shipyard.algorithms.linear_learner.handler:LinearLearnerHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs(_METRICS),
    input_content_types=TRAINING_CONTENT_TYPES,
    supports_pipe=True,
    cross_check=cross_check,
    supports_sparse=True,
    inference_content_types=INFERENCE_CONTENT_TYPES,
    inference_accepts=INFERENCE_ACCEPTS,
    test_problem=TestProblem(
        kind="binary",
        hyperparameters={"predictor_type": "binary_classifier", "mini_batch_size": "32", "epochs": "8",
                         "num_models": "4"},
        channels=("train", "validation", "test"),
        metrics=("validation:binary_classification_accuracy", "validation:objective_loss",
                 "test:binary_classification_accuracy", "test:roc_auc_score"),
        output_fields=("score", "predicted_label"),
    ),
)
