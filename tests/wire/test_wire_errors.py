"""Error documents as botocore's own parsers read them, one per protocol."""

from __future__ import annotations

import pytest
from botocore import parsers

from shipyard.errors import (
    AuthError,
    MissingResource,
    ModelError,
    NotImplementedYet,
    OperationNotImplemented,
    RequestTooLarge,
    S3Error,
    SerializationError,
    ShipyardError,
    UnknownOperation,
    UnknownPath,
    ValidationError,
)
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


def _instance(cls):
    """One instance of an error type of the tree, built the way its raisers build it."""
    if cls is MissingResource:
        return cls("training job", "j1")
    if cls is ModelError:
        return cls("the model said no", 400, "no")
    if cls is S3Error:
        return cls("NoSuchKey", "The specified key does not exist.", 404, "k")
    return cls("m")


@pytest.mark.parametrize("cls", list(E.TABLE), ids=lambda c: c.__name__)
def test_every_error_type_renders_its_code_and_status_over_json(cls):
    exc = _instance(cls)
    code, status = E.row_of(cls, "json") if cls is not S3Error else ("NoSuchKey", 404)
    out = _parse("json", "sagemaker", "DescribeTrainingJob", E.render_json(exc, "rid"))
    assert (out["Error"]["Code"], out["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)
    runtime = _parse("rest-json", "sagemaker-runtime", "InvokeEndpoint", E.render_rest_json(exc, "rid"))
    assert (runtime["Error"]["Code"], runtime["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)


@pytest.mark.parametrize("cls", list(E.TABLE), ids=lambda c: c.__name__)
def test_every_error_type_renders_its_code_and_status_over_s3_xml(cls):
    exc = _instance(cls)
    code, status = E.row_of(cls, "s3") if cls is not S3Error else ("NoSuchKey", 404)
    out = _parse("rest-xml", "s3", "GetObject", E.render_s3_xml(exc, "rid"))
    assert (out["Error"]["Code"], out["ResponseMetadata"]["HTTPStatusCode"]) == (code, status)


def test_protocol_columns():
    assert E.error_of(RequestTooLarge("big"), "s3")[:2] == ("EntityTooLarge", 400)
    assert E.error_of(RequestTooLarge("big"))[:2] == ("RequestEntityTooLarge", 413)
    assert E.error_of(UnknownOperation("x"), "query")[:2] == ("InvalidAction", 400)
    assert E.error_of(KeyError("k"), "s3")[:2] == ("InternalError", 500)
    assert E.error_of(UnknownPath("x"))[:2] == ("UnknownOperationException", 404)
    assert E.error_of(OperationNotImplemented("x"))[:2] == ("UnknownOperationException", 400)
    assert E.error_of(NotImplementedYet("x"), "s3")[:2] == ("NotImplemented", 501)
    assert E.error_of(SerializationError("x"))[:2] == ("SerializationException", 400)


def test_a_code_given_per_case_wins():
    assert E.error_of(S3Error("NoSuchBucket", "m", 404))[:2] == ("NoSuchBucket", 404)
    assert E.error_of(AuthError("m", code="AccessDenied"))[:2] == ("AccessDenied", 403)
    assert E.error_of(ValidationError("m", code="ValidationError"))[:2] == ("ValidationError", 400)


def test_service_errors_outside_the_tree_keep_their_own_row():
    class ObjectNotFound(ShipyardError):
        code = "ObjectNotFoundException"
        http_status = 400

    class Leaf(ValidationError):
        pass

    assert E.error_of(ObjectNotFound("m"), "s3")[:2] == ("ObjectNotFoundException", 400)
    assert E.error_of(Leaf("m"), "s3")[:2] == ("ValidationException", 400)


def test_rpcv2_cbor_uses_the_table():
    from shipyard.wire import cbor, rpcv2

    status, headers, body = rpcv2.render_error(SerializationError("bad"), "rid", None, None)
    assert status == 400 and cbor.loads(body)["__type"] == "SerializationException"
    status, headers, body = rpcv2.render_error(UnknownPath("no"), "rid", None, None)
    assert status == 404 and dict(headers)[b"x-amzn-errortype"] == b"UnknownOperationException"


def test_dump_json_drops_none_and_private_keys():
    assert dump_json({"A": None, "_x": 1, "B": {"C": None, "D": [1, None, {"E": None}]}}) == b'{"B":{"D":[1,{}]}}'
    assert dump_json(None) == b"{}"
