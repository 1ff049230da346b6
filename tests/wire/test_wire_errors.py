"""Error documents as botocore's own parsers read them, one per protocol."""

from __future__ import annotations

import pytest
from botocore import parsers

from shipyard.errors import MissingResource, ModelError, S3Error, ShipyardError, ValidationError
from shipyard.wire import errors as E
from shipyard.wire.models import operation_model
from shipyard.wire.serialize import dump_json


def _parse(protocol, service, op, rendered):
    status, headers, body = rendered
    response = {"status_code": status, "headers": {k.decode(): v.decode() for k, v in headers}, "body": body}
    return parsers.create_parser(protocol).parse(response, operation_model(service, op).output_shape)


def test_json_errors():
    out = _parse("json", "sagemaker", "DescribeTrainingJob",
                 E.render_json(MissingResource("training job", "j1"), "rid-1"))
    assert out["Error"] == {"Code": "ValidationException", "Message": 'Could not find training job "j1".'}
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert out["ResponseMetadata"]["RequestId"] == "rid-1"


def test_unexpected_exceptions_hide_details():
    status, headers, body = E.render_json(KeyError("secret-internal-key"), "rid")
    assert status == 500 and b"secret-internal-key" not in body and b"InternalFailure" in body
    assert E.error_of(ShipyardError())[2] == E.GENERIC_INTERNAL_MESSAGE


def test_runtime_model_error():
    exc = ModelError("Received client error (415)", 415, "unsupported content type")
    exc.log_stream_arn = "arn:aws:logs:us-east-1:1:log-group:/aws/sagemaker/Endpoints/ep"
    out = _parse("rest-json", "sagemaker-runtime", "InvokeEndpoint", E.render_rest_json(exc, "rid"))
    assert out["Error"]["Code"] == "ModelError"
    assert out["ResponseMetadata"]["HTTPStatusCode"] == 424


def test_s3_and_query_errors():
    out = _parse("rest-xml", "s3", "GetObject", E.render_s3_xml(S3Error("NoSuchKey", "The specified key does "
                                                                          "not exist.", 404, "k<&>"), "rid"))
    assert out["Error"]["Code"] == "NoSuchKey" and out["ResponseMetadata"]["HTTPStatusCode"] == 404
    out = _parse("query", "sts", "GetCallerIdentity",
                 E.render_query_xml(ValidationError("bad <thing>"), "rid", "https://sts.amazonaws.com/doc/2011-06-15/"))
    assert out["Error"]["Code"] == "ValidationException" and out["Error"]["Message"] == "bad <thing>"


@pytest.mark.parametrize("code", sorted(E.STATUS))
def test_status_table_is_consistent(code):
    exc = ShipyardError("m", code=code, http_status=E.STATUS[code])
    assert E.error_of(exc)[:2] == (code, E.STATUS[code])


def test_dump_json_drops_none_and_private_keys():
    assert dump_json({"A": None, "_x": 1, "B": {"C": None, "D": [1, None, {"E": None}]}}) == b'{"B":{"D":[1,{}]}}'
    assert dump_json(None) == b"{}"
