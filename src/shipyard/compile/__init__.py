"""Neo: compiling a trained model to ONNX (converters, output equivalence checks, onnxruntime optimisation)."""
