"""``Booster.inplace_predict`` for dense float32 rows, minus the Python set-up that dominates at one row.

Why: on a one-row request ``inplace_predict`` spends most of its ~150 us in Python (re-encoding the
same JSON config, sniffing the input type among a dozen frameworks, building ctypes array classes, copying
the result through ``__array_interface__``). The C call itself is a fraction of that. This calls the same C
entry point (``XGBoosterPredictFromDense``) with the config encoded once and the array interface written
with one ``%`` format, so the answer is bit-for-bit XGBoost's own. Anything that is not a 2-D C-contiguous
float32 ``ndarray`` goes through ``inplace_predict`` as before.
"""

from __future__ import annotations

import ctypes
import threading

import numpy as np

# The arguments Booster.inplace_predict sends for predict_type="value", default iteration range, NaN missing.
_ARGS = (b'{"type": 0, "training": false, "iteration_begin": 0, "iteration_end": 0, "missing": NaN, '
         b'"strict_shape": false, "cache_id": 0}')
_IFACE = b'{"data": [%d, true], "shape": [%d, %d], "strides": null, "typestr": "<f4", "version": 3}'


class _Out(threading.local):
    """Per-thread output slots: XGBoost's result buffer is per thread too, so threads never share one."""

    def __init__(self) -> None:
        from xgboost.core import _ProxyDMatrix, c_bst_ulong

        # Reusing one proxy DMatrix per thread matters: without one, XGBoost builds a fresh proxy per call,
        # whose Context re-reads the cgroup CPU quota files and compiles a regex (most of the C call's time).
        self.proxy = _ProxyDMatrix()

        self.shape = ctypes.POINTER(c_bst_ulong)()
        self.dims = c_bst_ulong()
        self.preds = ctypes.POINTER(ctypes.c_float)()
        self.refs = (ctypes.byref(self.shape), ctypes.byref(self.dims), ctypes.byref(self.preds))


class DensePredictor:
    """Callable ``(ndarray) -> ndarray`` equal to ``booster.inplace_predict(x, validate_features=False)``."""

    def __init__(self, booster) -> None:
        from xgboost.core import _LIB

        self.booster = booster  # keeps the handle alive
        self._fn = _LIB.XGBoosterPredictFromDense
        self._handle = booster.handle
        self._out = _Out()

    def __call__(self, data) -> np.ndarray:
        if not (type(data) is np.ndarray and data.dtype == np.float32 and data.ndim == 2
                and data.flags.c_contiguous):
            return np.asarray(self.booster.inplace_predict(data, validate_features=False))
        out = self._out
        iface = _IFACE % (data.ctypes.data, data.shape[0], data.shape[1])
        rc = self._fn(self._handle, iface, _ARGS, out.proxy.handle, *out.refs)
        if rc != 0:
            from xgboost.core import _check_call

            _check_call(rc)
        shape = out.shape
        ndim = out.dims.value
        dims = tuple(shape[i] for i in range(ndim))
        n = 1
        for d in dims:
            n *= d
        result = np.frombuffer(ctypes.string_at(out.preds, n * 4), dtype=np.float32)
        return result.reshape(dims) if ndim != 1 else result
