"""Model artifacts in the formats AWS's built-in algorithm containers use, so a model moves both ways.

AWS's built-ins keep ``model_algo-1`` in ``model.tar.gz``. Its content depends on the algorithm:

* k-means: an MXNet NDArray file (``mx.nd.save``) holding one array, the k x feature_dim centroids
  (``mx.ndarray.load('model_algo-1')[0]``; the "bring your own k-means model" example writes exactly that).
* PCA: an NDArray file holding a dict: ``mean`` (1 x feature_dim; present when subtract_mean),
  ``v`` (feature_dim x num_components) and ``s`` (num_components singular values, ascending; the columns of
  ``v`` follow the same order, so the largest component is last).
* linear learner: a zip of an MXNet module checkpoint, ``mx-mod-symbol.json`` + ``mx-mod-0000.params``
  (``arg:fc0_weight`` num_outputs x feature_dim, ``arg:fc0_bias``); ``mx.module.Module.load('mx-mod', 0)``.
* factorization machines: a zip of ``symbol.json`` + ``params`` (``arg:w0_weight`` (1,),
  ``arg:w1_weight`` feature_dim x 1, ``arg:v`` feature_dim x num_factors).

Shipyard's trainers write these forms, plus ``shipyard-meta.json`` for what the AWS form leaves implicit
(a calibrated threshold, the loss). Handlers read the AWS form, with or without that file, and also the
numpy ``.npz`` Shipyard wrote as ``model_algo-1`` before (a zip holding ``__meta__.npy``).
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ValidationError
from ..io import ndarray
from .builtin import MODEL_FILE, read_npz

META_FILE = "shipyard-meta.json"

Loaded = tuple[dict[str, Any], dict[str, np.ndarray]]


# ------------------------------------------------------------------ writing
def write(model_dir: str | Path, model_algo: bytes, meta: dict[str, Any] | None = None) -> Path:
    folder = Path(model_dir)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MODEL_FILE
    path.write_bytes(model_algo)
    if meta is not None:
        (folder / META_FILE).write_text(json.dumps(meta, sort_keys=True))
    return path


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def params_bytes(args: dict[str, np.ndarray], aux: dict[str, np.ndarray] | None = None) -> bytes:
    """An MXNet checkpoint ``.params`` file (``mx.model.save_checkpoint``): ``arg:``/``aux:`` prefixed keys."""
    named = {f"arg:{k}": np.asarray(v, np.float32) for k, v in args.items()}
    named.update({f"aux:{k}": np.asarray(v, np.float32) for k, v in (aux or {}).items()})
    return ndarray.dumps(named)


def symbol_json(nodes: list[dict], heads: list[int]) -> bytes:
    """An MXNet symbol JSON (nnvm graph) from ``nodes`` ({"op", "name", "attrs"?, "inputs": [node ids]})."""
    out, arg_nodes, row_ptr = [], [], [0]
    for i, n in enumerate(nodes):
        node = {"op": n["op"], "name": n["name"], "inputs": [[j, 0, 0] for j in n.get("inputs", [])]}
        if n.get("attrs"):
            node["attrs"] = {k: str(v) for k, v in n["attrs"].items()}
        if n["op"] == "null":
            arg_nodes.append(i)
        out.append(node)
        row_ptr.append(row_ptr[-1] + 1)
    doc = {"nodes": out, "arg_nodes": arg_nodes, "node_row_ptr": row_ptr, "heads": [[h, 0, 0] for h in heads],
           "attrs": {"mxnet_version": ["int", 10500]}}
    return json.dumps(doc, indent=2).encode()


# ------------------------------------------------------------------ reading
def is_zip(data: bytes) -> bool:
    return data[:4] == b"PK\x03\x04"


def unzip(data: bytes) -> dict[str, bytes]:
    """The files of an AWS-format model zip by base name, inflated under the archive caps (io.archives)."""
    from ..io.archives import read_zip

    return {Path(n).name: body for n, body in read_zip(data, what="model zip").items()}


def load_params(data: bytes) -> dict[str, np.ndarray]:
    """An MXNet ``.params`` file as name -> array, without the ``arg:``/``aux:`` prefixes."""
    arrays = ndarray.loads(data)
    if not isinstance(arrays, dict):
        raise ValueError("the MXNet parameter file holds unnamed arrays")
    return {k.split(":", 1)[1] if k.startswith(("arg:", "aux:")) else k: v for k, v in arrays.items()}


def find_params(files: dict[str, bytes]) -> tuple[dict[str, np.ndarray], dict]:
    """The parameters and the symbol graph (if any) of an MXNet checkpoint inside an unzipped model."""
    pname = next((n for n in files if n.endswith(".params")), None) or \
        next((n for n in files if n == "params"), None) or \
        next((n for n in files if ndarray.is_ndarray_file(files[n])), None)
    if pname is None:
        raise ValueError(f"no MXNet parameter file among {sorted(files)}")
    sname = next((n for n in files if n.endswith("symbol.json")), None)
    symbol = json.loads(files[sname]) if sname else {}
    return load_params(files[pname]), symbol


def read_checkpoint(data: bytes, expected: str) -> tuple[dict[str, np.ndarray], dict, dict[str, Any]]:
    """(parameters, symbol graph, JSON hints) of an MXNet checkpoint: a zip of symbol + params, or a bare
    ``.params`` NDArray file. ``expected`` names what the archive should hold, for the error."""
    if is_zip(data):
        files = unzip(data)
        params, symbol = find_params(files)
        return params, symbol, json_hints(files)
    if ndarray.is_ndarray_file(data):
        return load_params(data), {}, {}
    raise ValueError(f"expected {expected}")


def symbol_ops(symbol: dict) -> list[str]:
    return [n.get("op", "") for n in symbol.get("nodes", [])]


def json_hints(files: dict[str, bytes]) -> dict[str, Any]:
    """Keys of any small JSON objects in the archive besides the symbol (AWS adds e.g. a manifest)."""
    hints: dict[str, Any] = {}
    for name, data in files.items():
        if name.endswith(".json") and not name.endswith("symbol.json") and len(data) < 1 << 20:
            try:
                doc = json.loads(data)
            except ValueError:
                continue
            if isinstance(doc, dict):
                hints.update(doc)
    return hints


def _npz(data: bytes) -> Loaded | None:
    if not is_zip(data):
        return None
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        if "__meta__.npy" not in z.namelist():
            return None
    return read_npz(io.BytesIO(data))


def load(model_dir: str | Path, algorithm: str, from_aws: Callable[[bytes, dict[str, Any]], Loaded]) -> Loaded:
    """(meta, arrays) of the model in ``model_dir``: Shipyard's npz, or the AWS form via ``from_aws(bytes,
    shipyard_meta)``. Raises ValidationError saying why when the model cannot be read."""
    folder = Path(model_dir)
    path = folder / MODEL_FILE
    if not path.exists():
        present = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise ValidationError(f"Model file {MODEL_FILE} not found in {model_dir} (the model archive holds "
                              f"{', '.join(present) or 'no files'}).")
    data = path.read_bytes()
    try:
        legacy = _npz(data)
    except (zipfile.BadZipFile, ValueError, KeyError) as e:
        raise ValidationError(f"Could not load {MODEL_FILE} as a {algorithm} model: {e}") from None
    if legacy is not None:
        return legacy
    meta: dict[str, Any] = {}
    meta_path = folder / META_FILE
    if meta_path.exists():
        try:
            meta = json.loads(meta_path.read_text())
        except ValueError as e:
            raise ValidationError(f"Could not read {META_FILE}: {e}") from None
    try:
        return from_aws(data, meta)
    except ValidationError:
        raise
    except (ValueError, KeyError, IndexError, TypeError, zipfile.BadZipFile) as e:
        kind = "a zip archive" if is_zip(data) else "an MXNet NDArray file" if ndarray.is_ndarray_file(data) \
            else f"unrecognised bytes {data[:8]!r}"
        raise ValidationError(f"Could not load {MODEL_FILE} ({len(data)} bytes, {kind}) as a {algorithm} "
                              f"model: {e}") from None
