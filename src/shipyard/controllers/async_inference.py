"""Runs queued asynchronous inference requests (see :mod:`shipyard.serving.async_inference`).

Each tick lists the ``Pending`` and ``InProgress`` requests oldest first and starts as many as each
endpoint allows (``ClientConfig.MaxConcurrentInvocationsPerInstance`` x its instances; 4 per instance by
default) on a thread pool. A worker reads the payload (S3 or inline), POSTs it to one of the endpoint's
instances, writes the answer to ``OutputLocation`` (or the error to ``FailureLocation``) and deletes the
request. ``InProgress`` rows this process is not running are leftovers of a previous server: run again.

Why workers call the model servers directly (picking a variant and instance from the router's table)
instead of going through ``Router.invoke``: the router's connection pool belongs to the server's event
loop; these are background threads, and a plain blocking HTTP request per queued item is cheap next to it.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..domain.endpoint_state import EndpointState
from ..errors import ConflictError, MissingResource, ServiceUnavailable
from ..objectstore.base import parse_s3_uri
from ..serving.async_inference import KIND, AsyncQueue
from ..serving.deploy import http_connection, token_headers
from .base import Controller

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("shipyard.controllers.async_inference")

DEFAULT_PER_INSTANCE = 4
WORKERS = 16


class Retry(Exception):
    """No instance could take the request right now; it stays queued."""


class AsyncInferenceController(Controller):
    kind = KIND
    tick = 0.5

    def __init__(self, services: Services):
        super().__init__(services)
        self.services: Services = services
        self.router = services.router
        self.router.async_queue = AsyncQueue(services)
        self.pool = ThreadPoolExecutor(WORKERS, thread_name_prefix="async-inference")
        self._running: set[str] = set()
        self._per_endpoint: dict[str, int] = {}
        self._lock = threading.Lock()

    def reconcile_all(self) -> None:
        rows = sorted(self.services.meta.list_in_status(KIND, ("Pending", "InProgress")), key=lambda r: r.created)
        endpoints: dict[str, object] = {}
        now = time.time()
        for r in rows:
            if r.name in self._running:
                continue
            ep_name = r.doc["EndpointName"]
            if ep_name not in endpoints:
                endpoints[ep_name] = self.services.meta.find("endpoint", ep_name)
            ep = endpoints[ep_name]
            if ep is None or ep.status in ("Failed", "Deleting"):
                self._finish(r, None, f"Endpoint {ep_name} is no longer available "
                                      f"({'deleted' if ep is None else ep.status}).")
                continue
            if now > r.doc.get("ExpiresAt", now + 1):
                self._finish(r, None, "The request expired in the queue (RequestTTLSeconds).")
                continue
            route = self.router.routes.get(ep_name.lower())
            n = sum(len(v.instances) for v in route.variants) if route is not None else 0
            if not n:
                continue  # Creating, or between deployments: wait
            spec = EndpointState.from_doc(ep.doc).spec
            client = ((spec.async_inference if spec else None) or {}).get("ClientConfig") or {}
            limit = int(client.get("MaxConcurrentInvocationsPerInstance") or DEFAULT_PER_INSTANCE) * n
            with self._lock:
                if self._per_endpoint.get(ep_name, 0) >= limit:
                    continue
                self._per_endpoint[ep_name] = self._per_endpoint.get(ep_name, 0) + 1
                self._running.add(r.name)
            if r.status == "Pending":
                try:
                    self.services.meta.update(KIND, r.name, status="InProgress", expect_status={"Pending"})
                except (ConflictError, MissingResource):
                    self._release(r)
                    continue
            self.pool.submit(self._work, r)

    def _release(self, r) -> None:
        with self._lock:
            self._running.discard(r.name)
            ep = r.doc["EndpointName"]
            self._per_endpoint[ep] = max(0, self._per_endpoint.get(ep, 1) - 1)

    def _work(self, r) -> None:
        try:
            body, ctype = self._invoke(r)
            self._finish(r, (body, ctype), None)
        except Retry:
            try:
                self.services.meta.update(KIND, r.name, status="Pending")
            except MissingResource:
                pass
        except Exception as e:  # noqa: BLE001 - every failure goes to the failure location
            log.warning("async inference %s failed: %s", r.doc.get("InferenceId"), e)
            self._finish(r, None, str(getattr(e, "message", None) or e))
        finally:
            self._release(r)
            self.services.wake(KIND)

    def _payload(self, r) -> bytes:
        if r.doc.get("_body") is not None:
            return base64.b64decode(r.doc["_body"])
        bucket, key = parse_s3_uri(r.doc["InputLocation"])
        return self.services.objects.get_bytes(bucket, key)

    def _invoke(self, r) -> tuple[bytes, str]:
        doc = r.doc
        payload = self._payload(r)
        route = self.router.routes.get(doc["EndpointName"].lower())
        if route is None:
            raise Retry()
        try:
            variant = route.pick(None)
        except ServiceUnavailable:
            raise Retry() from None
        headers = {"Content-Type": doc.get("ContentType") or "application/octet-stream",
                   "X-Amzn-SageMaker-Inference-Id": doc["InferenceId"]}
        if doc.get("Accept"):
            headers["Accept"] = doc["Accept"]
        if doc.get("CustomAttributes"):
            headers["X-Amzn-SageMaker-Custom-Attributes"] = doc["CustomAttributes"]
        for host, port, token in variant.next_instances():
            conn = http_connection(host, port, float(doc.get("InvocationTimeoutSeconds", 900)))  # TCP or a socket
            try:
                conn.request("POST", "/invocations", payload, {**headers, **token_headers(token)})
                resp = conn.getresponse()
                status, body, ctype = resp.status, resp.read(), resp.getheader("Content-Type", "")
            except ConnectionRefusedError:
                continue  # being replaced: try the next instance
            finally:
                conn.close()
            if status >= 400:
                raise RuntimeError(f"Received {'client' if status < 500 else 'server'} error ({status}) from "
                                   f"{variant.name} with message \"{body.decode('utf-8', 'replace')}\".")
            return body, ctype or "application/octet-stream"
        raise Retry()

    def _finish(self, r, result: tuple[bytes, str] | None, error: str | None) -> None:
        objects = self.services.objects
        try:
            if result is not None:
                bucket, key = parse_s3_uri(r.doc["OutputLocation"])
                objects.put_object(bucket, key, result[0], content_type=result[1])
            else:
                bucket, key = parse_s3_uri(r.doc["FailureLocation"])
                objects.put_object(bucket, key, (error or "failed").encode(), content_type="text/plain")
        except Exception:  # noqa: BLE001 - e.g. the bucket is gone: keep the request, retry next tick
            log.exception("async inference %s: could not write its result", r.doc.get("InferenceId"))
            return
        try:
            self.services.meta.delete(KIND, r.name)
        except MissingResource:
            pass

    def shutdown(self) -> None:
        """Leave queued and running requests in the store: the next server picks them up."""
        self.pool.shutdown(wait=False, cancel_futures=True)
