"""PyTorch models served as SageMaker's PyTorch inference container serves them.

AWS's PyTorch inference images run the ``sagemaker-pytorch-inference-toolkit``: the user's ``inference.py``
(``SAGEMAKER_PROGRAM`` in ``<model>/code`` or the unpacked ``SAGEMAKER_SUBMIT_DIRECTORY``) may define any of
``model_fn``, ``input_fn``, ``predict_fn``, ``output_fn`` (or ``transform_fn``), each optionally taking a trailing
``context`` argument, and whatever it leaves out falls back to the toolkit's defaults, which are here:

- :func:`model_fn`: ``model.pt`` in the model folder, else the only ``*.pt``/``*.pth`` file, loaded as
  TorchScript (``torch.jit.load``) on CUDA when present. An eager ``state_dict`` cannot be loaded without the
  user's class: the error says to provide ``model_fn``.
- :func:`input_fn`: ``application/json`` (nested lists) and ``text/csv`` -> a float32 tensor, ``application/x-npy``
  -> a tensor of the array's dtype (``torch.from_numpy``, as AWS), ``application/x-npz`` (Shipyard addition: one
  array, or a ``scipy.sparse.save_npz`` matrix made dense) -> likewise; on CUDA when present.
- :func:`predict_fn`: ``model.eval()`` and ``model(data)`` under ``torch.no_grad()``, on CUDA when present.
- :func:`output_fn`: tensors (also inside lists, tuples and dicts) -> nested lists, encoded by ``Accept``
  (the first supported of a comma-separated list) as ``application/json``, ``text/csv`` or ``application/x-npy``.
  As AWS's, the npy answer is ``np.save`` of those lists, so float tensors come back as float64.

A model with no inference script at all (``PyTorchModel`` without ``entry_point``) is served with every default,
as AWS's container does when ``inference.py`` is absent.

:func:`serving_args` keeps the generic script handler's arguments (so the model server runs on the image's
environment, where torch is at the image's version); :class:`shipyard.serving.script_handler.ScriptHandler`
takes these defaults (:class:`Defaults`) for a PyTorch image (``SHIPYARD_IMAGE``, set by
:func:`shipyard.serving.deploy.prepare`). torch is imported only when a model loads.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ValidationError

JSON, CSV, NPY, NPZ = "application/json", "text/csv", "application/x-npy", "application/x-npz"
UTF8_TYPES = (JSON, CSV)  # bodies the toolkit hands to input_fn as str; every other type arrives as bytes
DEFAULT_MODEL_FILENAME = "model.pt"
MODEL_SUFFIXES = (".pt", ".pth")
NPY_ALIASES = {"application/npy": NPY, "application/x-npz": NPZ, "application/npz": NPZ}


def serving_args(model_dir: Path, code_dir: Path | None, program: str | None) -> list[str]:
    """The model server's arguments for a PyTorch image's model: the script handler (with the defaults above),
    the user's script when there is one (``program`` in ``code_dir``), else ``<model>/code/inference.py`` if the
    archive brings it, else no script at all."""
    code = code_dir if code_dir is not None else Path(model_dir) / "code"
    return ["--script-program", program or "inference.py", "--code-dir", str(code)]


def _torch():
    try:
        import torch
    except ImportError:  # pragma: no cover - the image's environment has torch
        raise RuntimeError("PyTorch is not installed in the Python that serves this model: install torch "
                           "(pip install 'shipyard[torch]') or let Shipyard build the image's environment "
                           "(SHIPYARD_ENVIRONMENTS=auto).") from None
    return torch


def _device():
    torch = _torch()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def _base(ctype: str | None) -> str:
    base = (ctype or "").split(";", 1)[0].strip().lower()
    return NPY_ALIASES.get(base, base)


def find_model_file(model_dir: str | Path) -> Path:
    """``model.pt``, else the one ``*.pt``/``*.pth`` file in ``model_dir`` (the toolkit's rule)."""
    model_dir = Path(model_dir)
    path = model_dir / DEFAULT_MODEL_FILENAME
    if path.is_file():
        return path
    found = sorted(p.name for p in model_dir.iterdir() if p.is_file() and p.suffix in MODEL_SUFFIXES) \
        if model_dir.is_dir() else []
    if len(found) != 1:
        raise ValueError(
            f"Exactly one .pth or .pt file is required for PyTorch models in the model archive: found {found}. "
            "Save a TorchScript model as model.pt (torch.jit.save(torch.jit.script(model), ...)), or provide "
            "model_fn in your inference script (entry_point) to load the model yourself.")
    return model_dir / found[0]


def model_fn(model_dir: str, context: Any = None) -> Any:
    """The toolkit's default: the model file as TorchScript, on CUDA when present."""
    torch = _torch()
    path = find_model_file(model_dir)
    device = _device()
    try:
        model = torch.jit.load(str(path), map_location=device)
    except (RuntimeError, ValueError) as e:
        raise ValueError(
            f"Failed to load {path.name} with torch.jit.load: it is not a TorchScript model ({e}). The default "
            "model_fn loads TorchScript only (torch.jit.save(torch.jit.script(model), 'model.pt')); to serve an "
            "eager model or a state_dict, provide model_fn(model_dir) in your inference script "
            "(entry_point='inference.py'), which builds your model class and loads the weights.") from None
    return model.to(device)


def _sparse_npz(arrays: dict) -> np.ndarray | None:
    """A ``scipy.sparse.save_npz`` file (what AWS's decoder expects for npz), made dense."""
    if not {"format", "shape", "data"} <= set(arrays):
        return None
    try:
        import scipy.sparse as sp
    except ImportError:
        raise ValidationError("This application/x-npz payload is a scipy.sparse matrix, but scipy is not "
                              "installed where the model is served; send application/x-npy instead.") from None
    fmt = arrays["format"].item()
    fmt = fmt.decode() if isinstance(fmt, bytes) else str(fmt)
    shape = tuple(int(v) for v in arrays["shape"])
    if fmt in ("csr", "csc"):
        cls = sp.csr_matrix if fmt == "csr" else sp.csc_matrix
        mat = cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)
    elif fmt == "coo":
        mat = sp.coo_matrix((arrays["data"], (arrays["row"], arrays["col"])), shape=shape)
    else:
        raise ValidationError(f"Unsupported sparse format {fmt!r} in the application/x-npz payload "
                              "(csr, csc or coo).")
    return mat.toarray()


