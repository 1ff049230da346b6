"""The built-in XGBoost training program, run as SageMaker runs it: /opt/ml contract, separate process."""

from __future__ import annotations

import re

import numpy as np
import pytest
import xgboost as xgb

from shipyard.algorithms.xgboost import ALGORITHM

from xgb_helpers import layout, load_model, make_regression, run_train, write_csv, write_libsvm


def test_csv_train_and_validation_logs_metrics_and_saves_model(tmp_path):
    X, y = make_regression(400)
    write_csv(tmp_path / "input/data/train/part-0.csv", X[:200], y[:200])
    write_csv(tmp_path / "input/data/train/part-1.csv", X[200:300], y[200:300])  # every file is read
    write_csv(tmp_path / "input/data/validation/v.csv", X[300:], y[300:])
    layout(tmp_path, {"num_round": 12, "max_depth": 3, "eta": 0.3, "eval_metric": "rmse,mae"},
           {"train": "text/csv", "validation": "text/csv"})
    proc = run_train(tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("[")]
    assert len(lines) == 12
    assert re.match(r"^\[0\]\ttrain-rmse:[0-9.]+\ttrain-mae:[0-9.]+\tvalidation-rmse:[0-9.]+\tvalidation-mae:",
                    lines[0]), lines[0]
    assert "Loaded 300 training rows x 4 features" in proc.stdout
    # SageMaker's regex matches once tabs are rendered as #011, as the training controller does
    regex = re.compile(ALGORITHM.metrics["validation:rmse"][0])
    values = [float(m.group(1)) for ln in lines if (m := regex.match(ln.replace("\t", "#011")))]
    assert len(values) == 12 and values[-1] < values[0]
    assert ALGORITHM.metrics["validation:auc"][1] == "Maximize"
    booster = load_model(tmp_path / "model" / "xgboost-model")
    assert booster.num_boosted_rounds() == 12 and booster.num_features() == 4
    pred = booster.inplace_predict(X[300:].astype(np.float32))
    assert np.sqrt(np.mean((pred - y[300:]) ** 2)) < 0.6


def test_libsvm_channel_with_xgboost_loader(tmp_path):
    X, y = make_regression(200)
    cls = (y > 0).astype(int)
    write_libsvm(tmp_path / "input/data/train/train.libsvm", X, cls)
    layout(tmp_path, {"num_round": 5, "objective": "binary:logistic", "eval_metric": "auc,accuracy"},
           {"train": "text/libsvm"})
    proc = run_train(tmp_path)
    assert proc.returncode == 0, proc.stderr
    last = [ln for ln in proc.stdout.splitlines() if ln.startswith("[4]")][0]
    auc = float(re.search(r"train-auc:([0-9.]+)", last).group(1))
    acc = float(re.search(r"train-accuracy:([0-9.]+)", last).group(1))
    assert auc > 0.9 and acc > 0.85
    assert (tmp_path / "model" / "xgboost-model").exists()


def test_csv_weights_and_early_stopping(tmp_path):
    X, y = make_regression(300)
    w = np.ones(300)
    write_csv(tmp_path / "input/data/train/t.csv", np.column_stack([w[:200], X[:200]]), y[:200])
    # validation labels are noise: early stopping must cut training short
    write_csv(tmp_path / "input/data/validation/v.csv", np.column_stack([w[200:], X[200:]]),
              np.random.default_rng(1).normal(size=100) * 10)
    layout(tmp_path, {"num_round": 200, "csv_weights": 1, "early_stopping_rounds": 3, "eta": 0.5},
           {"train": "text/csv", "validation": "text/csv"})
    proc = run_train(tmp_path)
    assert proc.returncode == 0, proc.stderr
    rounds = [ln for ln in proc.stdout.splitlines() if re.match(r"^\[\d+\]\t", ln)]
    assert 3 < len(rounds) < 200
    booster = load_model(tmp_path / "model" / "xgboost-model")
    assert booster.num_features() == 4  # the weight column is not a feature
    assert booster.num_boosted_rounds() < len(rounds)


@pytest.mark.parametrize("hps, message", [
    ({"objective": "multi:softmax"}, "num_round"),
    ({"num_round": 3, "objective": "multi:softmax"}, "'num_class' is required"),
    ({"num_round": 3, "eta": "fast"}, "Hyperparameter 'eta' has value 'fast', which is not a valid float"),
    ({"num_round": 3, "max_depth": -1}, "out of range"),
    ({"num_round": 3, "objective": "reg:nope"}, "expected one of reg:squarederror"),
    ({"num_round": 3, "bogus": 1}, "Hyperparameter 'bogus' is not supported by the xgboost algorithm"),
])
def test_hyperparameter_errors_are_client_errors(tmp_path, hps, message):
    X, y = make_regression(50)
    write_csv(tmp_path / "input/data/train/t.csv", X, y)
    layout(tmp_path, hps, {"train": "text/csv"})
    proc = run_train(tmp_path)
    assert proc.returncode == 1
    failure = (tmp_path / "output" / "failure").read_text()
    assert failure.startswith("ClientError: ") and message in failure, failure


def test_bad_csv_and_missing_channel_fail_with_reason(tmp_path):
    (tmp_path / "input/data/train").mkdir(parents=True)
    (tmp_path / "input/data/train/t.csv").write_text("1,2,3\n0,abc,4\n")
    layout(tmp_path, {"num_round": 2}, {"train": "text/csv"})
    proc = run_train(tmp_path)
    assert proc.returncode == 1
    assert "Could not parse CSV file t.csv" in (tmp_path / "output" / "failure").read_text()
    other = tmp_path / "other"
    layout(other, {"num_round": 2}, {"validation": "text/csv"})
    write_csv(other / "input/data/validation/v.csv", *make_regression(20))
    proc = run_train(other)
    assert proc.returncode == 1
    assert "requires a 'train' channel" in (other / "output" / "failure").read_text()
