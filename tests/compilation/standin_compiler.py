"""A stand-in for ``python -m shipyard.compile.job`` (same arguments and outputs), for the controller's tests.

XGBoost only (onnxmltools), writing ``model.onnx`` and a ``compilation.json`` with the ``serving`` block the
ONNX handler reads; a model it cannot read -> a ``failure`` file and exit 1, as the real compiler does.
``STANDIN_SLEEP`` seconds of sleep first lets the tests stop a job, or restart the server, while it runs.
"""

import argparse
import json
import os
import sys
import time
from pathlib import Path


def main() -> int:
    p = argparse.ArgumentParser()
    for arg in ("--model-dir", "--framework", "--data-input-config", "--target", "--out", "--compiler-options"):
        p.add_argument(arg)
    a = p.parse_args()
    time.sleep(float(os.environ.get("STANDIN_SLEEP", "0")))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    try:
        import onnxmltools
        import xgboost as xgb
        from onnxmltools.convert.common.data_types import FloatTensorType

        booster = xgb.Booster()
        booster.load_model(bytearray((Path(a.model_dir) / "xgboost-model").read_bytes()))
        learner = json.loads(booster.save_config())["learner"]
        n = booster.num_features()
        booster.feature_names = None
        model = onnxmltools.convert_xgboost(booster, initial_types=[("data", FloatTensorType([None, n]))])
    except Exception as e:  # noqa: BLE001
        (out / "failure").write_text(f"ClientError: the XGBoost model could not be read: {type(e).__name__}\n")
        return 1
    (out / "model.onnx").write_bytes(model.SerializeToString())
    (out / "compilation.json").write_text(json.dumps({
        "framework": "xgboost", "target": {"device": a.target},
        "serving": {"kind": "xgboost", "objective": learner["objective"]["name"], "num_features": n,
                    "num_class": int(learner["learner_model_param"].get("num_class", "0") or 0)}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
