"""onnxruntime's offline graph optimisation and optional int8 dynamic quantization.

Optimisation runs a session with ``SessionOptions.optimized_model_filepath`` on the CPU provider at the level
``CompilerOptions.optimization_level`` names: ``disable``, ``basic`` (the default: constant folding, redundant
node elimination, portable to every provider), ``extended`` or ``all`` (fusions and layouts that onnxruntime says
may tie the model to the CPU it was optimised on; GPU targets are therefore kept at ``basic``).

Quantization (``{"quantize": "int8"}`` or ``"uint8"``) is ``onnxruntime.quantization.quantize_dynamic`` on the
weights of MatMul/Gemm-like nodes; activations are quantized at run time. Tree ensembles have nothing to quantize
and are left as they are (the report says so).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

LEVELS = ("disable", "basic", "extended", "all")


def optimize(model_bytes: bytes, level: str) -> tuple[bytes, dict[str, Any]]:
    import onnx
    import onnxruntime as ort

    before = Counter(n.op_type for n in onnx.load_from_string(model_bytes).graph.node)
    if level == "disable":
        return model_bytes, {"level": level, "nodes_before": sum(before.values()),
                             "nodes_after": sum(before.values())}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "optimized.onnx"
        so = ort.SessionOptions()
        so.graph_optimization_level = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
                                       "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
                                       "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}[level]
        so.optimized_model_filepath = str(out)
        ort.InferenceSession(model_bytes, so, providers=["CPUExecutionProvider"])
        optimized = out.read_bytes()
    after = Counter(n.op_type for n in onnx.load_from_string(optimized).graph.node)
    changes = {op: after.get(op, 0) - before.get(op, 0) for op in set(before) | set(after)
               if after.get(op, 0) != before.get(op, 0)}
    return optimized, {"level": level, "nodes_before": sum(before.values()), "nodes_after": sum(after.values()),
                       "op_count_changes": dict(sorted(changes.items()))}


def quantize(model_bytes: bytes, mode: str) -> tuple[bytes, dict[str, Any]]:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    weight_type = {"int8": QuantType.QInt8, "uint8": QuantType.QUInt8}[mode]
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.onnx", Path(tmp) / "out.onnx"
        src.write_bytes(model_bytes)
        quantize_dynamic(str(src), str(dst), weight_type=weight_type)
        quantized = dst.read_bytes()
    ops = Counter(n.op_type for n in onnx.load_from_string(quantized).graph.node)
    n_quant = sum(v for k, v in ops.items() if "Integer" in k or "Quant" in k)
    return quantized, {"mode": f"{mode}-dynamic", "weight_type": weight_type.name, "bytes_before": len(model_bytes),
                       "bytes_after": len(quantized), "quantized_nodes": n_quant,
                       "note": None if n_quant else "no MatMul/Gemm weights to quantize; model unchanged"}
