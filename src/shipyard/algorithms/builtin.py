"""What the numpy built-in algorithms share: a training run under the /opt/ml contract, metric lines,
the model file, and a handler base that speaks the built-in content types.

A training program is ``main(ALGORITHM, train)`` where ``train(run)`` reads channels through ``run`` and
saves arrays with ``run.save``. Failures follow the container contract: the message goes to
``/opt/ml/output/failure`` (``ClientError:`` for bad data or hyperparameters, ``AlgorithmError:`` otherwise)
and the process exits non-zero.

Metric lines use the built-ins' own format, ``#quality_metric: host=algo-1, validation
binary_classification_accuracy <score>=0.93``, so the regexes SageMaker publishes for them work unchanged.
"""

from __future__ import annotations

import io
import json
import re
import sys
import traceback
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterator

import numpy as np

from ..errors import ValidationError
from ..io import codecs
from ..io.readers import Batch, iter_batches, load_channel
from .base import Algorithm, InferenceHandler
from .env import TrainingEnv, exit_without_teardown

MODEL_FILE = "model_algo-1"

# What AWS's containers for the numpy built-ins (k-means, k-NN, linear learner, PCA, RCF) take and answer:
# training channels, request bodies (ModelHandler.decode) and response types (Accept), each the same list.
TRAINING_CONTENT_TYPES = ("application/x-recordio-protobuf", "text/csv")
INFERENCE_CONTENT_TYPES = ("text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf")
INFERENCE_ACCEPTS = ("application/json", "application/jsonlines", "application/x-recordio-protobuf", "text/csv")


def metric_regex(name: str) -> str:
    channel, metric = name.split(":", 1)
    return rf"#quality_metric: host=\S+, {re.escape(channel)} {re.escape(metric)} <score>=(\S+)"


def metric_defs(spec: dict[str, str]) -> dict[str, tuple[str, str]]:
    """{"test:msd": "Minimize"} -> the Algorithm.metrics mapping with the built-in regexes."""
    return {name: (metric_regex(name), direction) for name, direction in spec.items()}


class TrainingRun:
    """One training job as the program sees it: validated hyperparameters and channel readers."""

    def __init__(self, algorithm: Algorithm, env: TrainingEnv | None = None):
        self.algorithm = algorithm
        self.env = env or TrainingEnv.load()
        self.hps: dict[str, Any] = algorithm.validate(self.env.hyperparameters)
        self._cache: dict[tuple, list[Batch]] = {}

    # -------------------------------------------------------------- channels
    def has(self, channel: str) -> bool:
        return channel in self.env.channels

    def mode(self, channel: str) -> str:
        return self.env.input_mode(channel)

    def content_type(self, channel: str) -> str:
        return self.env.content_type(channel, self.algorithm.input_content_types[0])

    def check_format(self, channel: str, sparse_ok: bool | None = None) -> None:
        ct = self.content_type(channel).split(";")[0].strip()
        allowed = [c.split(";")[0] for c in self.algorithm.input_content_types]
        if ct not in allowed:
            raise ValidationError(f"Channel '{channel}' has content type '{ct}'; the {self.algorithm.name} "
                                  f"algorithm accepts {', '.join(allowed)}.")

    def batches(self, channel: str, batch_size: int, epoch: int = 0, label_size: int | None = None,
                feature_dim: int | None = None) -> Iterator[Batch]:
        """One pass over a channel. Pipe mode streams the epoch's FIFO; File mode reads the files once and
        replays them from memory on later epochs."""
        self.check_format(channel)
        args = (channel, self.content_type(channel), batch_size, label_size, feature_dim)
        if self.mode(channel).lower() == "pipe":
            yield from iter_batches(self.env.channels[channel], args[1], batch_size, "Pipe", epoch,
                                    label_size, feature_dim)
            return
        if args not in self._cache:
            self._cache[args] = list(iter_batches(self.env.channels[channel], args[1], batch_size, "File", 0,
                                                  label_size, feature_dim))
        yield from self._cache[args]

    def load(self, channel: str, label_size: int | None = None, feature_dim: int | None = None,
             epoch: int = 0) -> Batch | None:
        self.check_format(channel)
        return load_channel(self.env.channels[channel], self.content_type(channel), self.mode(channel), epoch,
                            label_size, feature_dim)

    # -------------------------------------------------------------- outputs
    def metric(self, name: str, value: float) -> None:
        channel, metric = name.split(":", 1)
        print(f"#quality_metric: host={self.env.current_host}, {channel} {metric} <score>={float(value):.6g}",
              flush=True)

    def log(self, message: str) -> None:
        print(f"[{self.algorithm.name}] {message}", flush=True)

    def save(self, meta: dict[str, Any], **arrays: np.ndarray) -> Path:
        self.env.model_dir.mkdir(parents=True, exist_ok=True)
        path = self.env.model_dir / MODEL_FILE
        buf = io.BytesIO()
        np.savez(buf, __meta__=np.array(json.dumps(meta)), **arrays)
        path.write_bytes(buf.getvalue())
        return path


