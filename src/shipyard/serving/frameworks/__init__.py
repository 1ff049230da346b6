"""Serving a framework image's model as that framework's SageMaker container does.

The generic script handler (:mod:`shipyard.serving.script_handler`) follows the inference toolkit; some
frameworks' containers differ: PyTorch's has default ``model_fn``/``input_fn``/``predict_fn``/``output_fn`` for
TorchScript and ``model.pth`` models, TensorFlow's serves a SavedModel through TensorFlow Serving's REST
contract (``instances``/``inputs`` -> ``predictions``) with optional ``input_handler``/``output_handler``.
Each framework's module here has ``serving_args(model_dir, code_dir, program)``: the model server's arguments
for such a model, or None to keep the generic script handler.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# framework (the values of algorithms.registry.FRAMEWORK_REPOS) -> module in this package
MODULES = {"pytorch": "pytorch", "tensorflow": "tensorflow"}


def serving_args(framework: str, model_dir: Path, code_dir: Path | None, program: str | None) -> list[str] | None:
    """The model server's arguments for a model of ``framework`` (``["--handler", "module:Class"]`` ...), or None
    when the generic handling applies (no module for the framework, or it declines)."""
    name = MODULES.get(framework)
    if name is None:
        return None
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as e:
        if e.name == f"{__name__}.{name}":
            return None
        raise
    return module.serving_args(model_dir, code_dir, program)
