"""The endpoint router: InvokeEndpoint -> a variant (by weight or TargetVariant) -> an instance (round robin).

It lives in the Shipyard server process as ``services.router`` (built once, in :mod:`shipyard.context`; also
published as ``services.extras["router"]``). The hosting controller owns the
route table and replaces an endpoint's :class:`Route` whole (one dict assignment, atomic under the GIL)
whenever instances change, so a request never sees half a deployment and never reads the database.
Model servers are reached over pooled keep-alive connections (:mod:`.pool`), each request carrying the
instance's secret token (``X-Shipyard-Token``; see :mod:`.model_server`): an instance is ``(host, port, token)``,
where a host ``unix:<path>`` is the Unix socket of a model server without network (``EnableNetworkIsolation``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from time import perf_counter
from typing import TYPE_CHECKING

from ..errors import ModelError, ServiceUnavailable, ValidationError
from .metrics import MetricsRegistry, VariantMetrics
from .pool import ConnectFailed, Pool
from .shadow import ShadowMirror

if TYPE_CHECKING:
    from .async_inference import AsyncQueue

FORWARD = ("x-amzn-sagemaker-custom-attributes", "x-amzn-sagemaker-inference-id",
           "x-amzn-sagemaker-target-model", "x-amzn-sagemaker-target-container-hostname")  # MME, pipelines


@dataclass
class VariantRoute:
    name: str
    weight: float
    instances: list[tuple[str, int, str | None]]  # (host, port, token)
    _rr: itertools.count = field(default_factory=itertools.count, repr=False)
    metrics: VariantMetrics = field(default_factory=VariantMetrics, repr=False)

    def next_instances(self) -> list[tuple[str, int, str | None]]:
        n = len(self.instances)
        if n <= 1:
            return list(self.instances)
        start = next(self._rr) % n
        return self.instances[start:] + self.instances[:start]


@dataclass
class Route:
    endpoint: str
    variants: list[VariantRoute]
    shadows: list[VariantRoute] = field(default_factory=list)  # get a copy of traffic (.shadow)
    capture: object = None  # a .capture.CaptureSink when DataCaptureConfig is on

    def pick(self, target: str | None) -> VariantRoute:
        if target:
            for v in self.variants:
                if v.name == target:
                    return v
            raise ValidationError(f"The variant {target} does not exist for endpoint {self.endpoint}.")
        live = [v for v in self.variants if v.instances]
        total = sum(v.weight for v in live)
        if not live:
            raise ServiceUnavailable(f"Endpoint {self.endpoint} has no instance running.")
        if total <= 0:
            return live[0]
        x = random.random() * total
        for v in live:
            x -= v.weight
            if x < 0:
                return v
        return live[-1]


class Router:
    def __init__(self, account: str, timeout: float = 60.0):
        self.account = account
        self.routes: dict[str, Route] = {}
        self.pool = Pool(timeout)
        self.metrics = MetricsRegistry()  # per-variant counters, kept across route replacements
        self.shadow = ShadowMirror(self.pool)
        # async (endpoint) -> bool: start an instance of a scaled-to-zero (serverless) endpoint; see .serverless
        self.wake_hook: Callable[[str], Awaitable[bool]] | None = None
        self.async_queue: AsyncQueue | None = None  # InvokeEndpointAsync

    # --- route table (called by the hosting controller, from its thread) ---
    def set_route(self, endpoint: str, variants: list[tuple[str, float, list[tuple]]],
                  shadows: list[tuple[str, float, list[tuple]]] = (), capture=None) -> None:
        """Each variant is ``(name, weight, instances)``, an instance ``(host, port, token)`` (or ``(host, port)``
        for a model server started without a token)."""
        def build(specs):
            return [VariantRoute(n, float(w), [(t[0], t[1], t[2] if len(t) > 2 else None) for t in i],
                                 metrics=self.metrics.get(endpoint, n, len(i)))
                    for n, w, i in specs]

        self.routes[endpoint.lower()] = Route(endpoint, build(variants), build(shadows), capture)

    def remove(self, endpoint: str) -> None:
        self.routes.pop(endpoint.lower(), None)
        self.metrics.drop(endpoint)

    # --- the request path ---
    async def invoke(self, endpoint_name: str, body: bytes, content_type: str, accept: str,
                     headers: dict[str, str]) -> tuple[int, bytes, str, dict[str, str]]:
        fwd = [("Content-Type", content_type)]
        if accept:
            fwd.append(("Accept", accept))
        for h in FORWARD:
            if h in headers:
                fwd.append((h, headers[h]))
        seen: Route | None = None
        while True:
            route = self.routes.get(endpoint_name.lower())
            if route is None:
                raise ValidationError(f"Endpoint {endpoint_name} of account {self.account} not found.")
            if route is seen:  # nothing reachable and no newer deployment to try
                raise ServiceUnavailable(f"No instance of endpoint {endpoint_name} is reachable right now.")
            seen = route
            try:
                result = await self._try_variant(route, endpoint_name, body, fwd, headers)
            except ServiceUnavailable:  # no instance at all: a serverless endpoint starts one and we retry
                if self.wake_hook is None or not await self.wake_hook(endpoint_name):
                    raise
                continue
            if result is not None:
                return result
            # every instance refused: the route may have been switched meanwhile (blue/green); retry once

    async def _try_variant(self, route: Route, endpoint_name: str, body: bytes, fwd: list,
                           headers: dict[str, str]) -> tuple[int, bytes, str, dict[str, str]] | None:
        variant = route.pick(headers.get("x-amzn-sagemaker-target-variant"))
        metrics = variant.metrics
        start = metrics.begin()
        status, model = 0, 0.0
        try:
            for host, port, token in variant.next_instances():
                t = perf_counter()
                try:
                    status, resp_headers, resp_body = await self.pool.request(host, port, "/invocations", body,
                                                                              fwd, token)
                except ConnectFailed:  # instance gone (being replaced): the next one may answer
                    continue
                except (ConnectionError, TimeoutError) as e:
                    status, model = 500, model + perf_counter() - t
                    raise ModelError(f"Received server error (0) from {variant.name} with message \"{e}\".",
                                     500, str(e)) from None
                model += perf_counter() - t
                if status >= 400:
                    text = resp_body.decode("utf-8", "replace")
                    if resp_headers.get("x-shipyard-error") == "ValidationError":  # e.g. MME TargetModel missing
                        raise ValidationError(text, code="ValidationError")  # runtime's modeled code
                    kind = "client" if status < 500 else "server"
                    raise ModelError(f"Received {kind} error ({status}) from {variant.name} with message "
                                     f"\"{text}\". See the endpoint's logs in account {self.account} for more "
                                     "information.", status, text)
                extra = {"x-Amzn-Invoked-Production-Variant": variant.name}
                attrs = resp_headers.get("x-amzn-sagemaker-custom-attributes")
                if attrs is not None:
                    extra["X-Amzn-SageMaker-Custom-Attributes"] = attrs
                out_type = resp_headers.get("content-type", "application/octet-stream")
                if route.capture is not None:
                    route.capture.offer(variant.name, body, fwd[0][1], resp_body, out_type,
                                        headers.get("x-amzn-sagemaker-inference-id"))
                return 200, resp_body, out_type, extra
            return None
        finally:
            metrics.end(start, model, status)
            if status and route.shadows:
                self.shadow.mirror(route, body, fwd, headers.get("x-amzn-sagemaker-inference-id"))

    async def invoke_async(self, endpoint_name: str, headers: dict[str, str], body: bytes = b""):
        if self.async_queue is None:
            raise ValidationError(f"Endpoint {endpoint_name} is not an asynchronous inference endpoint.")
        return await self.async_queue.submit(endpoint_name, headers, body)

    async def aclose(self) -> None:
        await self.pool.aclose()
