"""The one table of error types -> AWS codes and HTTP statuses, and the renderers of an error per protocol.

Every edge error ends here: :func:`error_of` turns any exception into ``(code, status, message)`` through
:data:`TABLE` (and the protocol's column of :data:`PROTOCOL_OVERRIDES`), with unknown exceptions becoming
``InternalFailure`` with a generic message (the traceback goes to the server log, never to the client). The
``render_*`` functions shape that triple the way botocore's parser for the protocol expects it (JSON 1.1,
REST-JSON, S3's REST-XML and the query protocol's XML); RPC v2 CBOR (:mod:`shipyard.wire.rpcv2`) and the S3
handler (:mod:`shipyard.api.s3`) call :func:`error_of` too. No renderer names a status of its own.
"""

from __future__ import annotations

import html
import uuid

import orjson

from .. import errors as _errors
from ..errors import ModelError, RequestTooLarge, ShipyardError, UnknownOperation


def _tree(root: type[ShipyardError] = ShipyardError) -> list[type[ShipyardError]]:
    out = [root]
    for sub in root.__subclasses__():
        if sub.__module__ == _errors.__name__:  # the tree itself, not subclasses defined elsewhere
            out += [c for c in _tree(sub) if c not in out]
    return out


# The one table: every type of the tree -> (AWS code, HTTP status). The values are declared once, on the
# classes (shipyard.errors draws them); the protocols whose vocabulary differs get a column of overrides
# below. A subclass not in a column takes its nearest listed ancestor's row (looked up along the MRO).
TABLE: dict[type[ShipyardError], tuple[str, int]] = {cls: (cls.code, cls.http_status) for cls in _tree()}

PROTOCOL_OVERRIDES: dict[str, dict[type[ShipyardError], tuple[str, int]]] = {
    "s3": {
        ShipyardError: ("InternalError", 500),
        RequestTooLarge: ("EntityTooLarge", 400),
    },
    "query": {
        UnknownOperation: ("InvalidAction", 400),
    },
}
PROTOCOLS = ("json", "rest-json", "rpc-v2-cbor", "s3", "query")

GENERIC_INTERNAL_MESSAGE = "An internal error occurred. See the Shipyard server log for details."

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


def new_request_id() -> str:
    return str(uuid.uuid4())


def row_of(cls: type[ShipyardError], protocol: str = "json") -> tuple[str, int]:
    """``(code, status)`` of an error type in ``protocol``: the nearest row along its MRO.

    A type outside the tree that declares a code of its own (a service's modeled error, such as Application
    Auto Scaling's ``ObjectNotFoundException``) is its own row."""
    overrides = PROTOCOL_OVERRIDES.get(protocol, {})
    for klass in cls.__mro__:
        if klass in overrides:
            return overrides[klass]
        if klass in TABLE:
            return TABLE[klass]
        if "code" in vars(klass) or "http_status" in vars(klass):
            break
    return cls.code, cls.http_status


def error_of(exc: BaseException, protocol: str = "json") -> tuple[str, int, str]:
    """``(code, http_status, message)`` for any exception; non-Shipyard ones become a bare InternalFailure.

    The status comes from :data:`TABLE` (and ``protocol``'s column); an error raised with a code of its own
    (``S3Error``, ``AuthError``: a code per case) keeps that code and the status it was given with it."""
    if isinstance(exc, ShipyardError):
        code, status = row_of(type(exc), protocol)
        own = vars(exc)
        if "code" in own:
            code = own["code"]
            status = own.get("http_status", status)
        elif "http_status" in own:
            status = own["http_status"]
        message = exc.message
        if type(exc) is ShipyardError and not message and status >= 500:
            message = GENERIC_INTERNAL_MESSAGE
        return code, status, message
    return row_of(ShipyardError, protocol)[0], 500, GENERIC_INTERNAL_MESSAGE


def _headers(code: str, request_id: str, content_type: str) -> list[tuple[bytes, bytes]]:
    return [
        (b"content-type", content_type.encode()),
        (b"x-amzn-requestid", request_id.encode()),
        (b"x-amzn-errortype", code.encode()),
    ]


def render_json(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """JSON 1.1 (SageMaker, Logs, Application Auto Scaling): ``{"__type": code, "message": msg}``."""
    code, status, message = error_of(exc)
    body = orjson.dumps({"__type": code, "message": message})
    return status, _headers(code, request_id, JSON_CONTENT_TYPE), body


def render_rest_json(exc: BaseException, request_id: str) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """REST-JSON (sagemaker-runtime). ModelError carries the model's own status and message as modeled."""
    code, status, message = error_of(exc, "rest-json")
    doc: dict[str, object] = {"__type": code, "Message": message, "message": message}
    if isinstance(exc, ModelError):
        doc["OriginalStatusCode"] = exc.original_status
        doc["OriginalMessage"] = exc.original_message
        log_stream_arn = getattr(exc, "log_stream_arn", "")
        if log_stream_arn:
            doc["LogStreamArn"] = log_stream_arn
    return status, _headers(code, request_id, "application/json"), orjson.dumps(doc)


def _x(text: str) -> str:
    return html.escape(str(text), quote=False)


def render_s3_xml(
    exc: BaseException, request_id: str, resource: str = ""
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """S3's REST-XML error document."""
    code, status, message = error_of(exc, "s3")
    resource = getattr(exc, "resource", "") or resource
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{_x(code)}</Code><Message>{_x(message)}</Message>"
        + (f"<Resource>{_x(resource)}</Resource>" if resource else "")
        + f"<RequestId>{request_id}</RequestId></Error>"
    ).encode()
    headers = [(b"content-type", b"application/xml"), (b"x-amz-request-id", request_id.encode())]
    return status, headers, body


def render_query_xml(
    exc: BaseException, request_id: str, xmlns: str
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The query protocol's (STS) XML error document."""
    code, status, message = error_of(exc, "query")
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type><Code>{_x(code)}</Code>'
        f"<Message>{_x(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return status, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], body
