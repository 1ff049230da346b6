"""Latent Dirichlet Allocation as AWS's ``lda`` container does it: a spectral method, not Gibbs sampling or EM.

Training streams the documents twice: pass one accumulates the first and second word moments, whose top
``num_topics`` eigenvectors whiten the problem; pass two accumulates the whitened third moment (a
``num_topics``-cubed tensor), decomposed by the robust tensor power method (``max_restarts`` random starts,
``max_iterations`` iterations, convergence at ``tol``). ``alpha0`` is the sum of the Dirichlet parameters,
which the moment corrections need. Serving infers each document's ``topic_mixture`` by variational inference
given the topics. See :mod:`.spectral` and ``docs/neural/lda.md``.

AWS trains LDA on one instance only; Shipyard's declaration cannot see ``InstanceCount``, so a job with more
instances runs on the first host alone (the others idle), which the training log says.
"""

from __future__ import annotations

from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

HYPERPARAMETERS = {
    "num_topics": Param("int", required=True, min=1),
    "feature_dim": Param("int", required=True, min=1),
    "mini_batch_size": Param("int", required=True, min=1),
    "alpha0": Param("float", default=1.0, min=0.0, min_exclusive=True),
    "max_restarts": Param("int", default=10, min=1),
    "max_iterations": Param("int", default=1000, min=1),
    "tol": Param("float", default=1e-8, min=0.0, min_exclusive=True),
}

ALGORITHM = Algorithm(
    name="lda",
    image_repos=("lda",),
    training_module="shipyard.algorithms.lda.train",
    handler="shipyard.algorithms.lda.handler:LDAHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:pwll": "Maximize"}),
    input_content_types=("application/x-recordio-protobuf", "text/csv"),
    supports_pipe=True,
    supports_sparse=True,
    inference_content_types=("text/csv", "application/json", "application/jsonlines",
                             "application/x-recordio-protobuf"),
    inference_accepts=("application/json", "application/jsonlines", "application/x-recordio-protobuf"),
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.lda.sample:make", channels=("train", "test"),
        hyperparameters={"num_topics": "3", "feature_dim": "30", "mini_batch_size": "64"},
        output_key="predictions", output_fields=("topic_mixture",), metrics=("test:pwll",),
    ),
)
