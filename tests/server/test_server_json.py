"""The JSON 1.1 edge through a real server: unknown operations, validation, malformed input, handler crashes."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from shipyard_test_plugin import SECRET

HERE = Path(__file__).parent


def _raw(server, target, body: bytes, service="sagemaker", content_type="application/x-amz-json-1.1"):
    """POST a raw body, signed correctly with botocore's own SigV4 signer."""
    key_id, secret = server.keys()
    req = AWSRequest(method="POST", url=server.url + "/", data=body,
                     headers={"X-Amz-Target": target, "Content-Type": content_type})
    SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(req)
    r = httpx.post(server.url + "/", content=body, headers=dict(req.headers.items()), timeout=10)
    return r


def _error(call):
    with pytest.raises(ClientError) as info:
        call()
    err = info.value.response
    return err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Code"], err["Error"].get("Message", "")


@pytest.fixture(scope="module")
def sm(server):
    return server.client("sagemaker", config=Config(parameter_validation=False))


def test_unknown_operation(server):
    for target in ("SageMaker.NoSuchOperation", "Bogus_2020.DescribeThing", "SageMaker", ""):
        r = _raw(server, target, b"{}")
        assert r.status_code == 400, (target, r.text)
        assert r.json()["__type"] == "UnknownOperationException"
        assert r.headers["x-amzn-errortype"] == "UnknownOperationException"
        assert r.headers["x-amzn-requestid"]


def test_pattern_violation_names_the_field(sm):
    status, code, message = _error(lambda: sm.describe_training_job(TrainingJobName="bad_name!"))
    assert (status, code) == (400, "ValidationException")
    assert message == ("1 validation error detected: Value 'bad_name!' at 'trainingJobName' failed to satisfy "
                       "constraint: Member must satisfy regular expression pattern: "
                       "[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")


def test_too_long_and_too_many(sm):
    _, code, message = _error(lambda: sm.describe_training_job(TrainingJobName="a" * 64))
    assert code == "ValidationException"
    assert "at 'trainingJobName' failed to satisfy constraint: Member must have length less than or equal to 63" \
        in message
    _, code, message = _error(lambda: sm.list_training_jobs(MaxResults=0, StatusEquals="Sleeping"))
    assert message.startswith("2 validation errors detected: ")
    assert "Value '0' at 'maxResults' failed to satisfy constraint: Member must have value greater than or " \
           "equal to 1" in message
    assert "Value 'Sleeping' at 'statusEquals' failed to satisfy constraint: Member must satisfy enum value " \
           "set: [InProgress, Completed, Failed, Stopping, Stopped, Deleting]" in message


def test_missing_required_nested_member(sm):
    _, code, message = _error(lambda: sm.create_training_job(
        TrainingJobName="job-1", RoleArn="arn:aws:iam::123456789012:role/r",
        AlgorithmSpecification={"TrainingImage": "img"},
        OutputDataConfig={"S3OutputPath": "s3://b/o"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {"S3Uri": "s3://b/d"}}}]))
    assert code == "ValidationException"
    assert "Value null at 'algorithmSpecification.trainingInputMode' failed to satisfy constraint: Member must " \
           "not be null" in message
    assert "Value null at 'inputDataConfig.1.member.dataSource.s3DataSource.s3DataType'" in message


def test_unknown_member_is_rejected(server):
    r = _raw(server, "SageMaker.ListModels", b'{"NoSuchMember": 1}')
    assert r.status_code == 400
    assert r.json()["__type"] == "ValidationException" and "noSuchMember" in r.json()["message"]


@pytest.mark.parametrize("body", [
    b"{not json", b"[1, 2, 3]", b"null", b"\"text\"", b"\xff\xfe\x00garbage", b"[" * 5000 + b"]" * 5000,
    b'{"TrainingJobName": 5}', b'{"TrainingJobName": ["a"]}', b'{"TrainingJobName": {"a": 1}}',
    b'{"TrainingJobName": null}', b'{"TrainingJobName": "x", "TrainingJobName": 1e999}',
])
def test_malformed_bodies_are_400_without_traceback(server, body):
    r = _raw(server, "SageMaker.DescribeTrainingJob", body)
    assert r.status_code == 400, r.text
    doc = r.json()
    assert doc["__type"] in ("SerializationException", "ValidationException")
    assert "Traceback" not in r.text and "File \"" not in r.text


@pytest.mark.parametrize("body", [
    b'{"MaxResults": "10"}', b'{"MaxResults": 10.5}', b'{"MaxResults": true}', b'{"CreationTimeAfter": "soon"}',
    b'{"CreationTimeAfter": [1]}', b'{"MaxResults": 99999999999999999999999999}', b'{"NextToken": 12}',
])
def test_wrong_types_are_validation_errors(server, body):
    r = _raw(server, "SageMaker.ListTrainingJobs", body)
    assert r.status_code == 400, r.text
    assert r.json()["__type"] == "ValidationException"


@pytest.fixture(scope="module")
def plugin_server(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    env = {"SHIPYARD_PLUGINS": "shipyard_test_plugin",
           "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    proc = ShipyardProcess(tmp_path_factory.mktemp("plugin-home"), env=env)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def test_handler_crash_is_internal_failure_without_details(plugin_server):
    r = _raw(plugin_server, "SageMaker.ListAlgorithms", b"{}")
    assert r.status_code == 500
    assert r.json()["__type"] == "InternalFailure"
    assert SECRET not in r.text and "Traceback" not in r.text
    log = (plugin_server.home / "server.log").read_text()
    assert SECRET in log and "Traceback" in log  # the operator still gets the details
    sm = plugin_server.client("sagemaker", config=Config(retries={"max_attempts": 1}))
    assert _error(sm.list_algorithms)[:2] == (500, "InternalFailure")


def test_shipyard_errors_keep_their_code(plugin_server):
    sm = plugin_server.client("sagemaker")
    status, code, message = _error(sm.list_code_repositories)
    assert (status, code, message) == (400, "ResourceLimitExceeded", "You have reached the limit of code repositories.")


def test_result_serialization_round_trips_through_boto3(plugin_server):
    sm = plugin_server.client("sagemaker")
    out = sm.describe_algorithm(AlgorithmName="algo-1")
    assert out["CreationTime"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=out["CreationTime"].tzinfo)
    assert out["CreationTime"].utcoffset() == dt.timedelta(0)
    assert "AlgorithmDescription" not in out and "_private_state" not in out
    assert out["TrainingSpecification"]["TrainingChannels"][0] == {
        "Name": "train", "SupportedContentTypes": ["text/csv"], "SupportedInputModes": ["File"]}
    assert out["CertifyForMarketplace"] is False
    raw = _raw(plugin_server, "SageMaker.DescribeAlgorithm", json.dumps({"AlgorithmName": "a"}).encode())
    assert raw.headers["content-type"] == "application/x-amz-json-1.1"
    assert raw.json()["CreationTime"] == dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc).timestamp()


def test_unserved_service_gets_a_json_error_not_s3(server):
    featurestore = server.client("sagemaker-featurestore-runtime")
    status, code, _ = _error(lambda: featurestore.get_record(FeatureGroupName="fg",
                                                             RecordIdentifierValueAsString="1"))
    assert (status, code) == (404, "UnknownOperationException")
