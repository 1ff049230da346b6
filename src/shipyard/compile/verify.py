"""The equivalence check: the original model and the ONNX model on the same generated inputs.

Inputs are generated with a fixed seed in the declared shapes (``DataInputConfig``, else the ONNX model's own
static dimensions; a dynamic batch dimension is exercised with a batch of 4): float inputs from a standard normal,
integer inputs from 0..9. Each output passes when ``|onnx - original| <= atol + rtol * |original|`` element-wise;
the report keeps the largest absolute difference and the largest relative one (``|d| / (|original| + atol)``)
with the tolerance used. A mismatch beyond tolerance fails the compilation with those numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .spec import CompilationError, Feeds, InputSpec

DEFAULT_ATOL, DEFAULT_RTOL = 1e-4, 1e-3
BATCH = 4
_ONNX_DTYPES = {"tensor(float)": "float32", "tensor(double)": "float64", "tensor(int64)": "int64",
                "tensor(int32)": "int32", "tensor(float16)": "float16", "tensor(bool)": "bool",
                "tensor(uint8)": "uint8", "tensor(int8)": "int8"}


def sample_feeds(session, declared: list[InputSpec], seed: int = 0) -> Feeds:
    """One array per ONNX input, in the declared shape (matched by name, else by position)."""
    rng = np.random.default_rng(seed)
    by_name = {s.name: s for s in declared}
    feeds = {}
    for i, node in enumerate(session.get_inputs()):
        spec = by_name.get(node.name) or (declared[i] if i < len(declared) else None)
        dims = list(node.shape)
        if spec is not None and len(spec.shape) == len(dims):
            shape = [spec.shape[j] if isinstance(d, int) is False or d <= 0 else d for j, d in enumerate(dims)]
        else:
            shape = list(dims)
        if shape and not isinstance(dims[0], int):
            shape[0] = BATCH
        if not all(isinstance(d, int) and d > 0 for d in shape):
            raise CompilationError(f"Input {node.name!r} has unknown dimensions {dims}: give its shape in "
                                   'DataInputConfig, e.g. {"%s": [1, 3, 224, 224]}.' % node.name)
        dtype = _ONNX_DTYPES.get(node.type)
        if dtype is None:
            raise CompilationError(f"Input {node.name!r} has type {node.type}, which the equivalence check cannot "
                                   "generate samples for.")
        if dtype.startswith("float"):
            feeds[node.name] = rng.standard_normal(shape).astype(dtype)
        elif dtype == "bool":
            feeds[node.name] = rng.integers(0, 2, shape).astype(bool)
        else:
            feeds[node.name] = rng.integers(0, 10, shape).astype(dtype)
    return feeds


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], atol: float, rtol: float,
            what: str = "ONNX model") -> dict[str, Any]:
    """Numbers of the comparison; CompilationError when an output differs beyond tolerance."""
    if len(reference) != len(candidate):
        raise CompilationError(f"The {what} has {len(candidate)} outputs, the original {len(reference)}.")
    max_abs = max_rel = 0.0
    per_output: list[dict[str, Any]] = []
    for i, (ref, got) in enumerate(zip(reference, candidate)):
        ref, got = np.asarray(ref), np.asarray(got)
        if ref.size != got.size:
            raise CompilationError(f"Output {i} of the {what} has shape {list(got.shape)}, the original's "
                                   f"{list(ref.shape)}.")
        got = got.reshape(ref.shape)
        if not (np.issubdtype(ref.dtype, np.number) or ref.dtype == bool):
            wrong = int(np.sum(ref != got))
            per_output.append({"index": i, "mismatches": wrong})
            if wrong:
                raise CompilationError(f"Output {i} of the {what} differs from the original's in {wrong} of "
                                       f"{ref.size} values.")
            continue
        r, g = ref.astype(np.float64), got.astype(np.float64)
        diff = np.abs(g - r)
        a = float(diff.max()) if diff.size else 0.0
        rel = float((diff / (np.abs(r) + atol)).max()) if diff.size else 0.0
        bad = int(np.sum(diff > atol + rtol * np.abs(r)))
        per_output.append({"index": i, "max_abs_diff": a, "max_rel_diff": rel, "beyond_tolerance": bad})
        max_abs, max_rel = max(max_abs, a), max(max_rel, rel)
        if bad:
            raise CompilationError(f"Output {i} of the {what} differs from the original model's: max abs diff "
                                   f"{a:.3g}, max rel diff {rel:.3g}, {bad} of {r.size} values beyond the tolerance "
                                   f"atol={atol:g} + rtol={rtol:g}*|x| (set CompilerOptions atol/rtol to accept).")
    return {"max_abs_diff": max_abs, "max_rel_diff": max_rel, "atol": atol, "rtol": rtol, "outputs": per_output}


def accuracy_change(reference: list[np.ndarray], candidate: list[np.ndarray]) -> dict[str, Any]:
    """How far a quantized model moved from the original: the largest differences and, for outputs that look
    like scores over classes (2-D, more than one column), how often the arg-max still agrees."""
    out: dict[str, Any] = {"max_abs_diff": 0.0, "mean_abs_diff": 0.0}
    for ref, got in zip(reference, candidate):
        r, g = np.asarray(ref, dtype=np.float64), np.asarray(got, dtype=np.float64).reshape(np.shape(ref))
        d = np.abs(g - r)
        out["max_abs_diff"] = max(out["max_abs_diff"], float(d.max()) if d.size else 0.0)
        out["mean_abs_diff"] = max(out["mean_abs_diff"], float(d.mean()) if d.size else 0.0)
        if r.ndim == 2 and r.shape[1] > 1:
            out["argmax_agreement"] = float(np.mean(r.argmax(1) == g.argmax(1)))
    return out
