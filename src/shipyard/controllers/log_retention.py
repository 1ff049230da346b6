"""Delete log events older than their group's retention (CloudWatch Logs' PutRetentionPolicy).

Reads already hide expired events (:func:`shipyard.resources.log_group.cutoff`); this controller frees their
space. It runs on a slow tick and at once when a policy is put (``services.wake("log-group")``); a sweep is
one DELETE per group with a policy, so running it again finds nothing to do.
"""

from __future__ import annotations

import logging

from ..resources import log_group
from .base import Controller

log = logging.getLogger("shipyard.controllers.log_retention")


class LogRetentionController(Controller):
    kind = log_group.KIND
    tick = 300.0  # seconds; retention is counted in days, so a few minutes late is nothing

    def reconcile_all(self) -> None:
        gone = log_group.sweep(self.services.meta)
        if gone:
            log.info("log retention: deleted %d expired log events", gone)
