"""CreateTrainingJob refuses names that would become paths outside the job's folder (ValidationException)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from training_helpers import script_job, unique, wait_status

BUCKET = "unsafe-request-tests"


@pytest.fixture(scope="module")
def clients(server):
    return server.client("sagemaker"), server.client("s3")


def _error(call, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"]["Code"], err.value.response["Error"]["Message"]


def _with_channel(params: dict, name: str) -> dict:
    channel = dict(params["InputDataConfig"][0], ChannelName=name)
    return dict(params, InputDataConfig=[channel])


@pytest.mark.parametrize("channel", ["..", "."])
def test_a_channel_named_dot_or_dotdot_is_refused(clients, channel):
    sm, s3 = clients
    name = unique("chan")
    params = script_job(s3, BUCKET, name, "print('ok')", channels={"train": b"1\n"})
    code, message = _error(sm.create_training_job, **_with_channel(params, channel))
    assert code == "ValidationException" and "ChannelName" in message and repr(channel) in message
    assert not sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


@pytest.mark.parametrize("channel", ["../config", "a/b", "train data", "x" * 65])
def test_a_channel_name_outside_aws_pattern_is_refused(clients, channel):
    sm, s3 = clients
    params = script_job(s3, BUCKET, unique("chan"), "print('ok')", channels={"train": b"1\n"})
    code, _ = _error(sm.create_training_job, **_with_channel(params, channel))
    assert code == "ValidationException"


@pytest.mark.parametrize("local", ["/tmp/ckpt", "/opt/ml/../../etc", "/opt/ml", "checkpoints", "/opt/mlx"])
def test_a_checkpoint_local_path_outside_opt_ml_is_refused(clients, local):
    sm, s3 = clients
    name = unique("ckpt")
    params = script_job(s3, BUCKET, name, "print('ok')")
    params["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/{name}/ckpt", "LocalPath": local}
    code, message = _error(sm.create_training_job, **params)
    assert code == "ValidationException" and "CheckpointConfig.LocalPath" in message and "/opt/ml" in message
    assert not sm.list_training_jobs(NameContains=name)["TrainingJobSummaries"]


def test_a_checkpoint_local_path_under_opt_ml_maps_into_the_job_folder(clients):
    sm, s3 = clients
    name = unique("ckpt-ok")
    script = """
        import os
        base = os.environ["SAGEMAKER_BASE_DIR"]
        print("restored:", open(os.path.join(base, "my", "ckpts", "state.txt")).read())
    """
    params = script_job(s3, BUCKET, name, script, channels={"weird..name": b"1\n"})
    s3.put_object(Bucket=BUCKET, Key=f"{name}/ckpt/state.txt", Body=b"round-7")
    params["CheckpointConfig"] = {"S3Uri": f"s3://{BUCKET}/{name}/ckpt", "LocalPath": "/opt/ml/my/./ckpts/"}
    sm.create_training_job(**params)
    d = wait_status(sm, name)
    assert d["TrainingJobStatus"] == "Completed", d.get("FailureReason")
