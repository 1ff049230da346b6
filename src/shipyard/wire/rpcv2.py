"""The Smithy RPC v2 CBOR protocol (``smithy-rpc-v2-cbor``), as botocore speaks it for CloudWatch.

A request is ``POST /service/<targetPrefix>/operation/<Operation>`` with header ``smithy-protocol:
rpc-v2-cbor`` and a CBOR map body (the input structure). The answer is a CBOR map (the output structure)
with ``Content-Type: application/cbor`` and the same ``smithy-protocol`` header. Timestamps travel as CBOR
tag 1 (epoch seconds); this module converts them to and from the float seconds the handlers use, driven
by the operation's botocore shape, and blobs to the base64 text :func:`shipyard.wire.validate.validate_input`
expects (so one validator serves every protocol).

Errors are a CBOR map ``{"__type": <shape id>, "message": ...}``. CloudWatch is an ``awsQueryCompatible``
service: botocore then takes the error code from the ``x-amzn-query-error: <Code>;<Sender|Receiver>``
header, which is how ``client.exceptions.InvalidParameterValueException`` is matched.
"""

from __future__ import annotations

import base64
import datetime as _dt
from typing import Any

from botocore.model import OperationModel, Shape

from ..errors import SerializationError, UnknownPath
from . import cbor
from .errors import error_of
from .models import operation_model, service_model

CONTENT_TYPE = "application/cbor"
# targetPrefix in the service model -> botocore service name
SERVICES = {"GraniteServiceVersion20100801": "cloudwatch"}
# generic codes raised outside the service's own handlers -> that service's modeled (query) code
VALIDATION_CODES = {"cloudwatch": "InvalidParameterValue"}


def wants(path: str, headers: dict[str, str]) -> bool:
    """Is this request an RPC v2 CBOR call (by header, or by its path shape)?"""
    return headers.get("smithy-protocol") == "rpc-v2-cbor" or (
        path.startswith("/service/") and "/operation/" in path)


def operation_for(path: str) -> tuple[str, OperationModel]:
    parts = path.strip("/").split("/")
    if len(parts) != 4 or parts[0] != "service" or parts[2] != "operation":
        raise UnknownPath(f"No RPC v2 operation at {path}.")
    service = SERVICES.get(parts[1])
    model = operation_model(service, parts[3]) if service else None
    if service is None or model is None:
        raise UnknownPath(f"Operation {parts[3]} of {parts[1]} is not recognised.")
    return service, model


def _to_json_like(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_json_like(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_to_json_like(v) for v in value]
    if isinstance(value, _dt.datetime):
        return value.timestamp()
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode()
    return value


def decode_request(body: bytes) -> dict[str, Any]:
    """The request's parameters, with timestamps as float seconds and blobs as base64 (validator input)."""
    if not body:
        return {}
    try:
        value = cbor.loads(body)
    except cbor.CBORDecodeError as e:
        raise SerializationError(f"The request body is not valid CBOR: {e}.") from None
    if not isinstance(value, dict):
        raise SerializationError("The request body must be a CBOR map.")
    out: dict[str, Any] = _to_json_like(value)
    return out


def _shape_out(shape: Shape | None, value: Any) -> Any:
    if value is None or shape is None:
        return value
    kind = shape.type_name
    if kind == "structure":
        members = shape.members
        return {k: _shape_out(members.get(k), v) for k, v in value.items()
                if v is not None and not k.startswith("_")}
    if kind == "list":
        return [_shape_out(shape.member, v) for v in value if v is not None]
    if kind == "map":
        return {k: _shape_out(shape.value, v) for k, v in value.items() if v is not None}
    if kind == "timestamp":
        if isinstance(value, _dt.datetime):
            return value
        return cbor.Timestamp(float(value))
    if kind in ("double", "float"):
        return float(value)
    if kind in ("integer", "long"):
        return int(value)
    return value


def encode_response(result: dict[str, Any] | None, shape: Shape | None) -> bytes:
    """CBOR bytes of an operation's result, each member encoded as its shape says."""
    return cbor.dumps(_shape_out(shape, result or {}) if shape is not None else {})


def headers(request_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"content-type", CONTENT_TYPE.encode()), (b"smithy-protocol", b"rpc-v2-cbor"),
            (b"x-amzn-requestid", request_id.encode())]


def _error_shapes(service: str, model: OperationModel | None) -> list[Shape]:
    """The operation's modeled errors, then every error shape of the service."""
    sm = service_model(service)
    shapes = list(model.error_shapes) if model is not None else []
    return shapes + [s for s in (sm.shape_for(n) for n in sm.shape_names) if s.metadata.get("exception")]


def render_error(exc: BaseException, request_id: str, service: str | None,
                 model: OperationModel | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The protocol's error: CBOR ``__type``/``message``, plus ``x-amzn-query-error`` for modeled codes."""
    code, status, message = error_of(exc, "rpc-v2-cbor")
    if code == "ValidationException" and service in VALIDATION_CODES:
        code = VALIDATION_CODES[service]
    type_name, query_header = code, None
    if service:
        sm = service_model(service)
        for shape in _error_shapes(service, model):
            err = shape.metadata.get("error") or {}
            if err.get("code") == code or shape.name == code:
                type_name = f"com.amazonaws.{sm.metadata.get('endpointPrefix', service)}#{shape.name}"
                status = int(err.get("httpStatusCode", status))
                if "awsQueryCompatible" in sm.metadata and err.get("code"):
                    query_header = f"{err['code']};{'Sender' if err.get('senderFault') else 'Receiver'}"
                break
    out = headers(request_id) + [(b"x-amzn-errortype", code.encode())]
    if query_header:
        out.append((b"x-amzn-query-error", query_header.encode()))
    return status, out, cbor.dumps({"__type": type_name, "message": message})
