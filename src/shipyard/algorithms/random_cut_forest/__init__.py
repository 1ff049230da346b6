"""Random cut forest (Guha et al. 2016) anomaly detection.

Each of ``num_trees`` trees gets its own uniform reservoir sample of ``num_samples_per_tree`` training points
and is built by random cuts: a dimension picked with probability proportional to its range in the node's
bounding box, a cut uniform within that range, until points are isolated. A point's score is its expected
collusive displacement (CoDisp) were it inserted: walking down a tree, at each node the chance that a random
cut of the box grown to include the point separates it is (growth of the box's range sum) / (its new range
sum), and a point separated there displaces the node's whole subtree. Scores are averaged over trees; an
anomaly is a score above mean + 3 std of the training points' scores (as SageMaker suggests).
"""

from __future__ import annotations

from ..base import Algorithm, Param, TestProblem
from ..builtin import INFERENCE_ACCEPTS, INFERENCE_CONTENT_TYPES, TRAINING_CONTENT_TYPES, metric_defs

HYPERPARAMETERS = {
    "feature_dim": Param("int", required=True, min=1, max=10000),
    "num_trees": Param("int", default=100, min=50, max=1000),
    "num_samples_per_tree": Param("int", default=256, min=1, max=2048),
    "eval_metrics": Param("list", default=["accuracy", "precision_recall_fscore"],
                          choices=("accuracy", "precision_recall_fscore")),
    "mini_batch_size": Param("int", default=1000, min=1),
}

ALGORITHM = Algorithm(
    name="randomcutforest",
    image_repos=("randomcutforest",),
    training_module="shipyard.algorithms.random_cut_forest.train",
    handler="shipyard.algorithms.random_cut_forest.handler:RandomCutForestHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"test:f1": "Maximize", "test:precision": "Maximize", "test:recall": "Maximize",
                         "test:accuracy": "Maximize"}),
    input_content_types=TRAINING_CONTENT_TYPES,
    supports_pipe=True,
    supports_sparse=True,
    inference_content_types=INFERENCE_CONTENT_TYPES,
    inference_accepts=INFERENCE_ACCEPTS,
    test_problem=TestProblem(
        kind="anomaly", channels=("train", "test"), labelled_channels=("test",),
        hyperparameters={"feature_dim": "6", "num_trees": "50", "num_samples_per_tree": "64",
                         "mini_batch_size": "100"},
        metrics=("test:f1", "test:accuracy"),
        output_key="scores", output_fields=("score",),
    ),
)
