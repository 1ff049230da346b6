"""Shipyard's / AWS's built-in linear learner, k-means, PCA and factorization machines -> ONNX, built with
``onnx.helper`` from the weights in ``model_algo-1`` (the AWS forms ``algorithms/aws_artifacts.py`` documents:
MXNet NDArray files and zipped MXNet checkpoints, read here with ``shipyard.io``). These built-ins are MXNet
models on AWS, so they are compiled with ``Framework=MXNET``; ``shipyard-meta.json`` (Shipyard's trainers write
it) supplies the predictor type, loss and threshold, as the algorithm's handler reads them.

Graphs (input ``data`` [batch, feature_dim] float32), outputs named as the handler's response fields:
linear learner ``score`` (+ ``predicted_label``): MatMul + Add then Sigmoid / Softmax; k-means
``closest_cluster`` and ``distance_to_cluster``: ArgMin / Sqrt(ReduceMin) of squared distances; PCA
``projection``: (x - mean) @ components^T; factorization machines ``score`` (+ ``predicted_label``):
w0 + x.w + 0.5 * sum((xV)^2 - x^2 V^2). The references are numpy versions of the handlers' formulas.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from ..io import archives, ndarray
from .spec import CompilationError, Converted, InputSpec
from .targets import SUPPORTED_FRAMEWORKS

MODEL_FILE, META_FILE = "model_algo-1", "shipyard-meta.json"


def _params(data: bytes) -> dict[str, np.ndarray]:
    if data[:4] == b"PK\x03\x04":
        files = {Path(n).name: b for n, b in archives.read_zip(data, what="model zip").items()}
        if "__meta__.npy" in files:
            raise CompilationError("model_algo-1 is Shipyard's older npz form: retrain, or re-save the model in "
                                   "AWS's form, to compile it.")
        found = next((b for n, b in files.items() if n.endswith(".params") or n == "params"), None)
        if found is None:
            raise CompilationError(f"model_algo-1 is a zip without MXNet parameters (it holds {sorted(files)}).")
        data = found
    arrays = ndarray.loads(data)
    if isinstance(arrays, dict):
        return {k.split(":", 1)[-1]: np.asarray(v) for k, v in arrays.items() if v is not None}
    return {f"_{i}": np.asarray(v) for i, v in enumerate(arrays) if v is not None}


def _init(name, arr):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(arr, np.float32), name)


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import onnx
    from onnx import TensorProto, helper

    path = model_dir / MODEL_FILE
    if not path.is_file():
        raise CompilationError("Framework 'MXNET' cannot be compiled here except for the built-in linear learner, "
                               f"k-means, PCA and factorization machines models ({MODEL_FILE} in the archive): MXNet "
                               f"is retired. Supported frameworks: {', '.join(SUPPORTED_FRAMEWORKS)}.")
    meta: dict[str, Any] = {}
    if (model_dir / META_FILE).is_file():
        meta = json.loads((model_dir / META_FILE).read_text())
    try:
        params = _params(path.read_bytes())
    except (ValueError, KeyError, zipfile.BadZipFile) as e:
        raise CompilationError(f"Could not read {MODEL_FILE} as an AWS built-in model: {e}") from None
    nodes: list = []
    inits: list = []
    if "fc0_weight" in params:
        algo, outs, ref = _linear(params, meta, nodes, inits)
    elif {"w0_weight", "w1_weight", "v"} <= set(params):
        algo, outs, ref = _fm(params, meta, nodes, inits)
    elif "v" in params:
        algo, outs, ref = _pca(params, nodes, inits)
    elif len(params) == 1 and next(iter(params.values())).ndim == 2:
        algo, outs, ref = _kmeans(next(iter(params.values())), nodes, inits)
    else:
        raise CompilationError(f"{MODEL_FILE} holds parameters {sorted(params)}, which are not a linear learner, "
                               "k-means, PCA or factorization machines model.")
    dim = int(inits[0].dims[0])
    if inputs and inputs[0].shape[-1] != dim:
        raise CompilationError(f"DataInputConfig declares {inputs[0].shape[-1]} features; the model has {dim}.")
    out_info = [helper.make_tensor_value_info(name, TensorProto.INT64 if name == "closest_cluster"
                                              else TensorProto.FLOAT, shape) for name, shape in outs.items()]
    graph = helper.make_graph(nodes, algo, [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["batch", dim])],
                              out_info, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", max(opset, 18))],
                             producer_name="shipyard")  # 18: ReduceMin takes axes as an input
    model.ir_version = min(model.ir_version, 9)
    serving = {"kind": "builtin", "algorithm": algo, "outputs": list(outs), "feature_dim": dim,
               "predictor_type": meta.get("predictor_type"),
               "response_key": "projections" if algo == "pca" else "predictions"}
    return Converted(model, "onnx.helper (built-in weights)", {"onnx": onnx.__version__},
                     lambda feeds: ref(feeds["data"].astype(np.float64)), serving=serving)


def _linear(p, meta, nodes, inits):
    from onnx import helper

    w = np.asarray(p["fc0_weight"], np.float64)
    D = meta.get("feature_dim")
    W = w if (D and w.shape[0] == int(D) and w.shape[1] != int(D)) else w.T  # [D, K]
    K = W.shape[1]
    b = np.asarray(p.get("fc0_bias", np.zeros(K)), np.float64).reshape(K)
    ptype = meta.get("predictor_type") or ("multiclass_classifier" if K > 1 else "binary_classifier")
    loss = meta.get("loss", "logistic" if ptype == "binary_classifier" else "")
    thr = float(meta.get("threshold", 0.5 if loss == "logistic" else 0.0))
    inits += [_init("W", W), _init("b", b), _init("thr", [thr])]
    nodes += [helper.make_node("MatMul", ["data", "W"], ["mm"]), helper.make_node("Add", ["mm", "b"], ["S"])]
    if ptype == "multiclass_classifier":
        nodes += [helper.make_node("Softmax", ["S"], ["score"], axis=1),
                  helper.make_node("ArgMax", ["score"], ["lab"], axis=1, keepdims=0),
                  helper.make_node("Cast", ["lab"], ["predicted_label"], to=1)]
    else:
        nodes.append(helper.make_node("Flatten", ["S"], ["s2"], axis=0))  # [1, N]
        nodes.append(helper.make_node("Squeeze", ["s2", "zero"], ["raw"]))
        inits.append(_int64("zero", [0]))
        if ptype == "binary_classifier":
            nodes.append(helper.make_node("Sigmoid" if loss == "logistic" else "Identity", ["raw"], ["score"]))
            nodes += [helper.make_node("GreaterOrEqual", ["score", "thr"], ["ge"]),
                      helper.make_node("Cast", ["ge"], ["predicted_label"], to=1)]
        else:
            nodes.append(helper.make_node("Identity", ["raw"], ["score"]))

    def ref(x):
        s = x @ W + b
        if ptype == "multiclass_classifier":
            e = np.exp(s - s.max(1, keepdims=True))
            pr = e / e.sum(1, keepdims=True)
            return [pr, pr.argmax(1).astype(np.float64)]
        s = s[:, 0]
        if ptype == "binary_classifier":
            sc = 1 / (1 + np.exp(-s)) if loss == "logistic" else s
            return [sc, (sc >= thr).astype(np.float64)]
        return [s]

    multi = ptype == "multiclass_classifier"
    outs = {"score": ["batch", K] if multi else ["batch"], "predicted_label": ["batch"]}
    if ptype == "regressor":
        del outs["predicted_label"]
    meta.setdefault("predictor_type", ptype)
    return "linear-learner", outs, ref


def _int64(name, values):
    from onnx import numpy_helper

    return numpy_helper.from_array(np.asarray(values, np.int64), name)


def _kmeans(C, nodes, inits):
    from onnx import helper

    C = np.asarray(C, np.float64)
    inits += [_init("Ct", C.T), _init("cc", (C * C).sum(1)), _init("two", [2.0]), _init("zf", [0.0]),
              _int64("ax1", [1])]
    nodes += [helper.make_node("Mul", ["data", "data"], ["xsq"]),
              helper.make_node("ReduceSum", ["xsq", "ax1"], ["xx"], keepdims=1),
              helper.make_node("MatMul", ["data", "Ct"], ["xc"]), helper.make_node("Mul", ["xc", "two"], ["xc2"]),
              helper.make_node("Sub", ["xx", "xc2"], ["d0"]), helper.make_node("Add", ["d0", "cc"], ["d1"]),
              helper.make_node("Max", ["d1", "zf"], ["d2"]),
              helper.make_node("ArgMin", ["d2"], ["closest_cluster"], axis=1, keepdims=0),
              helper.make_node("ReduceMin", ["d2", "ax1"], ["dmin"], keepdims=0),
              helper.make_node("Sqrt", ["dmin"], ["distance_to_cluster"])]

    def ref(x):
        d = np.maximum((x * x).sum(1)[:, None] - 2 * x @ C.T + (C * C).sum(1)[None, :], 0)
        a = d.argmin(1)
        return [a, np.sqrt(d[np.arange(len(a)), a])]

    return "kmeans", {"closest_cluster": ["batch"], "distance_to_cluster": ["batch"]}, ref


def _pca(p, nodes, inits):
    from onnx import helper

    v = np.asarray(p["v"], np.float64)
    s = np.asarray(p.get("s", np.ones(min(v.shape))), np.float64).ravel()
    mean = p.get("mean")
    D = int(np.asarray(mean).size) if mean is not None else v.shape[0]
    comps = v.T if v.shape[0] == D and v.shape[1] == len(s) else v  # k x D
    comps = comps[np.argsort(-s, kind="stable")]
    m = np.zeros(D) if mean is None else np.asarray(mean, np.float64).ravel()
    inits += [_init("Ct", comps.T), _init("off", m @ comps.T)]
    nodes += [helper.make_node("MatMul", ["data", "Ct"], ["xp"]), helper.make_node("Sub", ["xp", "off"],
                                                                                       ["projection"])]
    return "pca", {"projection": ["batch", len(comps)]}, lambda x: [x @ comps.T - m @ comps.T]


def _fm(p, meta, nodes, inits):
    from onnx import helper

    V = np.asarray(p["v"], np.float64)
    w = np.asarray(p["w1_weight"], np.float64).ravel()
    V = V.T if V.shape[0] != len(w) and V.shape[1] == len(w) else V
    w0 = float(np.asarray(p["w0_weight"]).ravel()[0])
    ptype = meta.get("predictor_type", "binary_classifier")
    inits += [_init("V", V), _init("V2", V * V), _init("w", w.reshape(-1, 1)), _init("w0", [w0]),
              _init("half", [0.5]), _init("thr", [0.5]), _int64("ax1", [1])]
    nodes += [helper.make_node("MatMul", ["data", "V"], ["xv"]), helper.make_node("Mul", ["xv", "xv"], ["xv2"]),
              helper.make_node("Mul", ["data", "data"], ["x2"]), helper.make_node("MatMul", ["x2", "V2"], ["x2v2"]),
              helper.make_node("Sub", ["xv2", "x2v2"], ["pd"]),
              helper.make_node("ReduceSum", ["pd", "ax1"], ["ps"], keepdims=0),
              helper.make_node("Mul", ["ps", "half"], ["pair"]), helper.make_node("MatMul", ["data", "w"], ["lin2"]),
              helper.make_node("Squeeze", ["lin2", "ax1"], ["lin"]), helper.make_node("Add", ["lin", "pair"], ["t"]),
              helper.make_node("Add", ["t", "w0"], ["raw"])]
    binary = ptype == "binary_classifier"
    if binary:
        nodes += [helper.make_node("Sigmoid", ["raw"], ["score"]),
                  helper.make_node("GreaterOrEqual", ["score", "thr"], ["ge"]),
                  helper.make_node("Cast", ["ge"], ["predicted_label"], to=1)]
    else:
        nodes.append(helper.make_node("Identity", ["raw"], ["score"]))

    def ref(x):
        xv = x @ V
        s = w0 + x @ w + 0.5 * (xv * xv - (x * x) @ (V * V)).sum(1)
        if binary:
            sc = 1 / (1 + np.exp(-s))
            return [sc, (sc >= 0.5).astype(np.float64)]
        return [s]

    outs = {"score": ["batch"], "predicted_label": ["batch"]} if binary else {"score": ["batch"]}
    return "factorization-machines", outs, ref
