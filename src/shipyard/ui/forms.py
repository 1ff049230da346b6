"""Reading the console's request bodies under a limit: small urlencoded forms in the gate, uploads in their
handler. Nothing here buffers more than its limit, whatever the client declares."""

from __future__ import annotations

from starlette.requests import Request

FORM_LIMIT = 64 * 1024


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form body (small: the console's forms hold a few fields). Any other body (an upload) is
    left unread for its handler, which reads it under its own limit: the gate never buffers a large body."""
    from urllib.parse import parse_qsl

    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    body = await read_limited(request, FORM_LIMIT)
    if body is None:
        return {}
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


async def read_limited(request: Request, limit: int) -> bytes | None:
    """The request body, or None as soon as it grows past ``limit`` bytes (whatever Content-Length says)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
