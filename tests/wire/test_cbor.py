"""shipyard.wire.cbor against botocore's own CBOR serializer and parser (what clients actually run)."""

from __future__ import annotations

import datetime as dt
import math

import botocore.session
import pytest
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer

from shipyard.wire import cbor, rpcv2

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def cw_model():
    return botocore.session.get_session().get_service_model("cloudwatch")


@pytest.mark.parametrize("value", [
    0, 1, 23, 24, 255, 256, 65535, 65536, 2**32 - 1, 2**32, 2**64 - 1, -1, -24, -25, -256, -2**63,
    0.0, 1.5, -2.25, 1e300, "", "a", "é€😀", "x" * 300, b"", b"\x00\xff" * 200,
    [], [1, [2, [3]]], {}, {"a": {"b": [True, False, None]}}, list(range(30)),
])
def test_round_trip(value):
    assert cbor.loads(cbor.dumps(value)) == value


def test_special_floats_and_timestamps():
    assert math.isnan(cbor.loads(cbor.dumps(float("nan"))))
    assert cbor.loads(cbor.dumps(float("inf"))) == float("inf")
    assert cbor.loads(cbor.dumps(float("-inf"))) == float("-inf")
    when = dt.datetime(2024, 5, 6, 7, 8, 9, 500000, tzinfo=UTC)
    assert cbor.loads(cbor.dumps(when)) == when
    assert cbor.loads(cbor.dumps(cbor.Timestamp(1700000000.25))) == dt.datetime.fromtimestamp(1700000000.25, UTC)
    # RFC 8949 appendix A vectors: half floats and indefinite-length items
    assert cbor.loads(bytes.fromhex("f93c00")) == 1.0
    assert cbor.loads(bytes.fromhex("f97bff")) == 65504.0
    assert cbor.loads(bytes.fromhex("5f42010243030405ff")) == b"\x01\x02\x03\x04\x05"
    assert cbor.loads(bytes.fromhex("7f657374726561646d696e67ff")) == "streaming"
    assert cbor.loads(bytes.fromhex("9f018202039f0405ffff")) == [1, [2, 3], [4, 5]]
    assert cbor.loads(bytes.fromhex("bf61610161629f0203ffff")) == {"a": 1, "b": [2, 3]}
    assert cbor.dumps(1000000) == bytes.fromhex("1a000f4240")
    assert cbor.dumps({"a": 1, "b": [2, 3]}) == bytes.fromhex("a26161016162820203")


@pytest.mark.parametrize("data", [b"", b"\x18", b"\x62a", b"\xa1\x61a", b"\x01\x02", b"\xc2\x41\x00", b"\xf8\x10",
                                  b"\x7f\x41a\xff", b"\x9f\x01"])
def test_malformed_input_is_a_decode_error(data):
    with pytest.raises(cbor.CBORDecodeError):
        cbor.loads(data)


def test_reads_what_botocore_sends(cw_model):
    op = cw_model.operation_model("GetMetricStatistics")
    params = {"Namespace": "/aws/sagemaker/TrainingJobs", "MetricName": "validation:auc",
              "Dimensions": [{"Name": "TrainingJobName", "Value": "job-1"}],
              "StartTime": dt.datetime(2024, 1, 1, tzinfo=UTC), "EndTime": dt.datetime(2024, 1, 2, 0, 0, 1, 250000,
                                                                                       tzinfo=UTC),
              "Period": 60, "Statistics": ["Average", "Maximum"]}
    request = RpcV2CBORSerializer().serialize_to_request(params, op)
    assert request["url_path"] == "/service/GraniteServiceVersion20100801/operation/GetMetricStatistics"
    assert request["headers"]["smithy-protocol"] == "rpc-v2-cbor"
    decoded = rpcv2.decode_request(request["body"])
    assert decoded["StartTime"] == dt.datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    assert decoded["EndTime"] == pytest.approx(dt.datetime(2024, 1, 2, 0, 0, 1, 250000, tzinfo=UTC).timestamp())
    assert decoded["Dimensions"] == params["Dimensions"] and decoded["Period"] == 60
    assert rpcv2.operation_for(request["url_path"])[1].name == "GetMetricStatistics"


def test_botocore_parses_what_we_send(cw_model):
    op = cw_model.operation_model("GetMetricStatistics")
    body = rpcv2.encode_response({"Label": "m", "Datapoints": [
        {"Timestamp": 1700000040.0, "Average": 2, "SampleCount": 3.0, "Unit": "None",
         "ExtendedStatistics": {"p90": 4.5}}]}, op.output_shape)
    parsed = RpcV2CBORParser().parse({"body": body, "headers": {"x-amzn-requestid": "r1"}, "status_code": 200},
                                     op.output_shape)
    dp = parsed["Datapoints"][0]
    assert dp["Timestamp"] == dt.datetime.fromtimestamp(1700000040, UTC)
    assert dp["Average"] == 2.0 and isinstance(dp["Average"], float)
    assert dp["ExtendedStatistics"] == {"p90": 4.5} and parsed["Label"] == "m"


def test_errors_carry_the_query_compatible_code(cw_model):
    from shipyard.errors import ShipyardError, ValidationError

    op = cw_model.operation_model("GetMetricStatistics")
    status, headers, body = rpcv2.render_error(
        ShipyardError("bad period", code="InvalidParameterValue", http_status=400), "rid", "cloudwatch", op)
    h = dict(headers)
    assert status == 400 and h[b"x-amzn-query-error"] == b"InvalidParameterValue;Sender"
    parsed = RpcV2CBORParser().parse({"body": body, "headers": {k.decode(): v.decode() for k, v in headers},
                                      "status_code": status}, op.output_shape)
    assert parsed["Error"]["Code"] == "InvalidParameterValue" and parsed["Error"]["Message"] == "bad period"
    # a front-end validation failure is CloudWatch's InvalidParameterValue too
    _, headers, _ = rpcv2.render_error(ValidationError("x"), "rid", "cloudwatch", op)
    assert dict(headers)[b"x-amzn-query-error"] == b"InvalidParameterValue;Sender"
