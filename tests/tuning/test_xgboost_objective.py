"""Built-in XGBoost evaluates a tuning job's objective metric even when eval_metric does not name it."""

from shipyard.algorithms.xgboost.train import with_tuning_objective


def test_objective_metric_is_added_once_and_only_when_known():
    assert with_tuning_objective(None, "validation:auc") == ["auc"]
    assert with_tuning_objective(["logloss"], "validation:auc") == ["logloss", "auc"]
    assert with_tuning_objective(["auc"], "validation:auc") == ["auc"]
    assert with_tuning_objective(["rmse"], "train:f1") == ["rmse", "f1"]
    assert with_tuning_objective(["rmse"], None) == ["rmse"]
    assert with_tuning_objective(None, "validation:not-a-metric") is None
