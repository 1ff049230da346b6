"""Reading a request and writing a response on the ASGI edge, within limits and deadlines.

A body that stops arriving (no bytes for ``BODY_IDLE_TIMEOUT`` seconds), or a whole non-S3 body not complete
after ``BODY_TIMEOUT`` seconds, is answered ``RequestTimeout``; a body over its limit is refused as it arrives.
These run on every request's path (InvokeEndpoint included), so each costs at most one timer per chunk.
:mod:`shipyard.server.app` dispatches; this module only moves bytes.
"""

from __future__ import annotations

import asyncio
import sys

from ..errors import RequestTimeout, RequestTooLarge, ShipyardError
from .limits import env_positive

# A body that stops arriving: no new bytes for BODY_IDLE_TIMEOUT seconds (every body, S3 uploads included),
# or a non-S3 body (at most 32 MB) not complete after BODY_TIMEOUT seconds, is answered RequestTimeout and
# its connection closed. Header timeouts are uvicorn's side: see ``shipyard.server.main``.
BODY_IDLE_TIMEOUT = env_positive("SHIPYARD_BODY_IDLE_TIMEOUT", 30.0)
BODY_TIMEOUT = env_positive("SHIPYARD_BODY_TIMEOUT", 120.0)


def request_headers(scope) -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in scope["headers"]:
        name = k.decode("latin-1").lower()
        value = v.decode("latin-1")
        out[name] = f"{out[name]},{value}" if name in out else value
    return out


def declared_length(headers: dict[str, str]) -> int | None:
    raw = headers.get("content-length")
    if raw is None:
        return None
    raw = raw.strip()
    if not raw.isdigit():
        raise ShipyardError("The Content-Length header is not a number.", code="InvalidRequest", http_status=400)
    return int(raw)


def has_body(headers: dict[str, str]) -> bool:
    """Whether the request announces a body (which an early answer leaves unread on the connection)."""
    length = headers.get("content-length", "").strip()
    return "transfer-encoding" in headers or (length not in ("", "0"))


if sys.version_info >= (3, 11):
    async def _within(awaitable, seconds: float):
        """``await awaitable``, raising ``asyncio.TimeoutError`` after ``seconds`` (no extra task on 3.11+)."""
        async with asyncio.timeout(seconds):
            return await awaitable
else:  # pragma: no cover - Python 3.10
    async def _within(awaitable, seconds: float):
        return await asyncio.wait_for(awaitable, seconds)


def _timeout(what: str) -> RequestTimeout:
    return RequestTimeout(f"Your socket connection to the server was not read from or written to within the "
                          f"timeout period ({what}). Idle connections will be closed.")


class DeadlineReceive:
    """An ASGI ``receive`` whose wait for the next body chunk gives up after ``idle`` seconds (raising
    :class:`RequestTimeout`). Once the body is complete (``done``), calls pass through untouched: a streaming
    response waits on ``receive`` for the disconnect."""

    def __init__(self, receive, idle: float | None = None):
        self.receive = receive
        self.idle = BODY_IDLE_TIMEOUT if idle is None else idle
        self.done = False

    async def __call__(self):
        if self.done:
            return await self.receive()
        try:
            message = await _within(self.receive(), self.idle)
        except asyncio.TimeoutError:
            raise _timeout(f"no data for {self.idle:g} s") from None
        if message["type"] != "http.request" or not message.get("more_body", False):
            self.done = True
        return message


async def read_body(receive, limit: int | None = None, too_large=RequestTooLarge) -> bytes:
    """The whole body, at most ``limit`` bytes (else ``too_large``), within the body timeouts: one timer per
    chunk, bounded by the idle timeout and by what is left of the whole body's (this is on every request's
    path, InvokeEndpoint included, so no second timer around the loop)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + BODY_TIMEOUT
    chunks = []
    size = 0
    while True:
        wait = min(BODY_IDLE_TIMEOUT, end - loop.time())
        try:
            if wait <= 0:
                raise asyncio.TimeoutError
            message = await _within(receive(), wait)
        except asyncio.TimeoutError:
            if wait < BODY_IDLE_TIMEOUT:
                raise _timeout(f"the body was not complete after {BODY_TIMEOUT:g} s") from None
            raise _timeout(f"no data for {BODY_IDLE_TIMEOUT:g} s") from None
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        if chunk:
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size > limit:
                raise too_large(f"Request body exceeds the maximum of {limit} bytes.")
        if not message.get("more_body", False):
            break
    if len(chunks) == 1:
        return chunks[0]
    return b"".join(chunks)


async def respond(send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, close: bool = False) -> None:
    """Send a whole response; ``close`` ends the connection after it (an unread or half-read body must never
    be left on a keep-alive connection for the next request to trip over, nor be waited for)."""
    headers = list(headers)
    headers.append((b"content-length", str(len(body)).encode()))
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
