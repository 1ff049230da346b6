"""HyperparameterTuner request building, argument checks and the analytics helpers, without a server."""

from __future__ import annotations

import json
import re
import sys

import pytest

from shipyard.sdk import (
    CategoricalParameter,
    ContinuousParameter,
    Estimator,
    HyperparameterTuner,
    HyperparameterTuningJobAnalytics,
    IntegerParameter,
    Session,
    WarmStartConfig,
)
from shipyard.sdk.analytics import leaderboard, running_best, summary_row
from shipyard.sdk.tuner import progress_line, unique_tuning_name

ROLE = "arn:aws:iam::123456789012:role/test"


def _session() -> Session:
    # never contacted: role and output path are given, so building requests needs no network
    return Session(endpoint_url="http://127.0.0.1:9", access_key_id="a", secret_access_key="b",
                   region="us-east-1", default_bucket="bucket")


def _xgb() -> Estimator:
    return Estimator("xgboost", role=ROLE, output_path="s3://bucket/out", session=_session(),
                     hyperparameters={"objective": "binary:logistic", "num_round": 20, "eta": 0.3},
                     metric_definitions=[{"Name": "train:x", "Regex": "x=([0-9.]+)"}])


def test_builtin_request_moves_tuned_names_out_of_static():
    tuner = HyperparameterTuner(
        _xgb(), "validation:auc",
        {"eta": ContinuousParameter(0.01, 0.5, "Logarithmic"), "max_depth": IntegerParameter(2, 8),
         "booster": CategoricalParameter(["gbtree", "dart"])},
        metric_definitions=[{"Name": "train:x", "Regex": "other=([0-9.]+)"}, {"Name": "y", "Regex": "y=(.*)"}],
        strategy="Random", max_jobs=7, max_parallel_jobs=3, random_seed=11, early_stopping_type="Auto",
        warm_start_config=WarmStartConfig("TransferLearning", ["parent-a"]), max_runtime_in_seconds=600)
    req = tuner.tuning_request({"train": "s3://bucket/train/"}, "tj-1")
    assert req["HyperParameterTuningJobName"] == "tj-1"
    config = req["HyperParameterTuningJobConfig"]
    assert config["Strategy"] == "Random" and config["RandomSeed"] == 11
    assert config["HyperParameterTuningJobObjective"] == {"Type": "Maximize", "MetricName": "validation:auc"}
    assert config["ResourceLimits"] == {"MaxNumberOfTrainingJobs": 7, "MaxParallelTrainingJobs": 3,
                                        "MaxRuntimeInSeconds": 600}
    assert config["TrainingJobEarlyStoppingType"] == "Auto"
    assert config["ParameterRanges"] == {
        "ContinuousParameterRanges": [{"Name": "eta", "MinValue": "0.01", "MaxValue": "0.5",
                                       "ScalingType": "Logarithmic"}],
        "IntegerParameterRanges": [{"Name": "max_depth", "MinValue": "2", "MaxValue": "8", "ScalingType": "Auto"}],
        "CategoricalParameterRanges": [{"Name": "booster", "Values": ["gbtree", "dart"]}]}
    d = req["TrainingJobDefinition"]
    assert d["StaticHyperParameters"] == {"objective": "binary:logistic", "num_round": "20"}  # eta is tuned
    assert d["AlgorithmSpecification"]["TrainingImage"].endswith("/sagemaker-xgboost:1.7-1")
    # the tuner's definition of a metric replaces the estimator's one of the same name
    assert d["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": "train:x", "Regex": "other=([0-9.]+)"}, {"Name": "y", "Regex": "y=(.*)"}]
    assert d["RoleArn"] == ROLE and d["OutputDataConfig"] == {"S3OutputPath": "s3://bucket/out"}
    assert d["InputDataConfig"][0]["ChannelName"] == "train"
    assert "TrainingJobName" not in d and "HyperParameters" not in d
    assert req["WarmStartConfig"] == {"WarmStartType": "TransferLearning",
                                      "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent-a"}]}


def test_script_mode_encodes_static_and_categorical_values_as_json(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    est = Estimator("python:3.11", role=ROLE, output_path="s3://bucket/out", session=_session(),
                    entry_point="train.py", source_dir=str(tmp_path), hyperparameters={"epochs": 3, "x": 1.5})
    est._submit_dir = "s3://bucket/out/tj/source/sourcedir.tar.gz"  # what fit() uploads first
    tuner = HyperparameterTuner(est, "loss", {"x": ContinuousParameter(0, 1),
                                              "opt": CategoricalParameter(["adam", 3])},
                                metric_definitions=[{"Name": "loss", "Regex": "loss=(.*)"}], objective_type="Minimize")
    req = tuner.tuning_request(None, "tj")
    static = req["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["epochs"] == "3" and "x" not in static
    assert json.loads(static["sagemaker_submit_directory"]) == est._submit_dir
    assert json.loads(static["sagemaker_program"]) == "train.py"
    assert req["HyperParameterTuningJobConfig"]["ParameterRanges"]["CategoricalParameterRanges"] == [
        {"Name": "opt", "Values": ['"adam"', "3"]}]


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "Annealing"}, "strategy"),
    ({"objective_type": "Best"}, "objective_type"),
    ({"early_stopping_type": "Sometimes"}, "early_stopping_type"),
    ({"max_parallel_jobs": 0}, "at least 1"),
    ({"hyperparameter_ranges": {}}, "at least one"),
])
def test_bad_arguments_are_refused_at_construction(kwargs, message):
    args = {"hyperparameter_ranges": {"eta": ContinuousParameter(0.1, 0.2)}, **kwargs}
    with pytest.raises(ValueError, match=message):
        HyperparameterTuner(_xgb(), "validation:auc", **args)