def decode(input_data: Any, content_type: str) -> np.ndarray:
    """The toolkit decoder: JSON, CSV, NPY and NPZ bodies -> a NumPy array."""
    ctype = _base(content_type)
    if isinstance(input_data, (bytes, bytearray, memoryview)) and ctype in UTF8_TYPES:
        try:
            input_data = bytes(input_data).decode("utf-8")
        except UnicodeDecodeError as e:
            raise ValidationError(f"The {ctype} payload is not UTF-8 text: {e}") from None
    try:
        if ctype == JSON:
            array = np.array(json.loads(input_data))
        elif ctype == CSV:
            array = np.genfromtxt(io.StringIO(input_data), delimiter=",", dtype=np.float32)
        elif ctype == NPY:
            array = np.load(io.BytesIO(bytes(input_data)), allow_pickle=False)
        elif ctype == NPZ:
            with np.load(io.BytesIO(bytes(input_data)), allow_pickle=False) as npz:
                arrays = {k: npz[k] for k in npz.files}
            dense = _sparse_npz(arrays)
            if dense is None:
                if len(arrays) != 1:
                    raise ValidationError(f"The application/x-npz payload holds {len(arrays)} arrays "
                                          f"({sorted(arrays)}); the default input_fn takes exactly one. Define "
                                          "input_fn in your inference script for several inputs.")
                dense = next(iter(arrays.values()))
            array = dense
        else:
            raise ValidationError(
                f"Content type {content_type or '(none)'} is not supported by the PyTorch container's default "
                f"input_fn (supported: {JSON}, {CSV}, {NPY}, {NPZ}); define input_fn in your inference script.")
    except ValidationError:
        raise
    except (ValueError, TypeError, OSError, EOFError, KeyError) as e:
        raise ValidationError(f"Could not decode the {ctype} payload: {e}") from None
    if array.dtype == object or array.dtype.kind in "USV":
        raise ValidationError(f"The {ctype} payload is not a numeric array (ragged rows or non-numbers?): "
                              f"got dtype {array.dtype} with shape {array.shape}.")
    return array


def input_fn(input_data: Any, content_type: str, context: Any = None) -> Any:
    """The toolkit's default: the decoded array as a tensor (float32 for JSON/CSV, the array's dtype for npy)."""
    torch = _torch()
    array = decode(input_data, content_type)
    if _base(content_type) in UTF8_TYPES:
        tensor = torch.tensor(array, dtype=torch.float32)
    else:
        if not array.flags.writeable:
            array = array.copy()
        tensor = torch.from_numpy(array)
    return tensor.to(_device())


