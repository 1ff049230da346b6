"""Usage metering: every tick, bring the usage intervals in line with what runs (:mod:`shipyard.usage.meter`).

It watches the other kinds' records rather than being told by them, so no other controller carries a metering
hook, and a restart simply resumes: the intervals and the resources' own times are all in the store.
"""

from __future__ import annotations

import time

from ..usage import store
from ..usage.meter import Meter
from .base import Controller


class UsageController(Controller):
    kind = store.KIND
    tick = 2.0  # a job's edges are its own times; only an endpoint's scaling edges depend on this

    def __init__(self, services):
        super().__init__(services)
        self.meter = Meter(services.meta, stale=max(15.0, 5 * self.tick))

    def reconcile_all(self) -> None:
        self.meter.pass_once(time.time())
