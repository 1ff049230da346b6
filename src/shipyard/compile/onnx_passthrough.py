"""ONNX in, ONNX out: a ``model.onnx`` (or the one ``*.onnx`` file) is checked with ``onnx.checker``, then
verified and optimised like any converted model. The reference is onnxruntime on the unoptimised model, so the
equivalence check measures what optimisation and quantization change."""

from __future__ import annotations

from pathlib import Path

from .spec import CompilationError, Converted, InputSpec


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import onnx
    import onnxruntime as ort

    path = model_dir / "model.onnx"
    if not path.is_file():
        found = sorted(model_dir.rglob("*.onnx"))
        if len(found) != 1:
            raise CompilationError(f"Expected model.onnx (or exactly one *.onnx file) in the model archive; found "
                                   f"{[p.name for p in found] or 'none'}.")
        path = found[0]
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
        session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - a broken model: the checker's or onnxruntime's reason
        raise CompilationError(f"{path.name} is not a valid ONNX model: {type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None

    def reference(feeds):
        return list(session.run(None, feeds))

    serving = {"kind": "onnx", "inputs": [i.name for i in session.get_inputs()],
               "outputs": [o.name for o in session.get_outputs()]}
    return Converted(model, "passthrough", {"onnx": onnx.__version__}, reference, serving=serving)
