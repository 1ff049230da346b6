"""Controllers (reconcilers): make the world match what the metadata store says should be happening.

A controller handles one resource kind. The loop calls ``reconcile_all`` on every tick (and at once when
woken, and at start-up), so a restart simply resumes: there is no in-memory state that matters. Each
controller must be idempotent: reconciling twice does no harm. A failure reconciling one resource is logged
and retried next tick; it never stops the loop.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("shipyard.controllers")


class Controller:
    kind: str = ""
    tick: float = 0.5  # seconds between reconciles when nothing wakes us

    def __init__(self, services: Any):
        self.services = services

    def reconcile_all(self) -> None:
        raise NotImplementedError

    def shutdown(self) -> None:
        """Server is stopping: release in-memory things; never stop running work."""


class ControllerLoop:
    """One thread per controller, each woken by ``wake(kind)`` or its tick."""

    def __init__(self, controllers: list[Controller]):
        self.controllers = controllers
        self._events: dict[str, threading.Event] = {}
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    def start(self) -> None:
        for c in self.controllers:
            ev = self._events.setdefault(c.kind, threading.Event())
            t = threading.Thread(target=self._run, args=(c, ev), name=f"controller-{c.kind}", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self, kind: str) -> None:
        ev = self._events.get(kind)
        if ev is not None:
            ev.set()

    def _run(self, c: Controller, ev: threading.Event) -> None:
        while not self._stop.is_set():
            ev.clear()
            try:
                c.reconcile_all()
            except Exception:  # a bug in one reconcile must not kill the loop
                log.exception("controller %s failed; retrying next tick", c.kind)
            ev.wait(c.tick)

    def stop(self) -> None:
        self._stop.set()
        for ev in self._events.values():
            ev.set()
        for t in self._threads:
            t.join(timeout=5)
        for c in self.controllers:
            try:
                c.shutdown()
            except Exception:
                log.exception("controller %s shutdown failed", c.kind)
