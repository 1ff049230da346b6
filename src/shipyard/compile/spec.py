"""The values every compile step shares: the declared inputs, a converter's result, and the report.

Kept free of framework imports so that the job can refuse a bad request (framework, target, input config)
before it pays for importing torch or TensorFlow.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ..errors import ValidationError


class CompilationError(ValidationError):
    """The model cannot be compiled as asked; the message says why (it becomes the job's FailureReason)."""


@dataclass
class InputSpec:
    """One declared model input: a name (may be empty: use the model's own), a shape, a numpy dtype name."""

    name: str
    shape: list[int]
    dtype: str = "float32"


def parse_data_input_config(text: str | None) -> list[InputSpec]:
    """AWS's ``DataInputConfig`` in the forms its docs show per framework: ``{"input0": [1, 3, 224, 224]}``,
    ``{"data": [1, 13]}``, ``[[1, 3, 224, 224], [1, 3]]``, a bare ``[1, 13]``, or
    ``[{"shape": [1, 3], "dtype": "float32"}]`` / ``{"x": {"shape": [...], "dtype": "int64"}}``.
    Empty means "infer from the model" (allowed for XGBoost / scikit-learn / ONNX)."""
    if text is None or not str(text).strip():
        return []
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise CompilationError(f"DataInputConfig is not valid JSON ({e.msg} at position {e.pos}): give the input "
                               'shapes, e.g. {"input0": [1, 3, 224, 224]}.') from None
    if isinstance(value, list) and value and all(isinstance(v, int) for v in value):
        value = [value]
    items: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = [(f"input{i}", v) for i, v in enumerate(value)]
    else:
        raise CompilationError('DataInputConfig must be a JSON object of input name -> shape, e.g. {"data": [1, 13]}.')
    specs = []
    for name, v in items:
        dtype = "float32"
        if isinstance(v, dict):
            dtype = str(v.get("dtype", "float32"))
            name = str(v.get("name", name))
            v = v.get("shape")
        if not (isinstance(v, list) and v and all(isinstance(d, int) and d > 0 for d in v)):
            raise CompilationError(f"DataInputConfig input {name!r} has shape {v!r}: a shape is a non-empty list "
                                   "of positive integers, e.g. [1, 3, 224, 224].")
        try:
            np.dtype(dtype)
        except TypeError:
            raise CompilationError(f"DataInputConfig input {name!r} has dtype {dtype!r}, which is not a numpy "
                                   "dtype (float32, int64, ...).") from None
        specs.append(InputSpec(str(name), list(v), dtype))
    return specs


Feeds = dict[str, np.ndarray]


@dataclass
class Converted:
    """A converter's result: the ONNX model and how to compare it with the original.

    ``reference(feeds)`` runs the original model on the ONNX input feeds; ``view(outputs)`` maps onnxruntime's
    outputs to the same arrays (e.g. XGBoost's binary probability is column 1 of ONNX's ``probabilities``).
    ``serving`` is what the model server needs to answer as the original did."""

    model: Any  # onnx.ModelProto
    converter: str
    versions: dict[str, str]
    reference: Callable[[Feeds], list[np.ndarray]]
    view: Callable[[list[np.ndarray]], list[np.ndarray]] = lambda outs: list(outs)
    serving: dict[str, Any] = field(default_factory=dict)
    sample: Callable[[Feeds], Feeds] | None = None  # adjusts generated inputs (e.g. class ids as floats)


@dataclass
class Report:
    """What ``compilation.json`` holds (see docs/neo-compiler.md)."""

    framework: str
    target: dict[str, Any]
    converter: str
    versions: dict[str, str]
    inputs: list[dict[str, Any]]
    outputs: list[dict[str, Any]]
    verification: dict[str, Any]
    optimizations: list[str]
    quantization: dict[str, Any] | None
    serving: dict[str, Any]
    onnx: dict[str, Any]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, default=str)
