"""TensorFlow -> ONNX with tf2onnx on a SavedModel, found where TF Serving (SageMaker's TensorFlow container)
finds it: ``<model>/<version>/saved_model.pb`` (highest version), ``<name>/<version>/saved_model.pb`` or a bare
``saved_model.pb``. The ``serving_default`` signature is converted: its input keys become the ONNX input names
and its output keys the output names, so the compiled endpoint answers TF Serving's ``{"instances": ...}`` /
``{"inputs": ...}`` with the same keys. ``DataInputConfig`` (``{"input_1": [1, 224, 224, 3]}``) fills dimensions
the signature leaves unknown other than the batch; names that do not match the signature's are taken by position
when there is one input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .spec import CompilationError, Converted, InputSpec


def find_saved_model(model_dir: Path) -> Path:
    found = sorted(model_dir.rglob("saved_model.pb"))
    if not found:
        raise CompilationError("No TensorFlow SavedModel in the model archive: expected <version>/saved_model.pb "
                               "(model.export(dir + '/1') or tf.saved_model.save(model, dir + '/1')).")

    def version(p: Path) -> tuple[int, str]:
        return (int(p.parent.name) if p.parent.name.isdigit() else -1, str(p))

    return max(found, key=version).parent


def convert(model_dir: Path, inputs: list[InputSpec], opset: int) -> Converted:
    import tensorflow as tf
    import tf2onnx

    path = find_saved_model(model_dir)
    loaded = tf.saved_model.load(str(path))
    sig = loaded.signatures.get("serving_default")
    if sig is None:
        raise CompilationError(f"The SavedModel at {path.name} has no serving_default signature: export it with "
                               "model.export(...) or tf.saved_model.save(..., signatures=...).")
    spec_in = sig.structured_input_signature[1]
    keys = sorted(spec_in)
    declared = {s.name: s for s in inputs}
    if len(keys) == 1 and len(inputs) == 1 and keys[0] not in declared:
        declared = {keys[0]: inputs[0]}
    specs = []
    for k in keys:
        shape = list(spec_in[k].shape)
        if k in declared:
            want = declared[k].shape
            if len(want) != len(shape):
                raise CompilationError(f"DataInputConfig gives input {k!r} rank {len(want)}, the signature has "
                                       f"rank {len(shape)} ({shape}).")
            shape = [None if i == 0 else (d if d is not None else want[i]) for i, d in enumerate(shape)]
        specs.append(tf.TensorSpec(shape, spec_in[k].dtype, name=k))

    def call(*args):
        return sig(**dict(zip(keys, args)))

    try:
        proto, _ = tf2onnx.convert.from_function(tf.function(call), input_signature=specs, opset=opset)
    except Exception as e:  # noqa: BLE001 - tf2onnx's reason (an op it cannot map) is the user's answer
        raise CompilationError(f"tf2onnx cannot convert the SavedModel: {type(e).__name__}: "
                               f"{str(e).strip().splitlines()[0] if str(e).strip() else ''}") from None
    out_keys = [o.name for o in proto.graph.output]

    def reference(feeds):
        res = sig(**{k: tf.constant(feeds[k]) for k in keys})
        return [np.asarray(res[k]) for k in out_keys]

    serving = {"kind": "tensorflow", "signature": "serving_default", "inputs": keys, "outputs": out_keys}
    versions = {"tensorflow": tf.__version__, "tf2onnx": tf2onnx.__version__}
    return Converted(proto, "tf2onnx.convert.from_function", versions, reference, serving=serving)
