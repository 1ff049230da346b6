"""PCA in one streaming pass over mini-batches.

``regular`` accumulates the exact ``X^T X`` and column sums (D x D memory) and eigendecomposes it;
``randomized`` keeps only a Nystrom sketch ``X^T X Omega`` with ``num_components + extra_components``
random directions, for wide data where D x D does not fit. ``subtract_mean`` centres with the streamed mean.
"""

from __future__ import annotations

from ..base import Algorithm, Param, TestProblem
from ..builtin import INFERENCE_ACCEPTS, INFERENCE_CONTENT_TYPES, TRAINING_CONTENT_TYPES

HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1),
    "num_components": Param("int", required=True, min=1),
    "mini_batch_size": Param("int", required=True, min=1),
    "algorithm_mode": Param("str", default="regular", choices=("regular", "randomized")),
    "subtract_mean": Param("bool", default=True),
    "extra_components": Param("int", default=-1, min=-1),
}

ALGORITHM = Algorithm(
    name="pca",
    image_repos=("pca",),
    training_module="shipyard.algorithms.pca.train",
    handler="shipyard.algorithms.pca.handler:PCAHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics={},
    input_content_types=TRAINING_CONTENT_TYPES,
    supports_pipe=True,
    supports_sparse=True,
    inference_content_types=INFERENCE_CONTENT_TYPES,
    inference_accepts=INFERENCE_ACCEPTS,
    test_problem=TestProblem(
        kind="clusters", labelled_channels=(),
        hyperparameters={"feature_dim": "6", "num_components": "2", "mini_batch_size": "64"},
        output_key="projections", output_fields=("projection",),
    ),
)
