"""kNN model artifacts in AWS's layout: three files.

* ``model_algo-1``: the index, serialised the way FAISS's ``write_index`` writes a flat index: fourcc
  ``IxF2`` (L2) or ``IxFI`` (inner product), then the index header (int32 d, int64 ntotal, two int64
  placeholders, a bool is_trained, int32 metric type: 0 inner product, 1 L2) and the vectors
  (``uint64`` float count + float32 data);
* ``model_algo-1.labels``: the labels as raw float32 (an ``.npy`` file is accepted too);
* ``model_algo-1.json``: metadata, ``k`` and ``predictor_type`` and what else inference needs.

Shipyard writes its index as a flat FAISS index in every case (IVF models search it exactly on AWS); the
coarse lists and the dimension-reduction projection, which a flat index cannot carry, go to
``shipyard-knn.npz`` beside it. Reading an AWS model whose index is not flat (IVF, PQ, pre-transformed) is
reported as unsupported, naming its FAISS type.
"""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np

MODEL_FILE = "model_algo-1"
LABELS_FILE = "model_algo-1.labels"
META_JSON = "model_algo-1.json"
EXTRAS_FILE = "shipyard-knn.npz"

METRIC_INNER_PRODUCT, METRIC_L2 = 0, 1
_FLAT = {b"IxF2": METRIC_L2, b"IxFI": METRIC_INNER_PRODUCT, b"IxFl": None}


def faiss_flat_bytes(points: np.ndarray, metric: str) -> bytes:
    P = np.ascontiguousarray(points, dtype="<f4")
    n, d = P.shape
    l2 = metric == "L2"
    out = io.BytesIO()
    out.write(b"IxF2" if l2 else b"IxFI")
    out.write(struct.pack("<iqqq?i", d, n, 1 << 20, 1 << 20, True, METRIC_L2 if l2 else METRIC_INNER_PRODUCT))
    out.write(struct.pack("<Q", P.size))
    out.write(P.tobytes())
    return out.getvalue()


def read_faiss_flat(data: bytes) -> tuple[np.ndarray, int]:
    """(vectors [ntotal, d], metric type) of a FAISS flat index file."""
    fourcc = data[:4]
    if fourcc not in _FLAT:
        kind = fourcc.decode("latin-1") if fourcc.isascii() else repr(fourcc)
        raise ValueError(f"the index is a FAISS {kind!r} index; only flat indexes (IxF2, IxFI) are read here")
    try:
        d, n, _a, _b, _trained, metric = struct.unpack_from("<iqqq?i", data, 4)
        pos = 4 + struct.calcsize("<iqqq?i")
        if metric > 1:
            pos += 4  # metric_arg
        (count,) = struct.unpack_from("<Q", data, pos)
        pos += 8
    except struct.error:
        raise ValueError("truncated FAISS index header") from None
    if d <= 0 or n < 0 or count != n * d:
        raise ValueError(f"FAISS index header says {n} vectors of dimension {d} but holds {count} values")
    if pos + 4 * count > len(data):
        raise ValueError(f"truncated FAISS index: {count} floats announced, {(len(data) - pos) // 4} present")
    vectors = np.frombuffer(data, dtype="<f4", count=count, offset=pos).reshape(n, d).astype(np.float32)
    return vectors, (metric if _FLAT[fourcc] is None else _FLAT[fourcc])


def write(model_dir: Path, meta: dict, arrays: dict[str, np.ndarray]) -> None:
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / MODEL_FILE).write_bytes(faiss_flat_bytes(arrays["points"], meta["metric"]))
    (model_dir / LABELS_FILE).write_bytes(np.ascontiguousarray(arrays["labels"], dtype="<f4").tobytes())
    (model_dir / META_JSON).write_text(json.dumps({
        "k": meta["k"], "predictor_type": meta["predictor_type"], "index_metric": meta["metric"],
        "feature_dim": meta["feature_dim"], "faiss_index_nprobe": meta["nprobe"],
        "index_type": meta.get("index_type", "faiss.Flat"),
        "dimension_reduction_type": meta.get("dimension_reduction_type"),
        "dimension_reduction_target": meta.get("dimension_reduction_target")}, sort_keys=True))
    extras = {k: v for k, v in arrays.items() if k in ("centroids", "assign", "proj")}
    if extras:
        buf = io.BytesIO()
        np.savez(buf, **extras)
        (model_dir / EXTRAS_FILE).write_bytes(buf.getvalue())


def load(model_dir: str | Path) -> tuple[dict, dict[str, np.ndarray]]:
    """(meta, arrays) for the handler: AWS's three files (plus Shipyard's extras), or Shipyard's older npz."""
    from .. import aws_artifacts

    folder = Path(model_dir)

    def from_aws(data: bytes, _meta: dict) -> tuple[dict, dict[str, np.ndarray]]:
        points, metric_type = read_faiss_flat(data)
        labels_path, json_path = folder / LABELS_FILE, folder / META_JSON
        if not labels_path.exists():
            raise ValueError(f"{LABELS_FILE} (the labels) is missing beside the index")
        raw = labels_path.read_bytes()
        labels = np.load(io.BytesIO(raw)) if raw[:6] == b"\x93NUMPY" else np.frombuffer(raw, dtype="<f4")
        labels = np.asarray(labels, np.float32).ravel()
        if len(labels) != len(points):
            raise ValueError(f"{LABELS_FILE} holds {len(labels)} labels for {len(points)} indexed points")
        info = json.loads(json_path.read_text()) if json_path.exists() else {}
        metric = info.get("index_metric") or ("L2" if metric_type == METRIC_L2 else "INNER_PRODUCT")
        arrays = {"points": points, "labels": labels}
        extras = folder / EXTRAS_FILE
        if extras.exists():
            with np.load(extras, allow_pickle=False) as z:
                arrays.update({k: z[k] for k in z.files})
        D = int(info.get("feature_dim") or (arrays["proj"].shape[0] if "proj" in arrays else points.shape[1]))
        width = arrays["proj"].shape[1] if "proj" in arrays else D
        if points.shape[1] != width:
            raise ValueError(f"the index holds {points.shape[1]}-dimensional vectors but the model takes "
                             f"{D} features and no projection to {points.shape[1]} dimensions is stored")
        ptype = info.get("predictor_type")
        if ptype not in ("classifier", "regressor"):
            raise ValueError(f"{META_JSON} must name predictor_type classifier or regressor (found {ptype!r})")
        meta = {"feature_dim": D, "k": int(info.get("k", 1)), "predictor_type": ptype, "metric": metric,
                "nprobe": int(info.get("faiss_index_nprobe", 1) or 1)}
        return meta, arrays

    return aws_artifacts.load(folder, "k-NN", from_aws)
