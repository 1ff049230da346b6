"""k-means, the way SageMaker's web-scale variant works: mini-batch k-means over ``k * extra_center_factor``
centers for ``epochs`` passes, then a local Lloyd's k-means (weighted by cluster sizes) reduces them to
``k``. Dense or sparse input; the test channel reports ``msd`` / ``ssd``.

Every hyperparameter the SageMaker SDK's ``KMeans`` estimator sends is accepted and honoured:
``half_life_time_size`` decays the mini-batch cluster counts, ``local_lloyd_*`` drive the final weighted
Lloyd's step, ``eval_metrics`` picks the test metrics, and ``force_dense`` (which the SDK always sends as
``True``) turns sparse training batches dense before the mini-batch step, as on AWS (same result; only
memory and speed differ). ``center_factor`` is an alias of ``extra_center_factor``.
"""

from __future__ import annotations

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import INFERENCE_ACCEPTS, INFERENCE_CONTENT_TYPES, TRAINING_CONTENT_TYPES, metric_defs


def cross_check(h: dict) -> None:
    bad = [m for m in h["eval_metrics"] if m not in ("msd", "ssd")]
    if bad:
        raise ValidationError(f"Hyperparameter 'eval_metrics' has value {bad}; expected a list of msd, ssd.")


HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1),
    "k": Param("int", required=True, min=1),
    "init_method": Param("str", default="random", choices=("random", "kmeans++")),
    "epochs": Param("int", default=1, min=1),
    "mini_batch_size": Param("int", default=5000, min=1),
    "extra_center_factor": Param("int", default="auto", min=1, allow_auto=True),
    "local_lloyd_max_iter": Param("int", default=300, min=1),
    "local_lloyd_tol": Param("float", default=0.0001, min=0, max=1),
    "local_lloyd_init_method": Param("str", default="kmeans++", choices=("kmeans++", "random")),
    "local_lloyd_num_trials": Param("int", default="auto", min=1, allow_auto=True),
    "half_life_time_size": Param("int", default=0, min=0),
    "eval_metrics": Param("list", default=["msd"]),
    "center_factor": Param("int", default="auto", min=1, allow_auto=True,
                           description="alias of extra_center_factor (used when that one is 'auto')"),
    "force_dense": Param("bool", default=False,
                         description="densify sparse training batches (the SageMaker SDK always sends True)"),
}

ALGORITHM = Algorithm(
    name="kmeans",
    image_repos=("kmeans",),
    training_module="shipyard.algorithms.kmeans.train",
    handler="shipyard.algorithms.kmeans.handler:KMeansHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:msd": "Minimize", "test:ssd": "Minimize"}),
    input_content_types=TRAINING_CONTENT_TYPES,
    supports_pipe=True,
    cross_check=cross_check,
    supports_sparse=True,
    inference_content_types=INFERENCE_CONTENT_TYPES,
    inference_accepts=INFERENCE_ACCEPTS,
    test_problem=TestProblem(
        kind="clusters", labelled_channels=(),
        hyperparameters={"k": "3", "feature_dim": "6", "mini_batch_size": "50", "epochs": "2",
                         "eval_metrics": '["msd","ssd"]'},
        channels=("train", "test"),
        metrics=("test:msd", "test:ssd"),
        output_fields=("closest_cluster", "distance_to_cluster"),
    ),
)
