"""Object2Vec: learns embeddings of pairs of token sequences (users and movies, sentences, ...) from labelled pairs.

Each example is a JSON Lines record ``{"label": 0|1|float, "in0": [token ids], "in1": [token ids]}``. Two
encoders (``enc0_network``/``enc1_network``: ``pooled_embedding``, ``hcnn`` (a CNN), ``bilstm``) turn ``in0`` and
``in1`` into ``enc_dim`` vectors; the comparator (``comparator_list``: hadamard, concat, abs_diff) joins them, an
MLP scores the join, and the output layer is a softmax over ``num_classes`` (classification) or one value
(``mean_squared_error``, regression). ``enc1_network=enc0`` (the default) shares the first encoder;
``tied_token_embedding_weight`` shares only the token embedding table. ``negative_sampling_rate`` adds, per
positive pair, that many negatives (label 0) made by pairing each ``in0`` with the ``in1`` of other rows of the
mini-batch. ``enc1_vocab_size`` and ``enc1_max_seq_len`` default to enc0's. Pretrained token embeddings come
from the ``auxiliary`` channel (``enc*_vocab_file`` + GloVe text ``enc*_pretrained_embedding_file``).

Accepted for compatibility, with no effect here: ``feature_dim`` (the SDK's ``fit`` sends it),
``token_embedding_storage_type`` (row_sparse is an MXNet storage detail) and the MXNet platform keys
``_kvstore``, ``_num_gpus``, ``_num_kv_servers`` (``_``-keys pass through). See ``docs/neural/object2vec.md``.
"""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

NETWORKS = ("hcnn", "bilstm", "pooled_embedding")
COMPARATORS = ("hadamard", "concat", "abs_diff")


def _encoder_params(i: int) -> dict[str, Param]:
    required = i == 0
    return {
        f"enc{i}_max_seq_len": Param("int", required=required, min=1, max=5000),
        f"enc{i}_vocab_size": Param("int", required=required, min=2, max=3000000),
        f"enc{i}_network": Param("str", default="hcnn" if i == 0 else "enc0",
                                 choices=NETWORKS + (("enc0",) if i == 1 else ())),
        f"enc{i}_cnn_filter_width": Param("int", default=3, min=1, max=9),
        f"enc{i}_layers": Param("int", default="auto", min=1, max=4, allow_auto=True),
        f"enc{i}_token_embedding_dim": Param("int", default=300, min=2, max=1000),
        f"enc{i}_freeze_pretrained_embedding": Param("bool", default=True),
        f"enc{i}_vocab_file": Param("str", default="", description="a JSON {token: id} file in the auxiliary channel"),
        f"enc{i}_pretrained_embedding_file": Param(
            "str", default="", description="GloVe-format text (token v1 v2 ...) in the auxiliary channel"),
    }


HYPERPARAMETERS: dict[str, Param] = {
    "feature_dim": Param("int", min=1, description="sent by the SageMaker SDK's Object2Vec.fit; ignored"),
    **_encoder_params(0),
    **_encoder_params(1),
    "enc_dim": Param("int", default=4096, min=4, max=10000),
    "bucket_width": Param("int", default=0, min=0, max=100),
    "comparator_list": Param("list", default=list(COMPARATORS), choices=COMPARATORS),
    "dropout": Param("float", default=0.0, min=0.0, max=1.0),
    "early_stopping_patience": Param("int", default=3, min=1, max=5),
    "early_stopping_tolerance": Param("float", default=0.01, min=1e-6, max=0.1),
    "epochs": Param("int", default=30, min=1, max=100),
    "learning_rate": Param("float", default=0.0004, min=1e-6, max=1.0),
    "mini_batch_size": Param("int", default=32, min=1, max=10000),
    "mlp_activation": Param("str", default="linear", choices=("tanh", "relu", "linear")),
    "mlp_dim": Param("int", default=512, min=2, max=10000),
    "mlp_layers": Param("int", default=2, min=1, max=10),
    "negative_sampling_rate": Param("int", default=0, min=0, max=100),
    "num_classes": Param("int", default=2, min=2, max=30),
    "optimizer": Param("str", default="adam", choices=("adagrad", "adam", "rmsprop", "sgd", "adadelta")),
    "output_layer": Param("str", default="softmax", choices=("softmax", "mean_squared_error")),
    "tied_token_embedding_weight": Param("bool", default=False),
    "token_embedding_storage_type": Param("str", default="dense", choices=("dense", "row_sparse"),
                                          description="accepted for compatibility; storage is always dense"),
    "weight_decay": Param("float", default=0.0, min=0.0, max=10000.0),
}


def cross_check(hps: dict[str, Any]) -> None:
    """Rules across hyperparameters: a pretrained embedding file needs its vocabulary file. (A second encoder
    without ``enc1_vocab_size`` or ``enc1_max_seq_len`` takes enc0's; with ``tied_token_embedding_weight`` it
    shares enc0's token table, so enc0's vocabulary size and token dimension apply to both.)"""
    for i in (0, 1):
        if hps.get(f"enc{i}_pretrained_embedding_file") and not hps.get(f"enc{i}_vocab_file"):
            raise ValidationError(
                f"Hyperparameter 'enc{i}_vocab_file' is required with 'enc{i}_pretrained_embedding_file' (it maps "
                "the file's tokens to token ids); expected a file name in the auxiliary channel.")


ALGORITHM = Algorithm(
    name="object2vec",
    image_repos=("object2vec",),
    training_module="shipyard.algorithms.object2vec.train",
    handler="shipyard.algorithms.object2vec.handler:Object2VecHandler",
    hyperparameters=HYPERPARAMETERS,
    cross_check=cross_check,
    metrics=metric_defs({
        "validation:accuracy": "Maximize", "test:accuracy": "Maximize",
        "validation:cross_entropy": "Minimize", "test:cross_entropy": "Minimize",
        "validation:mean_squared_error": "Minimize", "test:mean_squared_error": "Minimize",
    }),
    input_content_types=("application/jsonlines",),
    supports_pipe=False,
    inference_content_types=("application/json", "application/jsonlines"),
    inference_accepts=("application/json", "application/jsonlines"),
    requires=("torch",),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.object2vec.sample:make",
        channels=("train", "validation", "test"),
        hyperparameters={"enc0_max_seq_len": "2", "enc0_vocab_size": "40", "enc1_network": "pooled_embedding",
                         "enc1_max_seq_len": "2", "enc1_vocab_size": "30", "enc0_network": "pooled_embedding",
                         "enc_dim": "16", "enc0_token_embedding_dim": "16", "enc1_token_embedding_dim": "16",
                         "mlp_dim": "16", "mlp_layers": "1", "epochs": "8", "mini_batch_size": "32",
                         "learning_rate": "0.01"},
        output_key="predictions", output_fields=("scores",),
        metrics=("validation:accuracy", "validation:cross_entropy", "test:accuracy"),
    ),
)
