"""Sequence-to-sequence (seq2seq): an attentional encoder-decoder for token sequences, with beam search.

AWS's seq2seq is Sockeye (MXNet); this one is PyTorch with the same data contract, hyperparameters, metrics and
inference formats. Channels: ``train`` and ``validation`` (RecordIO-protobuf, one record per sentence pair:
int32 ``features["source"]`` / ``features["target"]`` as AWS's ``create_vocab_proto.py`` writes them, or
``features["values"]`` / ``label["values"]``) and ``vocab`` (``vocab.src.json``, ``vocab.trg.json``: token -> id
with ``<pad>``=0, ``<unk>``=1, ``<s>``=2, ``</s>``=3). The model artifact keeps both vocabularies.

Implemented: RNN (LSTM/GRU, bidirectional first encoder layer, residual connections, decoder state init) and
CNN (gated convolutions) encoders and decoders, the four attention types, the three optimizers with gradient
clipping and weight decay, Xavier/uniform initialisation, the three learning-rate schedulers, bucketing,
checkpoints every ``checkpoint_frequency_num_batches`` batches (and at each epoch's end) with early stopping
after ``checkpoint_threshold`` checkpoints without improvement of ``optimized_metric``, the best checkpoint kept.
Accepted without effect: ``loss_type`` (its one value), ``training_metric`` (the training log shows both).
"""

from __future__ import annotations

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

_UNUSED = "accepted for compatibility; no effect here"

HYPERPARAMETERS = {
    "batch_size": Param("int", default=64, min=1),
    "beam_size": Param("int", default=5, min=1, description="beam search width, for BLEU and inference"),
    "bleu_sample_size": Param("int", default=0, min=-1,
                              description="validation sentences decoded for validation:bleu; -1 all, 0 none "
                                          "(all when optimized_metric is bleu)"),
    "bucket_width": Param("int", default=10, min=1),
    "bucketing_enabled": Param("bool", default=True),
    "checkpoint_frequency_num_batches": Param("int", default=1000, min=1),
    "checkpoint_threshold": Param("int", default=3, min=1),
    "clip_gradient": Param("float", default=1.0, description="clip absolute gradient values; negative: off"),
    "cnn_activation_type": Param("str", default="glu", choices=("glu", "relu", "softrelu", "sigmoid", "tanh")),
    "cnn_hidden_dropout": Param("float", default=0.0, min=0.0, max=1.0),
    "cnn_kernel_width_decoder": Param("int", default=5, min=1),
    "cnn_kernel_width_encoder": Param("int", default=3, min=1),
    "cnn_num_hidden": Param("int", default=512, min=1),
    "decoder_type": Param("str", default="rnn", choices=("rnn", "cnn")),
    "embed_dropout_source": Param("float", default=0.0, min=0.0, max=1.0),
    "embed_dropout_target": Param("float", default=0.0, min=0.0, max=1.0),
    "encoder_type": Param("str", default="rnn", choices=("rnn", "cnn")),
    "fixed_rate_lr_half_life": Param("int", default=10, min=1, description="in checkpoints"),
    "learning_rate": Param("float", default=0.0003, min=0.0, min_exclusive=True),
    "loss_type": Param("str", default="cross-entropy", choices=("cross-entropy",), description=_UNUSED),
    "lr_scheduler_type": Param("str", default="plateau_reduce",
                               choices=("plateau_reduce", "fixed_rate_inv_t", "fixed_rate_inv_sqrt_t")),
    "max_num_batches": Param("int", min=1, description="stop after this many batches (default: no limit)"),
    "max_num_epochs": Param("int", min=1, description="stop after this many epochs (default: until early "
                                                      "stopping, at most 100 epochs here)"),
    "max_seq_len_source": Param("int", default=100, min=1),
    "max_seq_len_target": Param("int", default=100, min=1),
    "min_num_epochs": Param("int", default=0, min=0),
    "momentum": Param("float", min=0.0, max=1.0, description="for optimizer_type sgd"),
    "num_embed_source": Param("int", default=512, min=1),
    "num_embed_target": Param("int", default=512, min=1),
    "num_layers_decoder": Param("int", default=1, min=1),
    "num_layers_encoder": Param("int", default=1, min=1),
    "optimized_metric": Param("str", default="perplexity", choices=("perplexity", "accuracy", "bleu")),
    "optimizer_type": Param("str", default="adam", choices=("adam", "sgd", "rmsprop")),
    "plateau_reduce_lr_factor": Param("float", default=0.5, min=0.0, max=1.0, min_exclusive=True),
    "plateau_reduce_lr_threshold": Param("int", default=3, min=1),
    "rnn_attention_in_upper_layers": Param("bool", default=True),
    "rnn_attention_num_hidden": Param("int", min=1, description="default: rnn_num_hidden"),
    "rnn_attention_type": Param("str", default="mlp", choices=("dot", "fixed", "mlp", "bilinear")),
    "rnn_cell_type": Param("str", default="lstm", choices=("lstm", "gru")),
    "rnn_decoder_state_init": Param("str", default="last", choices=("last", "avg", "zero")),
    "rnn_first_residual_layer": Param("int", default=2, min=1),
    "rnn_num_hidden": Param("int", default=1024, min=2,
                            description="must be even: the first encoder layer is bidirectional"),
    "rnn_residual_connections": Param("bool", default=False),
    "rnn_decoder_hidden_dropout": Param("float", default=0.0, min=0.0, max=1.0),
    "training_metric": Param("str", default="perplexity", choices=("perplexity", "accuracy"),
                             description=_UNUSED),
    "weight_decay": Param("float", default=0.0, min=0.0),
    "weight_init_scale": Param("float", default=2.34, min=0.0, min_exclusive=True),
    "weight_init_type": Param("str", default="xavier", choices=("xavier", "uniform")),
    "xavier_factor_type": Param("str", default="in", choices=("in", "out", "avg")),
}


