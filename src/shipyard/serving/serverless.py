"""Serverless variants (``ProductionVariant.ServerlessConfig``): scale to zero when idle, start on demand.

- At CreateEndpoint a serverless variant starts one instance like any other (so a model that cannot load
  fails the endpoint at once, as an instance-based one would).
- Idle: :meth:`ServerlessManager.scale_idle_down` (called by :mod:`shipyard.controllers.serverless` every
  second) reads the router's per-variant counters; a variant with no request for
  ``SHIPYARD_SERVERLESS_IDLE_SECONDS`` (default 300) and none in flight has its instances unpublished,
  recorded away and stopped. The endpoint stays ``InService`` with zero instances.
- Cold start: the router raises ServiceUnavailable when a route has no instance; for a serverless endpoint
  its ``wake_hook`` (:meth:`ServerlessManager.wake`) starts one instance per scaled-to-zero variant on a
  thread and the request waits for it (bounded by the variant's startup timeout), then is routed as usual.
  Concurrent cold requests share one start. Each cold start's duration is logged and kept in
  ``cold_starts`` (``bench/bench_serverless.py`` reports it).

Both steps go through the hosting controller's public interface (:class:`EndpointHost`, passed in
explicitly: ``services.hosting``), which owns endpoint instances and holds its per-endpoint busy mark while it
changes them, so they never interleave with its create/update/heal steps for the same endpoint. This module
decides *when* (idle detection, cold-start coalescing, timing); the hosting controller does *how*.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from ..domain.endpoint_state import EndpointState
from ..errors import ServiceUnavailable

if TYPE_CHECKING:
    from ..metastore.base import MetaStore
    from .router import Router

log = logging.getLogger("shipyard.serving.serverless")

KIND = "endpoint"


def idle_seconds() -> float:
    return float(os.environ.get("SHIPYARD_SERVERLESS_IDLE_SECONDS", "300"))


class EndpointHost(Protocol):
    """What serverless scaling needs from the owner of endpoint instances (the hosting controller)."""

    def scale_up(self, endpoint: str, variants: Sequence[str], count: int = 1, wait: float = 120.0) -> list[str]:
        """Start instances until each variant has ``count``; published before it returns. Returns the variants
        it started instances for."""
        ...

    def scale_down(self, endpoint: str, variants: Sequence[str], wait: float = 0.0, drain: float = 15.0) -> bool:
        """Unpublish, record and stop every instance of ``variants``; False when the endpoint is busy."""
        ...


class ServerlessManager:
    def __init__(self, meta: MetaStore, router: Router, host: EndpointHost, idle: float | None = None):
        self.meta = meta
        self.router = router
        self.host = host
        self.idle = idle_seconds() if idle is None else idle
        self.endpoints: dict[str, str] = {}  # lower-case name -> name, serverless endpoints in service
        self.cold_starts: list[float] = []
        self._activity: dict[tuple[str, str], tuple[int, float]] = {}  # (endpoint, variant) -> (count, when)
        self._starting: dict[str, asyncio.Future] = {}

    # --- which endpoints are serverless ---
    @staticmethod
    def serverless_variants(doc: dict) -> list[str]:
        """The names of the endpoint's variants that scale to zero (those with a ServerlessConfig)."""
        spec = EndpointState.from_doc(doc).spec
        return [v.name for v in spec.serverless_variants] if spec is not None else []

    def refresh(self) -> list:
        rows = [r for r in self.meta.list_in_status(KIND, ("InService",)) if self.serverless_variants(r.doc)]
        self.endpoints = {r.name.lower(): r.name for r in rows}
        return rows

    # --- cold start (router side) ---
    async def wake(self, endpoint_name: str) -> bool:
        name = self.endpoints.get(endpoint_name.lower())
        if name is None:  # not seen yet (in service since the last tick): ask the store once, off the loop
            await asyncio.get_running_loop().run_in_executor(None, self.refresh)
            name = self.endpoints.get(endpoint_name.lower())
        if name is None:
            return False
        fut = self._starting.get(name)
        if fut is None:
            fut = asyncio.get_running_loop().run_in_executor(None, self._scale_up, name)
            self._starting[name] = fut
            fut.add_done_callback(lambda _f, n=name: self._starting.pop(n, None))
        try:
            await asyncio.shield(fut)
        except Exception as e:  # noqa: BLE001 - the caller gets a 503 saying why
            raise ServiceUnavailable(f"Endpoint {endpoint_name} could not start an instance: {e}") from None
        return True

    def _scale_up(self, name: str) -> float:
        t0 = time.perf_counter()
        r = self.meta.get(KIND, name)
        variants = self.serverless_variants(r.doc)
        started = self.host.scale_up(name, variants, 1, wait=120.0)
        seconds = time.perf_counter() - t0
        for vname in started:
            self._activity.pop((name, vname), None)  # idle time counts from the next tick
        if started:
            self.cold_starts.append(seconds)
            log.info("serverless endpoint %s: cold start took %.3f s", name, seconds)
        return seconds

    # --- idle scale-down (controller side) ---
    def scale_idle_down(self) -> None:
        now = time.monotonic()
        for r in self.refresh():
            instances = EndpointState.from_doc(r.doc).instances
            idle_variants = []
            for vname in self.serverless_variants(r.doc):
                if not instances.get(vname):
                    continue
                m = self.router.metrics.find(r.name, vname)
                count = m.invocations if m is not None else 0
                key = (r.name, vname)
                seen = self._activity.get(key)
                if seen is None or seen[0] != count or (m is not None and m.in_flight > 0):
                    self._activity[key] = (count, now)
                elif now - seen[1] >= self.idle:
                    idle_variants.append(vname)
            if idle_variants:
                threading.Thread(target=self._scale_down, args=(r.name, idle_variants), daemon=True,
                                 name=f"serverless-down-{r.name}").start()

    def _scale_down(self, name: str, variants: list[str]) -> None:
        try:
            if not self.host.scale_down(name, variants, wait=0.0):
                return  # the hosting controller is working on it (or it left service): the next tick looks again
        except Exception:  # noqa: BLE001
            log.exception("serverless endpoint %s: scale-down failed", name)
            return
        for vname in variants:
            self._activity.pop((name, vname), None)
        log.info("serverless endpoint %s: variants %s idle for %g s, scaled to zero", name, ", ".join(variants),
                 self.idle)
