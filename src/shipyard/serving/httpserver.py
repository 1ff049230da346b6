"""A minimal HTTP/1.1 server on ``asyncio.Protocol`` + ``httptools``: keep-alive, pipelining, TCP_NODELAY.

Why not an ASGI server: a model server answers two routes, and at one-row payloads the framework layers
(scope dicts, receive/send coroutines, middleware) cost more than the prediction. Here a request is parsed
by httptools' C parser, handed to ``app(method, path, headers, body)`` synchronously, and the response is
written in one ``transport.write``. Requests whose ``app.offload(...)`` says so (big payloads) run in a
worker thread, with reading paused so responses keep their order on the connection.

Given a ``token``, every request must carry it in ``X-Shipyard-Token`` (see :mod:`.model_server`): the value is
kept as bytes, compared with :func:`hmac.compare_digest` once the headers are in, and a request without it is
answered ``403`` with the connection closed; its body is dropped as it arrives and the app never sees it.

A server may listen on a Unix socket instead of a TCP port (:meth:`HttpServer.start_unix`): a model server of a
model with ``EnableNetworkIsolation`` has a private network namespace, where no port of its can be reached from
the host, but a socket file in its (bind-mounted) folder can. Its address is written ``unix:<path>``
(:data:`UNIX_PREFIX`); :func:`unix_address` makes a long path fit the 108 bytes a socket address holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any, Callable

import httptools

log = logging.getLogger("shipyard.serving")

TOKEN_HEADER = "x-shipyard-token"  # the per-instance secret the router (or a transform's client) sends
_DENIED = b"This model server answers its endpoint's router only (missing or wrong X-Shipyard-Token)."
_LINGER_SECONDS = 10.0  # how long a refused request may go on sending its body before the connection closes

REASONS = {200: "OK", 204: "No Content", 400: "Bad Request", 403: "Forbidden", 404: "Not Found",
           405: "Method Not Allowed",
           413: "Payload Too Large", 415: "Unsupported Media Type", 424: "Failed Dependency",
           500: "Internal Server Error", 503: "Service Unavailable", 507: "Insufficient Storage"}

Response = tuple[int, list[tuple[str, str]], bytes]

UNIX_PREFIX = "unix:"  # an instance host naming a Unix socket (its port is 0): "unix:/path/to/socket"
_SUN_PATH_MAX = 100  # sockaddr_un holds 108 bytes with the terminating NUL; keep a margin


@contextlib.contextmanager
def unix_address(path: str) -> Iterator[str]:
    """``path`` as an address ``bind``/``connect`` accept: as is when short, else through a descriptor of its
    folder (``/proc/self/fd/<n>/<name>``), valid while the block runs. An endpoint's folder (home, endpoint
    and variant names of up to 63 characters each) easily passes the limit."""
    if len(os.fsencode(path)) <= _SUN_PATH_MAX:
        yield path
        return
    folder, name = os.path.split(path)
    fd = os.open(folder or ".", os.O_PATH | os.O_DIRECTORY)
    try:
        yield f"/proc/self/fd/{fd}/{name}"
    finally:
        os.close(fd)


class Request:
    __slots__ = ("method", "path", "headers", "body", "keep_alive", "denied")

    def __init__(self, method: str, path: str, headers: dict[str, str], body: bytes, keep_alive: bool,
                 denied: bool = False):
        self.method, self.path, self.headers, self.body, self.keep_alive = method, path, headers, body, keep_alive
        self.denied = denied  # no valid token: answered 403 without reaching the app


def render(status: int, headers: list[tuple[str, str]], body: bytes, keep_alive: bool) -> bytes:
    head = [f"HTTP/1.1 {status} {REASONS.get(status, 'Status')}", f"Content-Length: {len(body)}"]
    head.extend(f"{k}: {v}" for k, v in headers)
    if not keep_alive:
        head.append("Connection: close")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


class HttpProtocol(asyncio.Protocol):
    def __init__(self, server: "HttpServer"):
        self.server = server
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.queue: collections.deque[Request] = collections.deque()
        self.busy = False
        self.closing = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self._token: bytes | None = None
        self._denied = False

    # --- connection ---
    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass
        self.server.connections.add(self)

    def connection_lost(self, exc) -> None:
        self.server.connections.discard(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._send(400, [], b"Upgrade is not supported.", False)
            return
        except httptools.HttpParserError as e:
            self._send(400, [("Content-Type", "text/plain")], f"Bad HTTP request: {e}".encode(), False)
            return
        if not self.busy:
            self._drain()

    # --- httptools callbacks ---
    def on_message_begin(self) -> None:
        self._url = b""
        self._headers = {}
        self._body = []
        self._token = None
        self._denied = False

    def on_url(self, url: bytes) -> None:
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        if key == TOKEN_HEADER:  # kept as bytes, never shown to the app
            self._token = value if self._token is None else self._token + value
            return
        text = value.decode("latin-1")
        self._headers[key] = f"{self._headers[key]},{text}" if key in self._headers else text

    def on_headers_complete(self) -> None:
        token = self.server.token
        if token is not None and (self._token is None or not hmac.compare_digest(self._token, token)):
            self._denied = True
            if not self.busy and not self.queue and self.transport is not None and not self.closing:
                # Nothing before it to answer: refuse now, then read (and drop) the body before closing, so a
                # client still sending it reads the 403 rather than a reset (a "lingering close", bounded).
                self.transport.write(render(403, [("Content-Type", "text/plain")], _DENIED, False))
                self.closing = True
                asyncio.get_running_loop().call_later(_LINGER_SECONDS, self._close_now)

    def on_body(self, body: bytes) -> None:
        if not self._denied:  # a refused request's body is never kept
            self._body.append(body)

    def on_message_complete(self) -> None:
        if self.closing:  # refused early: the body was read only to be dropped
            self._close_now()
            return
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        path = self._url.decode("latin-1").split("?", 1)[0]
        self.queue.append(Request(self.parser.get_method().decode("latin-1"), path, self._headers, body,
                                  self.parser.should_keep_alive(), self._denied))

    # --- dispatch ---
    def _drain(self) -> None:
        app = self.server.app
        while self.queue and self.transport is not None:
            req = self.queue.popleft()
            if req.denied:
                self._send(403, [("Content-Type", "text/plain")], _DENIED, False)
                return
            if app.offload(req):
                self.busy = True
                self.transport.pause_reading()
                fut = asyncio.get_running_loop().run_in_executor(self.server.executor, self._call, req)
                fut.add_done_callback(lambda f, r=req: self._finish(r, f))
                return
            status, headers, body = self._call(req)
            self._send(status, headers, body, req.keep_alive and not self.server.stopping)

    def _call(self, req: Request) -> Response:
        try:
            return self.server.app(req)
        except Exception:  # noqa: BLE001 - never let a bug kill the connection loop
            log.exception("request %s %s failed", req.method, req.path)
            return 500, [("Content-Type", "text/plain")], b"Internal server error."

    def _finish(self, req: Request, fut: asyncio.Future) -> None:
        self.busy = False
        try:
            status, headers, body = fut.result()
        except Exception:  # noqa: BLE001
            status, headers, body = 500, [("Content-Type", "text/plain")], b"Internal server error."
        self._send(status, headers, body, req.keep_alive and not self.server.stopping)
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()
            self._drain()

    def _send(self, status: int, headers, body: bytes, keep_alive: bool) -> None:
        if self.transport is None or self.closing:
            return
        self.transport.write(render(status, headers, body, keep_alive))
        if not keep_alive:
            self.closing = True
            self.transport.close()

    def _close_now(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def close_if_idle(self) -> None:
        if not self.busy and not self.queue and self.transport is not None:
            self.closing = True
            self.transport.close()


class HttpServer:
    """Serves ``app`` (an object with ``__call__(Request) -> Response`` and ``offload(Request) -> bool``);
    with ``token``, only to requests that carry it (``X-Shipyard-Token``)."""

    def __init__(self, app: Any, executor=None, token: bytes | None = None):
        self.app = app
        self.token = token or None
        self.executor = executor
        self.connections: set[HttpProtocol] = set()
        self.stopping = False
        self._server: asyncio.base_events.Server | None = None
        self._unix_path = ""

    async def start(self, host: str, port: int) -> int:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: HttpProtocol(self), host, port, reuse_address=True,
                                                backlog=1024)
        return self._server.sockets[0].getsockname()[1]

    async def start_unix(self, path: str) -> str:
        """Listen on a Unix socket at ``path`` (a stale file there is replaced); the socket is removed on stop."""
        loop = asyncio.get_running_loop()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            with unix_address(path) as address:
                sock.bind(address)
            self._server = await loop.create_unix_server(lambda: HttpProtocol(self), sock=sock, backlog=1024)
        except BaseException:
            sock.close()
            raise
        self._unix_path = path
        return path

    async def stop(self, grace: float = 10.0) -> None:
        """Stop accepting, let requests in progress finish (up to ``grace``), close every connection."""
        self.stopping = True
        if self._server is not None:
            self._server.close()
        if self._unix_path:
            with contextlib.suppress(OSError):
                os.unlink(self._unix_path)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        while True:
            for conn in list(self.connections):
                conn.close_if_idle()
            if not self.connections or loop.time() > deadline:
                break
            await asyncio.sleep(0.02)


def run_forever(coro_factory: Callable[[], Any]) -> None:
    """Run the server's main coroutine on uvloop when installed (it is, with uvicorn[standard])."""
    try:
        import uvloop

        uvloop.run(coro_factory())
    except ImportError:
        asyncio.run(coro_factory())
