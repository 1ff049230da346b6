"""Unauthenticated, loopback-only read-outs of the router's per-variant metrics.

- ``GET /metrics``: every endpoint's variants in Prometheus' text format, for a scraper on the same host.
- ``GET /shipyard/endpoints/<name>/metrics[?samples=1]``: one endpoint as JSON (what ``shipyard endpoints
  describe`` and ``compare`` print); ``samples=1`` adds the recent model-latency samples.

Why unauthenticated: Prometheus scrapers do not sign requests with SigV4. Why loopback only: the figures
name endpoints and traffic volumes, so a server bound to a public address does not hand them out.
"""

from __future__ import annotations

import orjson

from ..serving.metrics import endpoint_metrics, render_prometheus

PROMETHEUS_TYPE = b"text/plain; version=0.0.4; charset=utf-8"


def wants(method: str, path: str, headers: dict) -> bool:
    return method == "GET" and "authorization" not in headers and (
        path == "/metrics" or (path.startswith("/shipyard/endpoints/") and path.endswith("/metrics")))


def _loopback(scope) -> bool:
    client = scope.get("client")
    host = client[0] if client else ""
    return host.startswith("127.") or host in ("::1", "localhost")


async def _reply(send, status: int, ctype: bytes, body: bytes) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


async def handle(services, scope, send) -> None:
    if not _loopback(scope):
        await _reply(send, 403, b"text/plain", b"metrics are served to loopback clients only\n")
        return
    router = services.router
    path = scope["path"]
    if path == "/metrics":
        text = render_prometheus(router)
        await _reply(send, 200, PROMETHEUS_TYPE, text.encode())
        return
    name = path[len("/shipyard/endpoints/"):-len("/metrics")].strip("/")
    samples = b"samples=1" in scope.get("query_string", b"")
    data = endpoint_metrics(router, name, samples) if name else None
    if data is None:
        body = orjson.dumps({"message": f"Endpoint {name} has no running route on this server."})
        await _reply(send, 404, b"application/json", body)
        return
    await _reply(send, 200, b"application/json", orjson.dumps(data))
