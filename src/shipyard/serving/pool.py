"""A small asyncio HTTP/1.1 client with pooled keep-alive connections, for the router -> model server hop.

Why not httpx: on a one-row prediction its per-request machinery costs more than the model. This keeps
idle connections per (host, port), writes a request in one ``transport.write`` and parses the response
with httptools. A request that fails on a *reused* connection before any response byte arrived (the model
server closed it while idle, e.g. during a blue/green switch) is retried once on a fresh connection; one
that a fresh connection cannot deliver raises :class:`ConnectFailed`, so the router tries another instance.

A host written ``unix:<path>`` (:data:`.httpserver.UNIX_PREFIX`) is a Unix socket (port 0): how the router
reaches a model server that has no network of its own (``EnableNetworkIsolation``).
"""

from __future__ import annotations

import asyncio
import socket
from collections import defaultdict

import httptools

from .httpserver import TOKEN_HEADER, UNIX_PREFIX, unix_address

MAX_IDLE_PER_TARGET = 64


class ConnectFailed(ConnectionError):
    """The target could not be reached at all: safe to try another instance."""


class _Conn(asyncio.Protocol):
    def __init__(self):
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.future: asyncio.Future | None = None
        self.closed = False
        self.got_bytes = False
        self._headers: dict[str, str] = {}
        self._body: list[bytes] = []
        self.keep_alive = True

    def connection_made(self, transport) -> None:
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except OSError:
                pass

    def connection_lost(self, exc) -> None:
        self.closed = True
        if self.future is not None and not self.future.done():
            self.future.set_exception(ConnectionError(f"model server closed the connection: {exc or 'EOF'}"))

    def data_received(self, data: bytes) -> None:
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as e:
            if self.future is not None and not self.future.done():
                self.future.set_exception(ConnectionError(f"bad response from model server: {e}"))
            self.close()

    def on_message_begin(self) -> None:
        self._headers = {}
        self._body = []

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers[name.decode("latin-1").lower()] = value.decode("latin-1")

    def on_body(self, body: bytes) -> None:
        self._body.append(body)

    def on_message_complete(self) -> None:
        self.keep_alive = self.parser.should_keep_alive()
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        if self.future is not None and not self.future.done():
            self.future.set_result((self.parser.get_status_code(), self._headers, body))

    def send(self, data: bytes) -> asyncio.Future:
        self.future = asyncio.get_running_loop().create_future()
        self.got_bytes = False
        self.transport.write(data)
        return self.future

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()


def _expire(fut: asyncio.Future) -> None:
    if not fut.done():
        fut.set_exception(asyncio.TimeoutError())


class Pool:
    def __init__(self, timeout: float = 60.0):
        self.timeout = timeout
        self._idle: dict[tuple[str, int], list[_Conn]] = defaultdict(list)

    async def _connect(self, host: str, port: int) -> _Conn:
        loop = asyncio.get_running_loop()
        try:
            if host.startswith(UNIX_PREFIX):
                with unix_address(host[len(UNIX_PREFIX):]) as path:
                    _, conn = await asyncio.wait_for(loop.create_unix_connection(_Conn, path), 5.0)
            else:
                _, conn = await asyncio.wait_for(loop.create_connection(_Conn, host, port), 5.0)
        except (OSError, asyncio.TimeoutError) as e:
            raise ConnectFailed(f"cannot connect to {host}:{port}: {e}") from None
        return conn

    async def request(self, host: str, port: int, path: str, body: bytes, headers: list[tuple[str, str]],
                      token: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """POST ``body`` to ``path``; ``token`` is the instance's secret (``X-Shipyard-Token``, see .model_server)."""
        authority = "localhost" if host.startswith(UNIX_PREFIX) else f"{host}:{port}"
        head = [f"POST {path} HTTP/1.1", f"Host: {authority}", f"Content-Length: {len(body)}"]
        if token:
            head.append(f"{TOKEN_HEADER}: {token}")
        head.extend(f"{k}: {v}" for k, v in headers)
        data = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        key = (host, port)
        idle = self._idle[key]
        for attempt in (0, 1):
            conn = None
            while idle and attempt == 0:
                candidate = idle.pop()
                if not candidate.closed:
                    conn = candidate
                    break
            reused = conn is not None
            if conn is None:
                conn = await self._connect(host, port)
            fut = conn.send(data)
            # a timer on the future itself: asyncio.wait_for would wrap it in another future per request
            timer = fut.get_loop().call_later(self.timeout, _expire, fut)
            try:
                status, resp_headers, resp_body = await fut
            except asyncio.TimeoutError:
                conn.close()
                raise TimeoutError(f"model server {host}:{port} did not answer within {self.timeout:g} s")
            except ConnectionError as e:
                conn.close()
                if conn.got_bytes:
                    raise
                if reused and attempt == 0:
                    self.forget(host, port)  # its siblings are as stale as it was
                    continue  # stale keep-alive connection: retry once on a fresh one
                raise ConnectFailed(f"{host}:{port} closed the connection without answering: {e}") from None
            except asyncio.CancelledError:  # the caller gave up: the answer would arrive on a pooled conn
                conn.close()
                raise
            finally:
                timer.cancel()
            if conn.keep_alive and not conn.closed and len(idle) < MAX_IDLE_PER_TARGET:
                idle.append(conn)
            else:
                conn.close()
            return status, resp_headers, resp_body
        raise ConnectionError("unreachable")  # pragma: no cover

    def forget(self, host: str, port: int) -> None:
        for conn in self._idle.pop((host, port), []):
            conn.close()

    async def aclose(self) -> None:
        for conns in self._idle.values():
            for conn in conns:
                conn.close()
        self._idle.clear()
