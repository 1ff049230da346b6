"""Which Neo frameworks and targets the compiler takes, and the execution providers a target is served with.

The compiled model is ONNX served by onnxruntime on Linux x86-64 (CPU, or CUDA on an NVIDIA target). Targets
that need another runtime (Inferentia/Trainium's Neuron, Elastic Inference, edge boards, Windows, Core ML,
Lambda) are refused with the reason, rather than compiled into something nothing here can serve.
"""

from __future__ import annotations

import json
from typing import Any

from .spec import CompilationError

SUPPORTED_FRAMEWORKS = ("XGBOOST", "SKLEARN", "PYTORCH", "TENSORFLOW", "ONNX")
_UNSUPPORTED_WHY = {
    "KERAS": "save the Keras model as a TensorFlow SavedModel (model.export(dir)) and use TENSORFLOW",
    "TFLITE": "TFLite flatbuffers are for edge runtimes",
    "DARKNET": "there is no Darknet -> ONNX converter here",
}

CPU_TARGETS = ("ml_m4", "ml_m5", "ml_m6g", "ml_c4", "ml_c5", "ml_c6g")
GPU_TARGETS = ("ml_p2", "ml_p3", "ml_g4dn")
_REFUSED_WHY = {
    "ml_inf1": "Inferentia needs the Neuron compiler and runtime", "ml_inf2": "Inferentia needs the Neuron runtime",
    "ml_trn1": "Trainium needs the Neuron runtime", "ml_eia2": "Elastic Inference accelerators are retired",
    "lambda": "Lambda targets are not served here", "coreml": "Core ML models run on Apple devices",
    "x86_win32": "Windows targets are not served here", "x86_win64": "Windows targets are not served here",
}


def check_framework(framework: str) -> str:
    name = (framework or "").strip().upper()
    if name in SUPPORTED_FRAMEWORKS or name == "MXNET":  # MXNET: built-in algorithms' models only (builtin.py)
        return name
    why = _UNSUPPORTED_WHY.get(name, "it is not one of SageMaker Neo's framework names")
    raise CompilationError(f"Framework {framework!r} cannot be compiled here: {why}. Supported frameworks: "
                           f"{', '.join(SUPPORTED_FRAMEWORKS)}.")


def resolve_target(target: str) -> dict[str, Any]:
    """``OutputConfig.TargetDevice`` (``ml_c5``) or a ``TargetPlatform`` JSON -> a dict with the device or
    platform and the onnxruntime execution providers to serve with; CompilationError when refused."""
    text = (target or "").strip()
    if text.startswith("{"):
        try:
            platform = json.loads(text)
        except json.JSONDecodeError as e:
            raise CompilationError(f"TargetPlatform is not valid JSON: {e.msg}.") from None
        return _platform(platform)
    device = text.lower()
    if device in CPU_TARGETS:
        return {"device": device, "execution_providers": ["CPUExecutionProvider"]}
    if device in GPU_TARGETS:
        return {"device": device, "execution_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    why = _REFUSED_WHY.get(device, "edge devices need their vendor's runtime" if device else "no target given")
    raise CompilationError(f"Target device {target!r} cannot be served by onnxruntime here ({why}). Supported: "
                           f"{', '.join(CPU_TARGETS + GPU_TARGETS)}, or TargetPlatform "
                           '{"Os": "LINUX", "Arch": "X86_64"} with optional "Accelerator": "NVIDIA".')


def _platform(platform: Any) -> dict[str, Any]:
    if not isinstance(platform, dict):
        raise CompilationError("TargetPlatform must be an object with Os and Arch.")
    os_, arch, acc = (str(platform.get(k, "")).upper() for k in ("Os", "Arch", "Accelerator"))
    if os_ != "LINUX" or arch != "X86_64":
        raise CompilationError(f"TargetPlatform Os={os_ or '-'} Arch={arch or '-'} cannot be served by onnxruntime "
                               "here: only Os LINUX with Arch X86_64 is supported.")
    if acc in ("", "NONE"):
        return {"platform": platform, "execution_providers": ["CPUExecutionProvider"]}
    if acc == "NVIDIA":
        return {"platform": platform, "execution_providers": ["CUDAExecutionProvider", "CPUExecutionProvider"]}
    raise CompilationError(f"TargetPlatform Accelerator {acc} cannot be served by onnxruntime here: leave it out "
                           "(CPU) or use NVIDIA.")