def predict_fn(data: Any, model: Any, context: Any = None) -> Any:
    """The toolkit's default: ``model(data)`` in eval mode under ``torch.no_grad()``, model and data moved to CUDA
    when present (as AWS's, even for a model that ``model_fn`` left on the CPU), else the CPU."""
    torch = _torch()
    with torch.no_grad():
        device = _device()
        if hasattr(model, "to"):
            model = model.to(device)
        if hasattr(model, "eval"):
            model.eval()
        if isinstance(data, torch.Tensor):
            data = data.to(device)
        try:
            return model(data)
        except (RuntimeError, TypeError, IndexError, ValueError) as e:
            shape = tuple(data.shape) if hasattr(data, "shape") else type(data).__name__
            dtype = getattr(data, "dtype", "")
            hint = (" (the model's weights are float32: send float32 data, e.g. np.asarray(x, dtype=np.float32))"
                    if "dtype" in str(e) or "Double" in str(e) or "scalar type" in str(e) else "")
            raise ValidationError(f"The model could not run on the input (shape {shape}, {dtype}){hint}: "
                                  f"{_last_line(e)}") from None


def _last_line(e: BaseException) -> str:
    """The line that says what went wrong (TorchScript puts its interpreter traceback first)."""
    lines = [line.strip() for line in str(e).splitlines() if line.strip()]
    return lines[-1] if lines else type(e).__name__


def _plain(prediction: Any) -> Any:
    """Tensors (also nested in lists, tuples and dicts) and arrays -> nested lists, as the toolkit encodes."""
    if hasattr(prediction, "detach") and hasattr(prediction, "cpu"):
        return prediction.detach().cpu().numpy().tolist()
    if isinstance(prediction, np.ndarray):
        return prediction.tolist()
    if isinstance(prediction, np.generic):
        return prediction.item()
    if isinstance(prediction, dict):
        return {k: _plain(v) for k, v in prediction.items()}
    if isinstance(prediction, (list, tuple)):
        return [_plain(v) for v in prediction]
    return prediction


def parse_accept(accept: str) -> list[str]:
    """``"application/json, text/csv;q=0.5"`` -> ``["application/json", "text/csv"]`` (order kept)."""
    return [_base(part) for part in (accept or "").split(",") if part.strip()]


def encode(prediction: Any, accept: str) -> tuple[bytes, str]:
    """The toolkit encoder: the first supported type of ``accept``; raises for none."""
    plain = _plain(prediction)
    for ctype in parse_accept(accept):
        if ctype == JSON:
            return json.dumps(plain).encode(), JSON
        if ctype == CSV:
            array = np.asarray(plain)
            text = io.StringIO()
            np.savetxt(text, array if array.ndim else array.reshape(1), delimiter=",", fmt="%s")
            return text.getvalue().encode(), CSV
        if ctype == NPY:
            buf = io.BytesIO()
            try:
                np.save(buf, np.asarray(plain), allow_pickle=False)
            except ValueError as e:
                raise ValidationError(f"The prediction cannot be written as {NPY} ({e}); ask for "
                                      f"Accept: {JSON} or define output_fn.") from None
            return buf.getvalue(), NPY
    raise ValidationError(f"Accept type {accept or '(none)'} is not supported by the PyTorch container's default "
                          f"output_fn (supported: {JSON}, {CSV}, {NPY}); define output_fn in your inference script.")


def output_fn(prediction: Any, accept: str, context: Any = None) -> tuple[bytes, str]:
    """The toolkit's default (answers with the type it chose from ``accept``)."""
    return encode(prediction, accept)


class Defaults:
    """The toolkit's defaults as the script handler takes them (:mod:`shipyard.serving.script_handler`)."""

    framework = "pytorch"
    text_types = UTF8_TYPES
    model_fn = staticmethod(model_fn)
    input_fn = staticmethod(input_fn)
    predict_fn = staticmethod(predict_fn)
    output_fn = staticmethod(output_fn)
    # the toolkit refuses a transform_fn next to input_fn/predict_fn/output_fn
    transform_exclusive = True

    @staticmethod
    def gpu_id() -> int | None:
        torch = _torch()
        return 0 if torch.cuda.is_available() else None

