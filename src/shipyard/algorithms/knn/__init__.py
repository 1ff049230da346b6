"""k-nearest neighbours (classifier / regressor) over a ``sample_size`` reservoir sample of the training data.

SageMaker builds a FAISS index; here the ``index_type`` values map honestly to numpy:

* ``faiss.Flat`` -> exact brute-force search (blocked matrix products);
* ``faiss.IVFFlat`` -> an inverted file: a coarse k-means (``faiss_index_ivf_nlists`` lists, numpy
  mini-batch k-means) and exact search inside the ``faiss_index_nprobe`` nearest lists;
* ``faiss.IVFPQ`` -> the same inverted file with exact distances inside the probed lists (no product
  quantisation: answers are at least as accurate as IVFPQ's, memory is that of IVFFlat).

``dimension_reduction_type`` ``sign`` (random +-1 projection) or ``fjlt`` (fast Johnson-Lindenstrauss:
random signs, a Walsh-Hadamard transform, coordinate sampling) reduces to ``dimension_reduction_target``.
``index_metric`` L2, INNER_PRODUCT or COSINE.
"""

from __future__ import annotations

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import INFERENCE_ACCEPTS, INFERENCE_CONTENT_TYPES, TRAINING_CONTENT_TYPES, metric_defs


def cross_check(h: dict) -> None:
    if h.get("dimension_reduction_type") and "dimension_reduction_target" not in h:
        raise ValidationError("Hyperparameter 'dimension_reduction_target' is required when "
                              "dimension_reduction_type is set; expected int in [1, feature_dim).")
    t = h.get("dimension_reduction_target")
    if t is not None and t >= h["feature_dim"]:
        raise ValidationError(f"Hyperparameter 'dimension_reduction_target' is {t}; expected int in "
                              f"[1, feature_dim={h['feature_dim']}).")
    if h["k"] > h["sample_size"]:
        raise ValidationError(f"Hyperparameter 'k' is {h['k']}; expected int in [1, sample_size={h['sample_size']}].")


HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1),
    "k": Param("int", required=True, min=1),  # any positive int (SDK, AWS); at most sample_size below
    "predictor_type": Param("str", required=True, choices=("classifier", "regressor")),
    "sample_size": Param("int", required=True, min=1),
    "dimension_reduction_type": Param("str", choices=("sign", "fjlt")),
    "dimension_reduction_target": Param("int", min=1),
    "index_type": Param("str", default="faiss.Flat", choices=("faiss.Flat", "faiss.IVFFlat", "faiss.IVFPQ")),
    "index_metric": Param("str", default="L2", choices=("L2", "INNER_PRODUCT", "COSINE")),
    "faiss_index_ivf_nlists": Param("int", default="auto", min=1, allow_auto=True),
    "faiss_index_pq_m": Param("int", min=1),
    "faiss_index_nprobe": Param("int", default=5, min=1),
    "mini_batch_size": Param("int", default=5000, min=1),
}

ALGORITHM = Algorithm(
    name="knn",
    image_repos=("knn",),
    training_module="shipyard.algorithms.knn.train",
    handler="shipyard.algorithms.knn.handler:KNNHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:accuracy": "Maximize", "test:mse": "Minimize"}),
    input_content_types=TRAINING_CONTENT_TYPES,
    supports_pipe=True,
    cross_check=cross_check,
    supports_sparse=True,
    inference_content_types=INFERENCE_CONTENT_TYPES,
    inference_accepts=INFERENCE_ACCEPTS,
    test_problem=TestProblem(
        kind="multiclass", channels=("train", "test"),
        hyperparameters={"feature_dim": "6", "k": "5", "predictor_type": "classifier", "sample_size": "200",
                         "index_type": "faiss.IVFFlat", "faiss_index_ivf_nlists": "4",
                         "dimension_reduction_type": "fjlt", "dimension_reduction_target": "5",
                         "mini_batch_size": "64"},
        metrics=("test:accuracy",),
        output_fields=("predicted_label",),
    ),
)
