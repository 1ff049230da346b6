"""Shadow variants: a copy of production traffic goes to them, their answers are measured and captured, never
returned.

The router calls :meth:`ShadowMirror.mirror` once a production variant has answered; it only schedules
tasks on the event loop, so the caller's response is never delayed and a shadow failure never reaches it.
As on SageMaker, the share of requests mirrored to a shadow variant is its weight over the production
weights (``ShadowProductionVariants[].InitialVariantWeight`` 1.0 next to one production variant of 1.0 means
every request). At most ``MAX_OUTSTANDING`` shadow requests are in flight; beyond that copies are dropped
and counted (``VariantMetrics.shadow_dropped``), so a slow shadow model cannot pile up work in the server.
"""

from __future__ import annotations

import asyncio
import logging
from random import random
from time import perf_counter

from .pool import ConnectFailed

log = logging.getLogger("shipyard.serving.shadow")

MAX_OUTSTANDING = 64


class ShadowMirror:
    def __init__(self, pool):
        self.pool = pool
        self._tasks: set[asyncio.Task] = set()  # strong references: the loop only keeps weak ones

    def mirror(self, route, body: bytes, fwd: list, inference_id: str | None) -> None:
        total = 0.0
        for v in route.variants:
            total += v.weight
        for shadow in route.shadows:
            if not shadow.instances:
                continue
            share = shadow.weight / total if total > 0 else 1.0
            if share < 1.0 and random() >= share:
                continue
            if len(self._tasks) >= MAX_OUTSTANDING:
                shadow.metrics.shadow_dropped += 1
                continue
            task = asyncio.get_running_loop().create_task(self._send(route, shadow, body, fwd, inference_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _send(self, route, shadow, body: bytes, fwd: list, inference_id: str | None) -> None:
        m = shadow.metrics
        start = m.begin()
        status, model = 0, 0.0
        try:
            for host, port, token in shadow.next_instances():
                t = perf_counter()
                try:
                    status, headers, out = await self.pool.request(host, port, "/invocations", body, fwd, token)
                except ConnectFailed:
                    continue
                except Exception as e:  # noqa: BLE001 - a shadow failure is counted, never raised
                    status, model = 500, model + perf_counter() - t
                    log.debug("shadow variant %s failed: %s", shadow.name, e)
                    return
                model += perf_counter() - t
                if status < 400 and route.capture is not None:
                    route.capture.offer(shadow.name, body, fwd[0][1], out, headers.get("content-type"),
                                        inference_id)
                return
        finally:
            m.end(start, model, status)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait for outstanding shadow requests (tests, shutdown)."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
