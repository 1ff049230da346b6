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

Both steps change the endpoint's ``_instances`` while holding the hosting controller's per-endpoint busy
mark, so they never interleave with its create/update/heal steps for the same endpoint.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from contextlib import contextmanager

from ..errors import ServiceUnavailable
from .containers import prepare_variant
from .deploy import start_instance, startup_timeout, wait_ready

log = logging.getLogger("shipyard.serving.serverless")

KIND = "endpoint"


def idle_seconds() -> float:
    return float(os.environ.get("SHIPYARD_SERVERLESS_IDLE_SECONDS", "300"))


class ServerlessManager:
    def __init__(self, services, router):
        self.services = services
        self.router = router
        self.idle = idle_seconds()
        self.endpoints: dict[str, str] = {}  # lower-case name -> name, serverless endpoints in service
        self.cold_starts: list[float] = []
        self._activity: dict[tuple[str, str], tuple[int, float]] = {}  # (endpoint, variant) -> (count, when)
        self._starting: dict[str, asyncio.Future] = {}

    # --- which endpoints are serverless ---
    @staticmethod
    def serverless_variants(doc: dict) -> list[dict]:
        return [v for v in (doc.get("_spec") or {}).get("variants", []) if v.get("serverless")]

    def refresh(self) -> list:
        rows = [r for r in self.services.meta.list_in_status(KIND, ("InService",)) if self.serverless_variants(r.doc)]
        self.endpoints = {r.name.lower(): r.name for r in rows}
        return rows

    # --- the hosting controller's per-endpoint mark ---
    def _hosting(self):
        loop = self.services.controllers
        for c in getattr(loop, "controllers", []):
            if type(c).__name__ == "HostingController":
                return c
        raise ServiceUnavailable("The hosting controller is not running.")

    @contextmanager
    def _exclusive(self, ctrl, name: str, wait: float):
        deadline = time.monotonic() + wait
        while True:
            with ctrl._lock:
                if name not in ctrl._busy:
                    ctrl._busy.add(name)
                    break
            if time.monotonic() > deadline:
                raise TimeoutError(f"endpoint {name} is busy")
            time.sleep(0.02)
        try:
            yield
        finally:
            with ctrl._lock:
                ctrl._busy.discard(name)

    # --- cold start (router side) ---
    async def wake(self, endpoint_name: str) -> bool:
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
        ctrl = self._hosting()
        meta = self.services.meta
        with self._exclusive(ctrl, name, 120.0):
            r = meta.get(KIND, name)
            if r.status != "InService":
                raise ServiceUnavailable(f"endpoint is {r.status}")
            instances = {k: list(v) for k, v in (r.doc.get("_instances") or {}).items()}
            prepared = dict(r.doc.get("_prepared") or {})
            started = []
            try:
                for v in self.serverless_variants(r.doc):
                    if instances.get(v["name"]):
                        continue
                    vdir = ctrl._home(name) / v["name"]
                    p = prepared.get(v["name"])
                    if p is None or not os.path.exists(p["model_dir"]):
                        p = prepared[v["name"]] = prepare_variant(self.services, v, vdir, int(r.doc.get("_gen", 0)))
                    handle, inst = start_instance(self.services.runner, name, v["name"], p, vdir)
                    ctrl._handles[handle.id] = handle
                    started.append((handle, inst, v))
                meta.update(KIND, name, {"_starting": [i for _, i, _ in started]})
                for handle, inst, v in started:
                    wait_ready(handle, inst["host"], inst["port"], startup_timeout(v), token=inst.get("token"))
                    instances.setdefault(v["name"], []).append(inst)
                r = meta.update(KIND, name, {"_instances": instances, "_prepared": prepared, "_starting": None,
                                             "ProductionVariants": ctrl._variants_summary(r.doc["_spec"], instances)},
                                expect_status={"InService"})
            except BaseException:
                ctrl._stop([i for _, i, _ in started])
                raise
            ctrl._publish(name, r.doc)
        seconds = time.perf_counter() - t0
        for _, _, v in started:
            self._activity.pop((name, v["name"]), None)  # idle time counts from the next tick
        self.cold_starts.append(seconds)
        log.info("serverless endpoint %s: cold start took %.3f s", name, seconds)
        return seconds

    # --- idle scale-down (controller side) ---
    def scale_idle_down(self) -> None:
        now = time.monotonic()
        for r in self.refresh():
            instances = r.doc.get("_instances") or {}
            idle_variants = []
            for v in self.serverless_variants(r.doc):
                if not instances.get(v["name"]):
                    continue
                m = self.router.metrics.find(r.name, v["name"])
                count = m.invocations if m is not None else 0
                key = (r.name, v["name"])
                seen = self._activity.get(key)
                if seen is None or seen[0] != count or (m is not None and m.in_flight > 0):
                    self._activity[key] = (count, now)
                elif now - seen[1] >= self.idle:
                    idle_variants.append(v["name"])
            if idle_variants:
                threading.Thread(target=self._scale_down, args=(r.name, idle_variants), daemon=True,
                                 name=f"serverless-down-{r.name}").start()

    def _scale_down(self, name: str, variants: list[str]) -> None:
        ctrl = self._hosting()
        meta = self.services.meta
        try:
            with self._exclusive(ctrl, name, 0.0):
                r = meta.get(KIND, name)
                if r.status != "InService":
                    return
                instances = {k: list(v) for k, v in (r.doc.get("_instances") or {}).items()}
                removed = [i for vname in variants for i in instances.pop(vname, [])]
                for vname in variants:
                    instances[vname] = []
                r = meta.update(KIND, name, {"_instances": instances,
                                             "ProductionVariants": ctrl._variants_summary(r.doc["_spec"], instances)},
                                expect_status={"InService"})
                ctrl._publish(name, r.doc)  # no new request reaches them from here on
                ctrl._stop(removed, wait=15.0)  # SIGTERM: requests in progress finish first
                for vname in variants:
                    self._activity.pop((name, vname), None)
                log.info("serverless endpoint %s: variants %s idle for %g s, scaled to zero", name,
                         ", ".join(variants), self.idle)
        except TimeoutError:
            pass  # the hosting controller is working on it; the next tick looks again
        except Exception:  # noqa: BLE001
            log.exception("serverless endpoint %s: scale-down failed", name)
