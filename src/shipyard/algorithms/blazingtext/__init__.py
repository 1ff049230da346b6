"""BlazingText: Word2Vec (``skipgram``, ``cbow``, ``batch_skipgram``) and fastText text classification
(``supervised``), trained in PyTorch, saved in fastText's own binary format.

Word2Vec reads one tokenised sentence per line and writes ``vectors.txt`` (word2vec text format) and
``vectors.bin`` (a fastText model: ``fasttext.load_model(...).get_word_vector`` works, with character n-gram
vectors for unknown words when ``subwords`` is true). ``supervised`` reads ``__label__X text ...`` lines (or
augmented-manifest JSON lines ``{"source": "...", "label": 1}``) and writes ``model.bin``, which
``fasttext.load_model(...).predict`` answers with the same labels and probabilities as the endpoint.

``vector_dim`` defaults by mode (100 for Word2Vec, 10 for supervised), as AWS documents. Hyperparameters that
belong to the other family of modes are accepted and ignored, as AWS's container does (its example notebooks
send some of them). See ``docs/neural/blazingtext.md``.
"""

from __future__ import annotations

from typing import Any

from ...errors import ValidationError
from ..base import Algorithm, Param, TestProblem
from ..builtin import metric_defs

WORD2VEC_MODES = ("skipgram", "cbow", "batch_skipgram")
MODES = (*WORD2VEC_MODES, "supervised")
TEXT = "text/plain"
JSONLINES = "application/jsonlines"

HYPERPARAMETERS = {
    "mode": Param("str", required=True, choices=MODES),
    # shared
    "epochs": Param("int", default=5, min=1, max=1000),
    "learning_rate": Param("float", default=0.05, min=0.0, max=10.0, min_exclusive=True),
    "vector_dim": Param("int", min=1, max=1000, description="default 100 for Word2Vec modes, 10 for supervised"),
    "min_count": Param("int", default=5, min=0),
    "buckets": Param("int", default=2000000, min=1, max=10000000,
                     description="hash buckets for subwords (Word2Vec) or word n-grams (supervised)"),
    # Word2Vec
    "window_size": Param("int", default=5, min=1, max=100),
    "negative_samples": Param("int", default=5, min=1, max=100),
    "sampling_threshold": Param("float", default=0.0001, min=0.0, max=1.0),
    "batch_size": Param("int", default=11, min=1, max=1024, description="batch_skipgram only"),
    "subwords": Param("bool", default=False, description="skipgram and cbow only"),
    "min_char": Param("int", default=3, min=1, max=100),
    "max_char": Param("int", default=6, min=1, max=100),
    "evaluation": Param("bool", default=True, description="train:mean_rho on a similarity set built from the "
                        "corpus's own co-occurrence statistics (WordSimilarity-353 is not bundled)"),
    # supervised
    "word_ngrams": Param("int", default=2, min=1, max=10),
    "early_stopping": Param("bool", default=False),
    "patience": Param("int", default=4, min=1, max=1000),
    "min_epochs": Param("int", default=5, min=1, max=1000),
}


def cross_check(hps: dict[str, Any]) -> None:
    mode = hps["mode"]
    if hps.get("subwords") and mode not in ("skipgram", "cbow"):
        raise ValidationError(f"Hyperparameter 'subwords' is true, which only the skipgram and cbow modes support "
                              f"(mode is {mode}); set subwords=false or choose mode skipgram or cbow.")
    if hps.get("subwords") and hps["min_char"] > hps["max_char"]:
        raise ValidationError(f"Hyperparameter 'min_char' ({hps['min_char']}) must not exceed 'max_char' "
                              f"({hps['max_char']}).")


ALGORITHM = Algorithm(
    name="blazingtext",
    image_repos=("blazingtext",),
    training_module="shipyard.algorithms.blazingtext.train",
    handler="shipyard.algorithms.blazingtext.handler:BlazingTextHandler",
    hyperparameters=HYPERPARAMETERS,
    cross_check=cross_check,
    metrics=metric_defs({"train:mean_rho": "Maximize", "validation:accuracy": "Maximize",
                         "train:accuracy": "Maximize"}),
    input_content_types=(TEXT, JSONLINES),
    supports_pipe=False,
    inference_content_types=("application/json", JSONLINES),
    inference_accepts=("application/json", JSONLINES),
    requires=("torch",),
    extra="torch",
    gpu_capable=True,
    test_problem=TestProblem(
        kind="sample", sample="shipyard.algorithms.blazingtext.sample:make", channels=("train", "validation"),
        hyperparameters={"mode": "supervised", "epochs": "10", "min_count": "1", "buckets": "5000",
                         "vector_dim": "8", "learning_rate": "0.5"},
        metrics=("validation:accuracy", "train:accuracy"),
        output_key="", output_fields=("label", "prob"),
    ),
)
