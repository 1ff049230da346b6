"""The monitoring controller: fires monitoring schedules and follows their executions.

Every tick (and when a schedule changes) it

- takes up ``Pending`` schedules (created, updated or restarted): ``Scheduled`` with their first fire time
  (:func:`shipyard.resources.monitoring_schedule.activate`);
- fires each ``Scheduled`` schedule whose fire time has passed, once (:func:`~shipyard.resources.
  monitoring_schedule.fire_due`: the execution is recorded, the next fire time moves past now);
- starts the processing job of each ``Pending`` execution, through the same function a CreateProcessingJob
  request uses (:func:`shipyard.resources.monitoring_execution.start_processing`), and wakes the processing
  controller;
- follows each running execution's processing job to its outcome (Completed, CompletedWithViolations, Failed,
  Stopped); an outcome is announced (an event in ``/shipyard/events`` and to the webhooks) and, where violations
  fired and the schedule's tags name a pipeline, that pipeline is started
  (:mod:`shipyard.resources.monitoring_events`) before the outcome is recorded.

Everything it knows is in the store, so a restarted server resumes where it stopped; a fire time missed while it
was down runs once when it starts. The processing controller runs the jobs: this one only decides and records.
"""

from __future__ import annotations

import logging
import time

from ..errors import ConflictError, MissingResource
from ..resources import monitoring_execution as executions
from ..resources import monitoring_schedule as schedules
from ..resources.processing_job import KIND as PROCESSING_KIND
from .base import Controller

log = logging.getLogger("shipyard.controllers.monitoring")


class MonitoringController(Controller):
    kind = schedules.KIND
    tick = 1.0
    busy_tick = 0.5

    def reconcile_all(self) -> None:
        now = time.time()
        for r in schedules.active(self.services):
            self._guard(r.name, self._schedule, r, now)
        running = executions.active(self.services)
        for r in running:
            self._guard(r.name, self._execution, r)
        self.tick = self.busy_tick if running else type(self).tick

    def _guard(self, name: str, fn, *args) -> None:
        try:
            fn(*args)
        except (MissingResource, ConflictError):
            pass  # deleted or changed meanwhile: the next tick reads it again
        except Exception:  # noqa: BLE001 - one schedule's trouble must not stop the others
            log.exception("monitoring: reconciling %s failed; retrying next tick", name)

    def _schedule(self, r, now: float) -> None:
        if r.status == "Pending":
            schedules.activate(self.services, r, now)
            r = self.services.meta.get(schedules.KIND, r.name)
        execution = schedules.fire_due(self.services, r, now)
        if execution is not None and execution.status == "Pending":
            self._execution(execution)

    def _execution(self, r) -> None:
        if r.status == "Pending":
            schedule = self.services.meta.find(schedules.KIND, r.doc["MonitoringScheduleName"])
            if schedule is None:
                self.services.meta.update(executions.KIND, r.name, {"FailureReason": "The schedule was deleted."},
                                          status="Failed", expect_status={"Pending"})
                return
            executions.start_processing(self.services, r, schedules.job_of(self.services, schedule), schedule.name)
            self.services.wake(PROCESSING_KIND)
        else:
            executions.follow(self.services, r)
