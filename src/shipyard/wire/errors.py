"""The one table of AWS error codes -> HTTP statuses, and the renderers of an error for each protocol.

Every edge error ends here: :func:`error_of` turns any exception into ``(code, status, message)``, with
unknown exceptions becoming ``InternalFailure`` with a generic message (the traceback goes to the server
log, never to the client). The ``render_*`` functions shape that triple the way botocore's parser for the
protocol expects it (JSON 1.1, REST-JSON, S3's REST-XML and the query protocol's XML).
"""

from __future__ import annotations

import html
import uuid

import orjson

from ..errors import ModelError, ShipyardError

# Codes raised by the wire/server layer itself (not by a ShipyardError subclass) and their statuses.
# ShipyardError instances carry their own status; this table is the fallback and the reference.
STATUS: dict[str, int] = {
    "ValidationException": 400,
    "SerializationException": 400,
    "UnknownOperationException": 400,
    "ResourceNotFound": 400,
    "ResourceNotFoundException": 400,
    "ResourceInUse": 400,
    "ResourceLimitExceeded": 400,
    "ThrottlingException": 400,
    "ConflictException": 409,
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 403,
    "AccessDenied": 403,
    "InvalidAccessKeyId": 403,
    "SignatureDoesNotMatch": 403,
    "RequestTimeTooSkewed": 403,
    "RequestEntityTooLarge": 413,
    "EntityTooLarge": 400,
    "RequestTimeout": 400,
    "InvalidNextTokenException": 400,
    "ModelError": 424,
    "ModelNotReadyException": 429,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "NotImplemented": 501,
}

GENERIC_INTERNAL_MESSAGE = "An internal error occurred. See the Shipyard server log for details."

JSON_CONTENT_TYPE = "application/x-amz-json-1.1"


def new_request_id() -> str:
    return str(uuid.uuid4())


def error_of(exc: BaseException) -> tuple[str, int, str]:
    """``(code, http_status, message)`` for any exception; non-Shipyard ones become a bare InternalFailure."""
    if isinstance(exc, ShipyardError):
        status = exc.http_status or STATUS.get(exc.code, 400)
        message = exc.message
        if exc.code == "InternalFailure" and type(exc) is ShipyardError and not message:
            message = GENERIC_INTERNAL_MESSAGE
        return exc.code, status, message
    return "InternalFailure", 500, GENERIC_INTERNAL_MESSAGE


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
    code, status, message = error_of(exc)
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
    code, status, message = error_of(exc)
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
    code, status, message = error_of(exc)
    kind = "Receiver" if status >= 500 else "Sender"
    body = (
        f'<ErrorResponse xmlns="{xmlns}"><Error><Type>{kind}</Type><Code>{_x(code)}</Code>'
        f"<Message>{_x(message)}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
    ).encode()
    return status, [(b"content-type", b"text/xml"), (b"x-amzn-requestid", request_id.encode())], body
