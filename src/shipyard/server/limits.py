"""The server's limits: read from the environment once, and the answer a client gets at the connection limit.

The numbers (header and body timeouts, keep-alive, the connection limit) are read by one helper so that a
bad value means the same thing everywhere: the default. The connection limit is uvicorn's
``limit_concurrency``; uvicorn answers a request over it with a bare ``503 Service Unavailable`` in plain
text, which boto3 cannot name. :func:`busy_response` answers in the request's own protocol instead, with a
code botocore retries as throttling (``SlowDown`` for S3, ``ServiceUnavailable`` for the others) and a message
that says what to do. It never reads the body and always closes the connection.
"""

from __future__ import annotations

import os

from ..errors import S3Error, ServiceUnavailable

STS_XMLNS = "https://sts.amazonaws.com/doc/2011-06-15/"


def env_positive(name: str, default: float) -> float:
    """``$name`` as a positive number, or ``default`` when it is unset, not a number, or not positive."""
    try:
        value = float(os.environ.get(name, ""))
    except ValueError:
        return default
    return value if value > 0 else default


def busy_message(limit: int | None) -> str:
    what = f"its connection limit ({limit})" if limit else "its connection limit"
    return (f"The Shipyard server is at {what}: retry after a moment (boto3 retries this on its own), use "
            "fewer concurrent connections, or raise SHIPYARD_MAX_CONNECTIONS on the server.")


def busy_response(scope: dict, limit: int | None) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """The 503 for a request refused at the connection limit, rendered for the protocol it speaks."""
    from ..wire import errors as wire_errors  # here: ``server.main`` imports this module on the CLI's path
    from .auth import parse_credential_service, parse_query

    headers: dict[str, str] = {}
    for k, v in scope.get("headers") or []:
        headers[k.decode("latin-1").lower()] = v.decode("latin-1")
    query_string = (scope.get("query_string") or b"").decode("latin-1")
    request_id = wire_errors.new_request_id()
    message = busy_message(limit)
    service = parse_credential_service(headers.get("authorization"),
                                       parse_query(query_string) if "X-Amz-" in query_string else {})
    if "x-amz-target" in headers or (service not in (None, "s3", "sts")):
        return wire_errors.render_json(ServiceUnavailable(message), request_id)
    if service == "sts" or headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return wire_errors.render_query_xml(ServiceUnavailable(message), request_id, STS_XMLNS)
    return wire_errors.render_s3_xml(S3Error("SlowDown", message, 503), request_id, scope.get("path", ""))


def busy_app(limit: int | None):
    """An ASGI app answering every request with :func:`busy_response` (uvicorn's ``service_unavailable``)."""

    async def app(scope, receive, send) -> None:
        status, headers, body = busy_response(scope, limit)
        headers = [*headers, (b"content-length", str(len(body)).encode()), (b"connection", b"close")]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return app
