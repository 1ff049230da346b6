"""``shipyard.testing.sdk``: the SDK's environment is set for the block and put back exactly afterwards, so a
module's fixtures can nest (an offline session beside a server's) and nothing leaks into the next module."""

from __future__ import annotations

import os

import pytest

from shipyard.testing.sdk import sdk_config, sdk_environment


class _Server:
    def env(self) -> dict[str, str]:
        return {"AWS_ENDPOINT_URL": "http://127.0.0.1:1", "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s",
                "AWS_REGION": "eu-west-1"}


def test_sets_the_variables_and_restores_what_was_there(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_PROFILE", "someone-else")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://before")
    monkeypatch.delenv("SAGEMAKER_USER_CONFIG_OVERRIDE", raising=False)
    with sdk_environment(_Server(), tmp_path, bucket="b", region="eu-west-1") as config:
        assert config == tmp_path / "config.yaml"
        assert config.read_text() == sdk_config("b")
        assert os.environ["AWS_ENDPOINT_URL"] == "http://127.0.0.1:1"
        assert os.environ["AWS_DEFAULT_REGION"] == "eu-west-1"
        assert os.environ["SAGEMAKER_USER_CONFIG_OVERRIDE"] == str(config)
        assert os.environ["SAGEMAKER_ADMIN_CONFIG_OVERRIDE"] == str(config)
        assert "AWS_PROFILE" not in os.environ  # a profile would make boto3 skip the server's keys
    assert os.environ["AWS_PROFILE"] == "someone-else"
    assert os.environ["AWS_ENDPOINT_URL"] == "http://before"
    assert "SAGEMAKER_USER_CONFIG_OVERRIDE" not in os.environ


def test_without_a_server_no_aws_keys_are_set_and_an_error_still_restores(tmp_path, monkeypatch):
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.delenv("SAGEMAKER_SUPPRESS_V2_WARNING", raising=False)
    with pytest.raises(RuntimeError), sdk_environment(None, tmp_path / "cfg"):
        assert "AWS_ACCESS_KEY_ID" not in os.environ
        assert "DefaultS3Bucket" not in (tmp_path / "cfg" / "config.yaml").read_text()
        raise RuntimeError("the block failed")
    assert "SAGEMAKER_SUPPRESS_V2_WARNING" not in os.environ


def test_the_config_names_the_bucket_only_when_given():
    yaml = pytest.importorskip("yaml")
    modules = yaml.safe_load(sdk_config())["SageMaker"]["PythonSDK"]["Modules"]
    assert modules == {"TelemetryOptOut": True}
    modules = yaml.safe_load(sdk_config("mine"))["SageMaker"]["PythonSDK"]["Modules"]
    assert modules == {"TelemetryOptOut": True, "Session": {"DefaultS3Bucket": "mine"}}


def test_a_default_session_made_before_the_block_does_not_sign_inside_it(tmp_path):
    """boto3's default session caches the keys it first resolved: one made for another server earlier in the
    process would sign ``boto3.client(...)`` calls inside the block with the wrong keys."""
    import boto3

    boto3.setup_default_session(aws_access_key_id="stale", aws_secret_access_key="stale", region_name="us-east-1")
    try:
        with sdk_environment(_Server(), tmp_path):
            assert boto3.client("s3")._request_signer._credentials.access_key == "k"
        assert boto3.DEFAULT_SESSION is None  # nothing made inside the block outlives it
    finally:
        boto3.DEFAULT_SESSION = None
