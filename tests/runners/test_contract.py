"""The /opt/ml contract writer, checked against the training toolkit's rules and our own reader."""

from __future__ import annotations

import json
import os

from shipyard.algorithms.env import TrainingEnv
from shipyard.runners import contract


CHANNELS = [
    {"ChannelName": "training", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/t", "S3DataType": "S3Prefix",
                                                                "S3DataDistributionType": "ShardedByS3Key"}},
     "ContentType": "text/csv"},
    {"ChannelName": "testing", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/v", "S3DataType": "S3Prefix"}},
     "InputMode": "Pipe", "RecordWrapperType": "RecordIO"},
]
HPS = {"sagemaker_program": '"train.py"', "sagemaker_submit_directory": '"s3://b/src.tar.gz"',
       "epochs": "10", "learning-rate": '"0.1"', "flag": '"true"', "n": "3", "cfg": '{"a": 1, "b": "x"}',
       "plain": "not json", "_tuning_objective_metric": "loss"}


def test_cli_args_follow_the_toolkit():
    user, framework = contract.split_hyperparameters(HPS)
    assert framework == {"sagemaker_program": "train.py", "sagemaker_submit_directory": "s3://b/src.tar.gz"}
    assert user == {"epochs": 10, "learning-rate": "0.1", "flag": "true", "n": 3, "cfg": {"a": 1, "b": "x"},
                    "plain": "not json"}
    assert contract.cli_args(user) == ["--cfg", "a=1,b=x", "--epochs", "10", "--flag", "true",
                                       "--learning-rate", "0.1", "-n", "3", "--plain", "not json"]
    assert contract.cli_args({"on": True}) == ["--on", "True"]  # the toolkit's str() of a decoded bool


def test_config_files_and_environment(tmp_path, monkeypatch):
    layout = contract.Layout(tmp_path).make()
    input_config = contract.input_data_config(CHANNELS, "File")
    assert input_config == {
        "training": {"TrainingInputMode": "File", "S3DistributionType": "ShardedByS3Key",
                     "RecordWrapperType": "None", "ContentType": "text/csv"},
        "testing": {"TrainingInputMode": "Pipe", "S3DistributionType": "FullyReplicated",
                    "RecordWrapperType": "RecordIO"},
    }
    resources = contract.resource_config(["algo-1"], "algo-1", "ml.m5.large")
    contract.write_config(layout, HPS, input_config, resources)
    written = json.loads((layout.config / "hyperparameters.json").read_text())
    assert written == HPS and all(isinstance(v, str) for v in written.values())
    env = contract.sm_environment(layout, hyperparameters=HPS, input_config=input_config, resources=resources,
                                  job_name="job-1", job_arn="arn:j", entry_point="train.py", module_name="train",
                                  num_cpus=4, num_gpus=0)
    assert env["SM_MODEL_DIR"] == str(tmp_path / "model")
    assert json.loads(env["SM_CHANNELS"]) == ["testing", "training"]
    assert env["SM_CHANNEL_TRAINING"] == str(tmp_path / "input" / "data" / "training")
    assert env["SM_HP_EPOCHS"] == "10" and env["SM_HP_LEARNING-RATE"] == "0.1"
    assert env["SM_HP_CFG"] == '{"a":1,"b":"x"}'
    assert json.loads(env["SM_HPS"])["epochs"] == 10
    assert json.loads(env["SM_HOSTS"]) == ["algo-1"] and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_CPUS"] == "4" and env["SM_NUM_GPUS"] == "0"
    assert env["SM_OUTPUT_DATA_DIR"] == str(tmp_path / "output" / "data")
    assert env["SM_INPUT_CONFIG_DIR"] == str(tmp_path / "input" / "config")
    assert json.loads(env["SM_RESOURCE_CONFIG"])["current_host"] == "algo-1"
    assert json.loads(env["SM_INPUT_DATA_CONFIG"]) == input_config
    assert json.loads(env["SM_USER_ARGS"])[:2] == ["--cfg", "a=1,b=x"]
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_DIR"] == "s3://b/src.tar.gz"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == "job-1" and training_env["hyperparameters"]["n"] == 3
    assert env["SAGEMAKER_BASE_DIR"] == str(tmp_path) and env["TRAINING_JOB_NAME"] == "job-1"
    assert env["TRAINING_JOB_ARN"] == "arn:j" and env["SM_CHECKPOINT_DIR"] == str(tmp_path / "checkpoints")

    # Our own reader (what built-in algorithms use) sees the same job.
    for k in list(os.environ):
        if k.startswith("SM_"):
            monkeypatch.delenv(k)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    read = TrainingEnv.load()
    assert read.hyperparameters["epochs"] == "10"
    assert read.channels["training"] == tmp_path / "input" / "data" / "training"
    assert read.input_mode("testing") == "Pipe" and read.content_type("training") == "text/csv"
    assert read.model_dir == tmp_path / "model" and read.num_cpus == 4
