"""The Neural Topic Model as AWS's ``ntm`` container: a variational autoencoder over bag-of-words documents.

The encoder is an MLP (``encoder_layers``: "auto" = [3 x num_topics, 2 x num_topics], or e.g. "100,50";
``encoder_layers_activation``; optional ``batch_norm``) from the document's word counts to the mean and log
variance of a Gaussian latent of ``num_topics`` dimensions; the decoder maps the softmax of a sample of it
through a linear layer and a softmax over the vocabulary. The loss is the reconstruction negative
log-likelihood of the words plus the KL divergence of the latent from N(0, I) (``total_loss``, per document).
Early stopping on ``validation:total_loss`` (``tolerance``, ``num_patience_epochs``). Serving answers each
document's ``topic_weights``: the softmax of the latent mean, so the same document always gets the same answer.
See :mod:`.model` and ``docs/neural/ntm.md``.
"""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1, max=1000000),
    "num_topics": Param("int", required=True, min=2, max=1000),
    "mini_batch_size": Param("int", default=256, min=1, max=10000),
    "epochs": Param("int", default=50, min=1),  # the SDK checks [1, 100]; AWS's documentation, min 1
    "encoder_layers": Param("list", default="auto", allow_auto=True),
    "encoder_layers_activation": Param("str", default="sigmoid", choices=("sigmoid", "tanh", "relu")),
    "optimizer": Param("str", default="adadelta", choices=("adagrad", "adam", "rmsprop", "sgd", "adadelta")),
    "learning_rate": Param("float", default=0.001, min=1e-6, max=1.0,
                           description="adadelta ignores it, as MXNet's AdaDelta does"),
    "tolerance": Param("float", default=0.001, min=1e-6, max=0.1),
    "num_patience_epochs": Param("int", default=3, min=1),  # SDK [1, 10]; AWS: > epochs disables stopping
    "batch_norm": Param("bool", default=False),
    "rescale_gradient": Param("float", default=1.0, min=1e-3, max=1.0),
    "clip_gradient": Param("float", default=float("inf"), min=1e-3),
    "weight_decay": Param("float", default=0.0, min=0.0, max=1.0),
    "sub_sample": Param("float", default=1.0, min=0.0, max=1.0, min_exclusive=True),
}


def encoder_sizes(value: Any, num_topics: int) -> list[int]:
    """The hidden layer sizes ``encoder_layers`` names ("auto": [3 x num_topics, 2 x num_topics])."""
    if value == "auto" or value == ["auto"]:
        return [3 * num_topics, 2 * num_topics]
    items = value if isinstance(value, list) else str(value).strip("[]").split(",")
    try:
        sizes = [int(str(v).strip()) for v in items if str(v).strip()]
    except ValueError:
        sizes = []
    if not sizes or min(sizes) < 1:
        raise ValidationError(f"Hyperparameter 'encoder_layers' has value '{value}'; expected 'auto' or a "
                              "comma-separated list of positive integers (e.g. 100,50).")
    return sizes


def _cross_check(h: dict[str, Any]) -> None:
    encoder_sizes(h.get("encoder_layers", "auto"), h["num_topics"])


ALGORITHM = Algorithm(
    name="ntm",
    image_repos=("ntm",),
    training_module="shipyard.algorithms.ntm.train",
    handler="shipyard.algorithms.ntm.handler:NTMHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"validation:total_loss": "Minimize", "test:total_loss": "Minimize"}),
    input_content_types=("application/x-recordio-protobuf", "text/csv"),
    supports_pipe=True,
    supports_sparse=True,
    cross_check=_cross_check,
    inference_content_types=("text/csv", "application/json", "application/jsonlines",
                             "application/x-recordio-protobuf"),
    inference_accepts=("application/json", "application/jsonlines", "application/x-recordio-protobuf"),
    requires=("torch",),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.ntm.sample:make",
        channels=("train", "validation", "test", "auxiliary"),
        hyperparameters={"num_topics": "3", "feature_dim": "30", "mini_batch_size": "64", "epochs": "8",
                         "optimizer": "adam", "learning_rate": "0.01"},
        output_key="predictions", output_fields=("topic_weights",),
        metrics=("validation:total_loss", "test:total_loss"),
    ),
)
