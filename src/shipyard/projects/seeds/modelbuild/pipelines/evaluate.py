"""Score the trained model on the test split: mean squared error, written as evaluation.json in the layout
SageMaker's model quality metrics use."""

import json
import os
import tarfile

import numpy as np
import xgboost as xgb

base = "/opt/ml/processing"
with tarfile.open(f"{base}/model/model.tar.gz") as archive:
    archive.extractall(f"{base}/model")
booster = xgb.Booster()
booster.load_model(f"{base}/model/xgboost-model")
test = np.loadtxt(f"{base}/test/test.csv", delimiter=",", ndmin=2)
predictions = booster.predict(xgb.DMatrix(test[:, 1:]))
mse = float(np.mean((predictions - test[:, 0]) ** 2))
os.makedirs(f"{base}/evaluation", exist_ok=True)
with open(f"{base}/evaluation/evaluation.json", "w") as f:
    json.dump({"regression_metrics": {"mse": {"value": mse, "standard_deviation": float(np.std(predictions))}}}, f)
print(f"mse={mse:.4f}")