def _cross_check(hps: dict) -> None:
    if hps.get("encoder_type", "rnn") == "rnn" and hps.get("rnn_num_hidden", 1024) % 2:
        raise ValidationError(
            f"Hyperparameter 'rnn_num_hidden' has value '{hps['rnn_num_hidden']}'; expected an even number: the "
            "first encoder layer is a bidirectional RNN with rnn_num_hidden/2 units each way.")


ALGORITHM = Algorithm(
    name="seq2seq",
    image_repos=("seq2seq",),
    training_module="shipyard.algorithms.seq2seq.train",
    handler="shipyard.algorithms.seq2seq.handler:Seq2SeqHandler",
    hyperparameters=HYPERPARAMETERS,
    metrics=metric_defs({"validation:accuracy": "Maximize", "validation:bleu": "Maximize",
                         "validation:perplexity": "Minimize"}),
    input_content_types=("application/x-recordio-protobuf",),
    supports_pipe=False,
    cross_check=_cross_check,
    inference_content_types=("application/json", "application/jsonlines", "application/x-recordio-protobuf"),
    # application/x-recordio-protobuf answers (target ids in features["target"], as AWS's) are served too, but
    # not listed: their ids cannot be compared with the text answers value by value
    inference_accepts=("application/json", "application/jsonlines"),
    requires=("torch",),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.seq2seq.sample:make",
        channels=("train", "validation", "vocab"),
        hyperparameters={"rnn_num_hidden": "32", "num_embed_source": "16", "num_embed_target": "16",
                         "rnn_cell_type": "gru", "max_num_epochs": "4", "batch_size": "32",
                         "learning_rate": "0.01", "beam_size": "2", "bleu_sample_size": "20",
                         "max_seq_len_source": "12", "max_seq_len_target": "12"},
        metrics=("validation:accuracy", "validation:bleu", "validation:perplexity"),
        output_key="predictions", output_fields=("target",),
    ),
)
