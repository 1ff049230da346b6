"""The built-in XGBoost saves its model as the image version the job named does: SageMaker's images before
1.3-1 pickle the Booster (AWS's abalone pipeline evaluates it with ``pickle.load``), later ones use xgboost's
own format. The training executor passes the image in ``SHIPYARD_ALGORITHM_IMAGE``."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import numpy as np
import pytest
import xgboost as xgb

from shipyard.algorithms.env import ALGORITHM_IMAGE_VARIABLE

from xgb_helpers import layout, load_model, make_regression, write_csv

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:{}"


def _train(base, image: str | None):
    X, y = make_regression(200)
    write_csv(base / "input/data/train/t.csv", X, y)
    layout(base, {"num_round": 4, "max_depth": 2}, {"train": "text/csv"})
    env = {k: v for k, v in os.environ.items() if not k.startswith("SM_") and k != ALGORITHM_IMAGE_VARIABLE}
    env.update(SAGEMAKER_BASE_DIR=str(base), SM_NUM_CPUS="2")
    if image is not None:
        env[ALGORITHM_IMAGE_VARIABLE] = image
    proc = subprocess.run([sys.executable, "-m", "shipyard.algorithms.xgboost.train"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return (base / "model" / "xgboost-model").read_bytes(), X


@pytest.mark.parametrize("tag", ["1.0-1-cpu-py3", "0.90-2-cpu-py3"])
def test_images_before_1_3_pickle_the_booster(tmp_path, tag):
    raw, X = _train(tmp_path, IMAGE.format(tag))
    booster = pickle.loads(raw)  # what AWS's evaluation scripts do with these versions
    assert isinstance(booster, xgb.Booster) and booster.num_boosted_rounds() == 4
    assert np.isfinite(booster.predict(xgb.DMatrix(X))).all()


@pytest.mark.parametrize("image", [IMAGE.format("1.3-1"), IMAGE.format("1"), None])
def test_later_or_unversioned_images_save_xgboost_format(tmp_path, image):
    raw, _ = _train(tmp_path, image)
    assert raw[:1] == b"{"  # UBJSON, loadable with Booster.load_model
    assert load_model(tmp_path / "model" / "xgboost-model").num_boosted_rounds() == 4
