"""What the Estimator sends: the CreateTrainingJob request it builds, validated by botocore's own model."""

import io
import json
import tarfile

import pytest
from botocore.session import get_session
from botocore.validate import ParamValidator

from shipyard.sdk import Estimator, Session, TrainingInput
from shipyard.sdk.estimator import pack_source, unique_name
from shipyard.sdk.images import base_job_name, image_uri
from shipyard.sdk.inputs import channels


def _validate(op: str, params: dict) -> None:
    model = get_session().get_service_model("sagemaker").operation_model(op).input_shape
    report = ParamValidator().validate(params, model)
    assert not report.has_errors(), report.generate_report()


def test_short_names_become_registry_uris():
    assert image_uri("xgboost", "us-east-1") == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert image_uri("xgboost:1.5-1", "us-west-2").endswith("/sagemaker-xgboost:1.5-1")
    assert image_uri("kmeans", "eu-west-1") == "438346466558.dkr.ecr.eu-west-1.amazonaws.com/kmeans:1"
    assert image_uri("my.registry/img:1", "us-east-1") == "my.registry/img:1"
    assert image_uri("xgboost", "ap-nowhere-1") == "xgboost"
    assert base_job_name("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1") == "sagemaker-xgboost"


def test_unique_names_fit_sagemaker_rules():
    import re

    name = unique_name("a" * 80)
    assert len(name) <= 63 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", name)


def test_channels_from_str_and_dict():
    assert channels("s3://b/p")[0]["ChannelName"] == "training"
    chans = channels({"train": TrainingInput("s3://b/train", content_type="text/csv"), "validation": "s3://b/v"})
    assert [c["ChannelName"] for c in chans] == ["train", "validation"]
    assert chans[0]["ContentType"] == "text/csv"
    assert chans[1]["DataSource"]["S3DataSource"]["S3Uri"] == "s3://b/v"
    with pytest.raises(TypeError):
        channels(42)


def test_builtin_request_is_valid_for_botocore():
    est = Estimator("xgboost", role="arn:aws:iam::123456789012:role/R", output_path="s3://out/models",
                    hyperparameters={"num_round": 50, "objective": "binary:logistic"},
                    metric_definitions=[{"Name": "auc", "Regex": "auc:(\\S+)"}], environment={"A": "1"},
                    session=Session(region="us-east-1"))
    req = est.training_request({"train": TrainingInput("s3://b/t", content_type="text/csv")}, "job-1")
    _validate("CreateTrainingJob", req)
    assert req["HyperParameters"] == {"num_round": "50", "objective": "binary:logistic"}
    assert req["AlgorithmSpecification"]["TrainingImage"].endswith("sagemaker-xgboost:1.7-1")
    assert req["OutputDataConfig"] == {"S3OutputPath": "s3://out/models"}
    assert req["Environment"] == {"A": "1"}


def test_script_mode_hyperparameters_are_json_encoded(tmp_path):
    (tmp_path / "train.py").write_text("print('hi')\n")
    (tmp_path / "util.py").write_text("X = 1\n")
    est = Estimator("sklearn", role="arn:aws:iam::123456789012:role/R", entry_point="train.py",
                    source_dir=str(tmp_path), output_path="s3://out", hyperparameters={"alpha": 0.5, "name": "x"},
                    session=Session(region="us-east-1"))
    est._submit_dir = "s3://out/job/source/sourcedir.tar.gz"
    req = est.training_request("s3://b/t", "job")
    _validate("CreateTrainingJob", req)
    hps = req["HyperParameters"]
    assert json.loads(hps["alpha"]) == 0.5 and json.loads(hps["name"]) == "x"
    assert json.loads(hps["sagemaker_program"]) == "train.py"
    assert json.loads(hps["sagemaker_submit_directory"]) == "s3://out/job/source/sourcedir.tar.gz"
    assert json.loads(hps["sagemaker_job_name"]) == "job"


def test_pack_source_keeps_relative_paths(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "train.py").write_text("import pkg\n")
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "__pycache__").mkdir()
    (tmp_path / "pkg" / "__pycache__" / "x.pyc").write_bytes(b"0")
    data = pack_source("train.py", str(tmp_path))
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert sorted(tar.getnames()) == ["pkg/__init__.py", "train.py"]
    with pytest.raises(FileNotFoundError):
        pack_source("missing.py", str(tmp_path))
