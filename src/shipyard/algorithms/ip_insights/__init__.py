"""IP Insights: learns entity and IPv4 embeddings whose dot product is high for pairs seen together.

Entities are hashed into ``num_entity_vectors`` rows. An IPv4 address is encoded as the mean of the
embeddings of its /8, /16, /24 and /32 prefixes (hashed into a table of the same size), so addresses in a
known network score high for an entity even when never seen; ``num_ip_encoder_layers`` is accepted for
compatibility but this prefix-embedding encoder has no extra dense layers. Training is logistic loss on
observed pairs against negatives drawn by ``random_negative_sampling_rate`` (uniformly random IPs) and
``shuffled_negative_sampling_rate`` (IPs of other rows in the batch), with lazy Adam updates of the touched
rows. ``validation:discriminator_auc`` is the AUC of telling validation pairs from such negatives.

``feature_dim``, which the SageMaker SDK's ``IPInsights.fit`` sends from its ``RecordSet``, is accepted and
ignored: the input is always (entity, IPv4) CSV pairs.
"""

from __future__ import annotations

from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

HYPERPARAMETERS = {
    "feature_dim": Param("int", min=1, description="sent by the SDK's fit; ignored"),
    "num_entity_vectors": Param("int", required=True, min=1, max=250000000),
    "vector_dim": Param("int", required=True, min=4, max=4096),
    "batch_metrics_publish_interval": Param("int", default=1000, min=1),
    "epochs": Param("int", default=10, min=1),
    "learning_rate": Param("float", default=0.001, min=1e-6, max=10.0),
    "mini_batch_size": Param("int", default=10000, min=1, max=500000),
    "num_ip_encoder_layers": Param("int", default=1, min=0, max=100),
    "random_negative_sampling_rate": Param("int", default=1, min=0, max=500),
    "shuffled_negative_sampling_rate": Param("int", default=1, min=0, max=500),
    "weight_decay": Param("float", default=0.0, min=0, max=10.0),
}

ALGORITHM = Algorithm(
    name="ipinsights",
    image_repos=("ipinsights",),
    training_module="shipyard.algorithms.ip_insights.train",
    handler="shipyard.algorithms.ip_insights.handler:IPInsightsHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"validation:discriminator_auc": "Maximize", "train:objective_loss": "Minimize"}),
    input_content_types=("text/csv",),
    supports_pipe=True,
    inference_content_types=("text/csv", "application/json", "application/jsonlines"),
    inference_accepts=("application/json", "application/jsonlines"),
    test_problem=TestProblem(
        kind="entity_ip", channels=("train", "validation"), n_rows=400,
        hyperparameters={"num_entity_vectors": "64", "vector_dim": "8", "epochs": "15",
                         "mini_batch_size": "64", "learning_rate": "0.05"},
        metrics=("validation:discriminator_auc",),
        output_fields=("dot_product",),
    ),
)
