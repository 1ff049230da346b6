"""PyTorch -> ONNX with torch.onnx's TorchScript exporter, for the model SageMaker's PyTorch container loads:
``model.pt``, else the one ``*.pt``/``*.pth`` file, as TorchScript (``torch.jit.save``). A whole module saved with
``torch.save(model)`` is accepted when its classes can be imported; a ``state_dict`` is refused (it needs the
user's class). ``DataInputConfig`` is required (``{"input0": [1, 3, 224, 224]}``): its names become the ONNX
inputs, and dimension 0 of every input and output is exported as a dynamic batch.

An operator torch.onnx has no ONNX translation for (``aten::histc``, a custom op, a Python layer TorchScript
cannot hold) fails the compilation naming the operator.
"""

from __future__ import annotations

import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from .spec import CompilationError, Converted, InputSpec

SUFFIXES = (".pt", ".pth")


def _find(model_dir: Path) -> Path:
    path = model_dir / "model.pt"
    if path.is_file():
        return path
    found = sorted(p for p in model_dir.iterdir() if p.is_file() and p.suffix in SUFFIXES)
    if len(found) != 1:
        raise CompilationError(f"Expected model.pt (or exactly one *.pt/*.pth file) in the model archive; found "
                               f"{[p.name for p in found] or 'none'}. Save the model with torch.jit.save.")
    return found[0]


def _load(path: Path):
    import torch

    try:
        return torch.jit.load(str(path), map_location="cpu")
    except Exception as jit_error:  # noqa: BLE001 - not TorchScript: maybe torch.save(model)
        try:
            obj = torch.load(str(path), map_location="cpu", weights_only=False)
        except Exception as e:  # noqa: BLE001
            raise CompilationError(f"{path.name} is neither TorchScript ({str(jit_error).splitlines()[0]}) nor a "
                                   f"saved module ({type(e).__name__}: {e}). Save it with torch.jit.save."
                                   ) from None
    if isinstance(obj, dict):
        raise CompilationError(f"{path.name} holds a state_dict, which cannot be compiled without the model's "
                               "class: save the model as TorchScript (torch.jit.save(torch.jit.script(model))).")
    if not isinstance(obj, torch.nn.Module):
        raise CompilationError(f"{path.name} holds a {type(obj).__name__}, not a torch.nn.Module.")
    return obj


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import torch

    if not inputs:
        raise CompilationError('PyTorch models need DataInputConfig with every input\'s shape, e.g. '
                               '{"input0": [1, 3, 224, 224]}.')
    module = _load(_find(model_dir)).eval()
    examples = tuple(torch.from_numpy(np.zeros(s.shape, dtype=s.dtype)) for s in inputs)
    names = [s.name for s in inputs]
    try:
        with torch.no_grad():
            out = module(*examples)
    except Exception as e:  # noqa: BLE001 - the user's model rejects the declared inputs
        raise CompilationError(f"The PyTorch model fails on inputs of the DataInputConfig shapes "
                               f"{[s.shape for s in inputs]}: {type(e).__name__}: {str(e).splitlines()[0]}") from None
    n_out = len(out) if isinstance(out, (tuple, list)) else 1
    out_names = [f"output{i}" for i in range(n_out)]
    axes = {n: {0: "batch"} for n in names + out_names}
    import onnx

    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / "model.onnx"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(module, examples, str(target), input_names=names, output_names=out_names,
                                  dynamic_axes=axes, opset_version=opset, dynamo=False)
        except Exception as e:  # noqa: BLE001 - the exporter's reason, reduced to its first line
            raise CompilationError(_export_reason(e, opset)) from None
        model = onnx.load(str(target))

    def reference(feeds):
        with torch.no_grad():
            res = module(*(torch.from_numpy(np.ascontiguousarray(feeds[n])) for n in names))
        res = res if isinstance(res, (tuple, list)) else (res,)
        return [r.detach().cpu().numpy() for r in res]

    serving = {"kind": "pytorch", "inputs": names, "outputs": out_names}
    return Converted(model, "torch.onnx.export (TorchScript exporter)", {"torch": torch.__version__}, reference,
                     serving=serving)


def _export_reason(e: Exception, opset: int) -> str:
    text = str(e).strip()
    first = text.splitlines()[0] if text else type(e).__name__
    op = re.search(r"operator '([\w:.]+)'", text)
    if op:
        return (f"the PyTorch model uses operator {op.group(1)}, which torch.onnx cannot export to ONNX opset "
                f"{opset}: {first}. Replace it with supported operators or register a custom symbolic.")
    py = re.search(r"Python function call '(\w+)'|prim::PythonOp", text)
    if py:
        layer = py.group(1) or "a Python autograd Function"
        return (f"the PyTorch model uses a custom Python layer `{layer}` that torch.onnx cannot export: {first}")
    return f"torch.onnx cannot export the PyTorch model: {type(e).__name__}: {first}"
