"""Factorization machines (Rendle 2010) for sparse binary classification and regression.

score = w0 + <w, x> + sum_{i<j} <v_i, v_j> x_i x_j, computed in O(nnz * num_factors) with the
``0.5 * ((XV)^2 - (X^2)(V^2))`` identity on CSR batches. Bias, linear and factor terms have their own
learning rate, weight decay and initialisation, as in SageMaker; updates use Adam on each group.
Training data: RecordIO-protobuf Float32, dense or sparse (as on AWS).

``clip_gradient``, ``eps`` and ``rescale_grad`` take any float, as the SageMaker SDK and AWS allow, with
MXNet's meaning: a ``clip_gradient`` <= 0 means no clipping, and ``eps`` and ``rescale_grad`` are used as
given (the Adam step divides by ``sqrt(v) + eps``; the gradient is multiplied by ``rescale_grad``).
"""

from __future__ import annotations

from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

_INIT = ("normal", "uniform", "constant")


def _group(prefix: str, lr: float, wd: float, sigma: float) -> dict:
    return {
        f"{prefix}_lr": Param("float", default=lr, min=0),
        f"{prefix}_wd": Param("float", default=wd, min=0),
        f"{prefix}_init_method": Param("str", default="normal", choices=_INIT),
        f"{prefix}_init_scale": Param("float", default=0.01, min=0),
        f"{prefix}_init_sigma": Param("float", default=sigma, min=0),
        f"{prefix}_init_value": Param("float", default=0.0),
    }


HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1),
    "num_factors": Param("int", required=True, min=1),  # AWS suggests [2, 1000]; any positive int is valid
    "predictor_type": Param("str", required=True, choices=("binary_classifier", "regressor")),
    "epochs": Param("int", default=1, min=1),
    "mini_batch_size": Param("int", default=1000, min=1),
    "clip_gradient": Param("float", default=0.0, description="<= 0: no clipping"),
    "eps": Param("float", default=1e-8),
    "rescale_grad": Param("float", default=1.0),
    **_group("bias", 0.1, 0.01, 0.01),
    **_group("linear", 0.001, 0.001, 0.01),
    **_group("factors", 0.0001, 0.00001, 0.001),
}

ALGORITHM = Algorithm(
    name="factorization-machines",
    image_repos=("factorization-machines",),
    training_module="shipyard.algorithms.factorization_machines.train",
    handler="shipyard.algorithms.factorization_machines.handler:FactorizationMachinesHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:rmse": "Minimize", "test:binary_classification_accuracy": "Maximize",
                         "test:binary_classification_cross_entropy": "Minimize",
                         "test:binary_f_beta": "Maximize", "train:objective_loss": "Minimize"}),
    input_content_types=("application/x-recordio-protobuf",),
    supports_pipe=True,
    supports_sparse=True,
    inference_content_types=("application/json", "application/jsonlines", "application/x-recordio-protobuf"),
    inference_accepts=("application/json", "application/jsonlines", "application/x-recordio-protobuf"),
    test_problem=TestProblem(
        kind="binary", channels=("train", "test"),
        hyperparameters={"feature_dim": "6", "num_factors": "4", "predictor_type": "binary_classifier",
                         "epochs": "5", "mini_batch_size": "32", "linear_lr": "0.05", "factors_lr": "0.01"},
        metrics=("test:binary_classification_accuracy", "test:binary_classification_cross_entropy"),
        output_fields=("score", "predicted_label"),
    ),
)
