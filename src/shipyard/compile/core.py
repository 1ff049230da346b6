"""``compile_model``: convert, check, verify, optimise (and quantize), write ``model.onnx`` + ``compilation.json``.

Requests are refused (framework, target, input config, compiler options) before any framework is imported, so a
bad CreateCompilationJob fails in a second. Every failure is a :class:`CompilationError` whose message is the
job's FailureReason.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

from . import optimize as opt
from . import verify
from .spec import CompilationError, InputSpec, Report, parse_data_input_config
from .targets import check_framework, resolve_target

DEFAULT_OPSET = 17
OPTION_KEYS = ("opset", "optimization_level", "quantize", "quantize_max_abs_diff", "atol", "rtol")
# AWS Neo's own CompilerOptions (TVM / TensorRT settings): accepted so SDK requests work, reported as ignored.
AWS_KEYS = ("dtype", "mcpu", "mattr", "gpu-code", "trt-ver", "cuda-ver", "precision_mode", "data_layout",
            "output_names", "signature_def_key", "class_labels", "ANDROID_PLATFORM", "compiler_options")
CONVERTERS = {"XGBOOST": "xgboost", "SKLEARN": "sklearn", "PYTORCH": "pytorch", "TENSORFLOW": "tensorflow",
              "ONNX": "onnx_passthrough", "MXNET": "builtin"}


def parse_options(text: str | dict | None) -> dict[str, Any]:
    """``CompilerOptions`` (a JSON object) -> checked options with defaults; unknown keys refused by name."""
    raw = text if isinstance(text, dict) else json.loads(text) if text and str(text).strip() else {}
    if not isinstance(raw, dict):
        raise CompilationError('CompilerOptions must be a JSON object, e.g. {"quantize": "int8"}.')
    unknown = sorted(set(raw) - set(OPTION_KEYS) - set(AWS_KEYS))
    if unknown:
        raise CompilationError(f"Unknown CompilerOptions {unknown}: this compiler accepts {', '.join(OPTION_KEYS)}.")
    level = str(raw.get("optimization_level", "basic")).lower()
    if level not in opt.LEVELS:
        raise CompilationError(f"optimization_level {level!r} is not one of {', '.join(opt.LEVELS)}.")
    quant = raw.get("quantize")
    quant = str(quant).lower() if quant not in (None, False, "", "none") else None
    if quant not in (None, "int8", "uint8"):
        raise CompilationError(f"quantize {quant!r} is not supported: use \"int8\" or \"uint8\" (dynamic).")
    try:
        options: dict[str, Any] = {
                   "opset": int(raw.get("opset", DEFAULT_OPSET)), "optimization_level": level, "quantize": quant,
                   "atol": float(raw.get("atol", verify.DEFAULT_ATOL)),
                   "rtol": float(raw.get("rtol", verify.DEFAULT_RTOL)),
                   "quantize_max_abs_diff": (float(raw["quantize_max_abs_diff"])
                                             if raw.get("quantize_max_abs_diff") is not None else None)}
    except (TypeError, ValueError) as e:
        raise CompilationError(f"CompilerOptions has a value of the wrong type: {e}.") from None
    opset = int(options["opset"] or 0)
    if not 7 <= opset <= 21:
        raise CompilationError(f"opset {opset} is outside 7..21.")
    options["ignored"] = sorted(set(raw) & set(AWS_KEYS))
    return options


def _io(nodes) -> list[dict[str, Any]]:
    """Names, shapes (dynamic dimensions by their name, or "dynamic") and dtypes of a session's inputs/outputs."""
    return [{"name": n.name, "shape": [d if isinstance(d, int) else (str(d) if d else "dynamic")
                                       for d in (n.shape or [])],
             "dtype": verify._ONNX_DTYPES.get(n.type, n.type)} for n in nodes]


def compile_model(model_dir: str | Path, framework: str, data_input_config: str | None, target: str,
                  out_dir: str | Path, compiler_options: str | dict | None = None) -> Report:
    """Compile the model in ``model_dir`` into ``out_dir``; the report is also written as compilation.json."""
    fw = check_framework(framework)
    target_info = resolve_target(target)
    inputs: list[InputSpec] = parse_data_input_config(data_input_config)
    options = parse_options(compiler_options)
    model_dir, out_dir = Path(model_dir), Path(out_dir)
    if not model_dir.is_dir():
        raise CompilationError(f"The model directory {model_dir} does not exist.")
    import onnx
    import onnxruntime as ort

    converter = importlib.import_module(f"{__package__}.{CONVERTERS[fw]}")
    converted = converter.convert(model_dir, inputs, options["opset"])
    try:
        onnx.checker.check_model(converted.model)
    except onnx.checker.ValidationError as e:
        raise CompilationError(f"The converted model fails onnx.checker: {str(e).splitlines()[0]}") from None
    raw = converted.model.SerializeToString()
    cpu = ["CPUExecutionProvider"]
    session = ort.InferenceSession(raw, providers=cpu)
    feeds = verify.sample_feeds(session, inputs)
    reference = converted.reference(feeds)
    atol, rtol = options["atol"], options["rtol"]
    check = verify.compare(reference, converted.view(session.run(None, feeds)), atol, rtol)

    level = options["optimization_level"]
    if "CUDAExecutionProvider" in target_info["execution_providers"] and level in ("extended", "all"):
        level = "basic"  # extended/all fusions are CPU-specific; the CUDA provider optimises at load time
    final, optim = opt.optimize(raw, level)
    session = ort.InferenceSession(final, providers=cpu)
    check = verify.compare(reference, converted.view(session.run(None, feeds)), atol, rtol, "optimised ONNX model")
    applied = [f"onnxruntime graph optimisation level {level}: {optim['nodes_before']} -> {optim['nodes_after']} "
               "nodes"] if level != "disable" else []

    quant_report = None
    if options["quantize"]:
        quantized, quant_report = opt.quantize(final, options["quantize"])
        qsession = ort.InferenceSession(quantized, providers=cpu)
        change = verify.accuracy_change(reference, converted.view(qsession.run(None, feeds)))
        quant_report["accuracy_change"] = change
        limit = options["quantize_max_abs_diff"]
        if limit is not None and change["max_abs_diff"] > limit:
            raise CompilationError(f"int8 quantization moves the outputs by up to {change['max_abs_diff']:.3g}, more "
                                   f"than quantize_max_abs_diff={limit:g}; compile without quantize.")
        final, session = quantized, qsession
        applied.append(f"{quant_report['mode']} quantization ({quant_report['quantized_nodes']} quantized nodes)")

    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "model.onnx").write_bytes(final)
    opsets = {o.domain or "ai.onnx": o.version for o in converted.model.opset_import}
    versions = {**converted.versions, "onnx": onnx.__version__, "onnxruntime": ort.__version__}
    report = Report(framework=fw, target=target_info, converter=converted.converter, versions=versions,
                    inputs=_io(session.get_inputs()), outputs=_io(session.get_outputs()),
                    verification={**check, "samples": {k: list(v.shape) for k, v in feeds.items()}},
                    optimizations=applied, quantization=quant_report, serving=converted.serving,
                    onnx={"opset": opsets, "bytes": len(final), "optimization": optim,
                          "ignored_compiler_options": options["ignored"]})
    (out_dir / "compilation.json").write_text(report.to_json())
    return report