def test_bad_ranges_are_refused():
    with pytest.raises(TypeError, match="eta"):
        HyperparameterTuner(_xgb(), "validation:auc", {"eta": (0.1, 0.2)})
    with pytest.raises(ValueError, match="scaling_type"):
        ContinuousParameter(0.1, 0.2, "Cubic")
    with pytest.raises(ValueError, match="greater"):
        IntegerParameter(5, 2)


def test_no_job_yet_is_a_clear_error():
    tuner = HyperparameterTuner(_xgb(), "validation:auc", {"eta": ContinuousParameter(0.1, 0.2)})
    for call in (tuner.describe, tuner.best_training_job, tuner.stop, tuner.analytics):
        with pytest.raises(ValueError, match="fit"):
            call()


def test_unique_tuning_names_fit_the_32_character_limit():
    names = {unique_tuning_name("a-very-long-base-job-name-from-an-image-uri") for _ in range(20)}
    assert len(names) == 20
    for name in names | {unique_tuning_name("x"), unique_tuning_name("___")}:
        assert len(name) <= 32
        assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}", name), name


SUMMARIES = [
    {"TrainingJobName": "j-1", "TrainingJobStatus": "Completed", "TunedHyperParameters": {"eta": "0.1", "d": "3",
                                                                                           "opt": '"adam"'},
     "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "auc", "Value": 0.7},
     "TrainingStartTime": 100.0, "TrainingEndTime": 104.5},
    {"TrainingJobName": "j-2", "TrainingJobStatus": "Failed", "TunedHyperParameters": {"eta": "0.2", "d": "4",
                                                                                        "opt": "sgd"}},
    {"TrainingJobName": "j-3", "TrainingJobStatus": "Completed", "TunedHyperParameters": {"eta": "1e-3", "d": "5",
                                                                                           "opt": "sgd"},
     "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "auc", "Value": 0.9},
     "TrainingStartTime": 101.0, "TrainingEndTime": 103.0},
]


def test_rows_leaderboard_and_running_best():
    rows = [summary_row(s) for s in SUMMARIES]
    assert rows[0]["eta"] == 0.1 and rows[0]["d"] == 3 and rows[0]["opt"] == "adam"
    assert rows[2]["eta"] == 0.001 and rows[0]["TrainingElapsedTimeSeconds"] == 4.5
    assert rows[1]["FinalObjectiveValue"] is None and rows[1]["TrainingElapsedTimeSeconds"] is None
    assert [r["TrainingJobName"] for r in leaderboard(rows, maximize=True)] == ["j-3", "j-1", "j-2"]
    assert [r["TrainingJobName"] for r in leaderboard(rows, maximize=False)] == ["j-1", "j-3", "j-2"]
    assert running_best([None, 0.7, None, 0.5, 0.9], maximize=True) == [None, 0.7, 0.7, 0.7, 0.9]
    assert running_best([0.7, 0.5, 0.9], maximize=False) == [0.7, 0.5, 0.5]


def test_dataframe_without_pandas_says_how_to_get_it(monkeypatch):
    analytics = HyperparameterTuningJobAnalytics("tj", _session())
    analytics._summaries = SUMMARIES
    frame = analytics.dataframe()
    assert list(frame["TrainingJobName"]) == ["j-1", "j-2", "j-3"]
    assert {"eta", "d", "opt", "FinalObjectiveValue", "TrainingElapsedTimeSeconds"} <= set(frame.columns)
    monkeypatch.setitem(sys.modules, "pandas", None)  # "import pandas" now raises ImportError
    with pytest.raises(ImportError, match="pip install pandas"):
        analytics.dataframe()
    assert len(analytics.rows()) == 3  # rows need no pandas


def test_progress_line():
    desc = {"HyperParameterTuningJobStatus": "InProgress",
            "TrainingJobStatusCounters": {"Completed": 3, "InProgress": 2, "NonRetryableError": 1,
                                          "RetryableError": 0, "Stopped": 0},
            "BestTrainingJob": {"TrainingJobName": "j-3", "FinalHyperParameterTuningJobObjectiveMetric": {
                "MetricName": "validation:auc", "Value": 0.912345678}}}
    assert progress_line(desc) == ("InProgress: 3 completed, 2 in progress, 1 failed, 0 stopped; "
                                   "best validation:auc 0.912346 (j-3)")
    assert progress_line({"HyperParameterTuningJobStatus": "InProgress"}) == (
        "InProgress: 0 completed, 0 in progress, 0 failed, 0 stopped")
