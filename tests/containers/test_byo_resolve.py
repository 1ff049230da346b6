"""Which images run as bring-your-own containers, what CreateTrainingJob says without an engine, and the
``docker run`` command line: no engine, server or subprocess needed (the engine is pointed at a missing path)."""

from __future__ import annotations

import pytest

from shipyard.algorithms.registry import resolve
from shipyard.containers.images import account_and_region
from shipyard.containers.run import container_name, run_command
from shipyard.errors import ValidationError
from shipyard.resources.training_job import program_of
from shipyard.serving.container_instance import container_image_of

ECR = "123456789012.dkr.ecr.us-east-1.amazonaws.com"


@pytest.fixture
def no_engine(monkeypatch):
    monkeypatch.setenv("SHIPYARD_CONTAINER_ENGINE", "/nonexistent/docker")


def test_an_ecr_uri_of_no_builtin_or_framework_is_a_container(no_engine):
    assert resolve(f"{ECR}/decision-trees:latest", {}) == ("container", None)
    assert resolve(f"{ECR}/team/decision-trees@sha256:" + "a" * 64, {}) == ("container", None)


def test_builtin_framework_and_script_mode_win_over_a_container(no_engine):
    assert resolve(f"{ECR}/xgboost:1", {})[0] == "builtin"
    assert resolve(f"{ECR}/my-image:1", {"sagemaker_program": "train.py"})[0] == "script"
    with pytest.raises(ValidationError, match="framework image"):
        resolve(f"{ECR}/byo/sklearn:1.2-1", {})  # the repository's last part names the framework


def test_a_name_the_engine_does_not_have_is_refused_saying_what_is_accepted(no_engine):
    with pytest.raises(ValidationError, match="an ECR image URI .* or an image of the local container engine"):
        resolve("shipyard-test/not-here:1", {})


def test_create_training_job_without_an_engine_says_what_to_install(no_engine):
    with pytest.raises(ValidationError) as e:
        program_of({"TrainingImage": f"{ECR}/decision-trees:1"}, {}, {}, [])
    assert "apt-get install -y docker.io" in e.value.message and "none is installed" in e.value.message


def test_run_command_passes_variables_by_name_only():
    cmd = run_command("/usr/bin/docker", name="shipyard-training-j-1", image="127.0.0.1:5000/byo:1",
                      command=["train"], mounts=[("/home/x/job", "/opt/ml", False), ("/m", "/opt/ml/model", True)],
                      env_names={"SM_HPS": "{}", "SECRET": "s3cr3t"}, network="none", gpus=1,
                      publish=["127.0.0.1::8080"], labels={"shipyard.training-job": "j"})
    assert cmd[:5] == ["/usr/bin/docker", "run", "--rm", "--name", "shipyard-training-j-1"]
    assert cmd[-2:] == ["127.0.0.1:5000/byo:1", "train"]
    assert "s3cr3t" not in " ".join(cmd) and ["-e", "SECRET"] == cmd[cmd.index("SECRET") - 1:cmd.index("SECRET") + 1]
    assert "type=bind,source=/home/x/job,target=/opt/ml" in cmd
    assert "type=bind,source=/m,target=/opt/ml/model,readonly" in cmd
    for flag, value in (("--network", "none"), ("--gpus", "1"), ("-p", "127.0.0.1::8080"),
                        ("--label", "shipyard.training-job=j")):
        assert cmd[cmd.index(flag) + 1] == value


def test_container_names_are_what_the_engine_accepts():
    assert container_name("training", "my job/ä", "algo-1") == "shipyard-training-my-job---algo-1"


def test_which_models_are_containers(no_engine):
    byo = {"Image": f"{ECR}/decision-trees:1", "ModelDataUrl": "s3://b/m.tar.gz"}
    assert container_image_of([byo]) == byo["Image"]
    assert container_image_of([{**byo, "Environment": {"SAGEMAKER_PROGRAM": "inference.py"}}]) is None
    assert container_image_of([{**byo, "Mode": "MultiModel"}]) is None
    assert container_image_of([byo, byo]) is None  # an inference pipeline
    assert container_image_of([{"Image": f"{ECR}/sagemaker-xgboost:1.7-1"}]) is None
    assert container_image_of([{"Image": "local-only:1"}]) is None  # not in the (missing) engine


def test_account_and_region_come_from_the_arn():
    assert account_and_region("arn:aws:sagemaker:eu-west-1:111122223333:training-job/x") == (
        "111122223333", "eu-west-1")
