"""Neo: compiling a trained model to ONNX (converters, output equivalence checks, onnxruntime optimisation).

Entry points: ``python -m shipyard.compile.job`` (the compilation job's program, see ``job.py``) and
:func:`shipyard.compile.core.compile_model`. One module per framework converter (``xgboost``, ``sklearn``,
``pytorch``, ``tensorflow``, ``onnx_passthrough``, ``builtin`` for the built-in linear-learner / k-means / PCA
models); ``verify`` compares outputs with the original; ``optimize`` runs onnxruntime's optimiser and int8
quantization. Frameworks are imported only when their converter runs. Documented in docs/neo-compiler.md.
"""
