"""Save the benchmark's XGBoost booster as an MLflow model (run with the peers' venv python).

    bench/.venv-peers/bin/python bench/peers/save_mlflow_model.py MODEL_FILE OUT_DIR

``MODEL_FILE`` is the same ``xgboost-model`` file Shipyard serves; ``mlflow.xgboost.save_model`` wraps it so
``mlflow models serve -m OUT_DIR`` answers ``POST /invocations`` through MLflow's own pyfunc scoring server.
"""

import sys

import mlflow.xgboost
import xgboost as xgb

booster = xgb.Booster()
booster.load_model(bytearray(open(sys.argv[1], "rb").read()))
mlflow.xgboost.save_model(booster, sys.argv[2])
print("saved", sys.argv[2])