def read_npz(source: str | Path | BinaryIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """(meta, arrays) of what :meth:`TrainingRun.save` wrote, from a path or a binary file object (the AWS
    artifact reader passes the bytes of a ``model_algo-1`` that turned out to be this npz form)."""
    with np.load(source, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "__meta__"}
        meta = json.loads(str(z["__meta__"]))
    return meta, arrays


def load_model(model_dir: str | Path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    path = Path(model_dir) / MODEL_FILE
    if not path.exists():
        raise ValidationError(f"Model file {MODEL_FILE} not found in {model_dir}.")
    return read_npz(path)


def main(algorithm: Algorithm, train: Callable[[TrainingRun], None]) -> None:
    """Entry point of ``python -m shipyard.algorithms.<name>.train``."""
    exit_without_teardown(_run(algorithm, train))


def _run(algorithm: Algorithm, train: Callable[[TrainingRun], None]) -> int:
    env = TrainingEnv.load()
    try:
        run = TrainingRun(algorithm, env)
        train(run)
    except ValidationError as e:
        msg = f"ClientError: {e.message or e}"
        print(msg, file=sys.stderr, flush=True)
        env.write_failure(msg)
        return 1
    except Exception as e:  # noqa: BLE001 - the contract wants every failure written down
        traceback.print_exc()
        env.write_failure(f"AlgorithmError: {type(e).__name__}: {e}")
        return 2
    env.output_dir.mkdir(parents=True, exist_ok=True)
    (env.output_dir / "success").write_text("")
    return 0


class ModelHandler(InferenceHandler):
    """Handler base for models saved with ``TrainingRun.save``: decodes the built-in request types into a
    float32 matrix, checks its width, and encodes per-row output dicts under ``output_key``."""

    output_key = "predictions"
    sparse_ok = False

    def __init__(self, model_dir: str):
        super().__init__(model_dir)
        self.meta, self.arrays = self.load(model_dir)

    def load(self, model_dir: str) -> tuple[dict, dict]:
        """(meta, arrays) of the model; algorithms that also read AWS's artifact forms override this."""
        return load_model(model_dir)

    def decode(self, body: bytes, content_type: str):
        X = codecs.decode_features(body, content_type)
        dim = self.meta.get("feature_dim")
        if dim is not None and X.shape[1] != dim:
            raise ValidationError(f"Each instance must have {dim} features; got {X.shape[1]}.")
        if not self.sparse_ok and not isinstance(X, np.ndarray):
            X = X.toarray()
        return X

    def encode(self, prediction: list[dict], accept: str) -> tuple[bytes, str]:
        if not accept or accept.strip() == "*/*":
            accept = self.default_accept
        return codecs.encode_predictions(prediction, accept, self.output_key)


def as_dense(X) -> np.ndarray:
    return X if isinstance(X, np.ndarray) else np.asarray(X.toarray())
