"""What happens to every job, told to whoever records it: experiment tracking (a trial component per job) and
lineage (the job's inputs and outputs as artifacts and associations).

A job's resource module calls :func:`job_created` once the job's row exists, and its controller calls
:func:`job_finished` once the job reached a final status. Each listener module (``LISTENERS``, skipped while
it is not written) defines ``on_job(services, event, kind, resource)``; a listener's error is logged, never
raised: recording a job must not fail the job.
"""

from __future__ import annotations

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..context import Services
    from ..metastore.base import Resource

log = logging.getLogger("shipyard.resources.job_events")

# Modules with ``on_job(services, event, kind, resource)``; a module not written yet is skipped.
LISTENERS = [
    "shipyard.experiments.tracking",
    "shipyard.lineage.auto",
]

_loaded: list[Any] | None = None


def _listeners() -> list[Any]:
    global _loaded
    if _loaded is None:
        found = []
        for name in LISTENERS:
            try:
                found.append(importlib.import_module(name))
            except ModuleNotFoundError as e:
                if e.name != name:
                    raise
        _loaded = found
    return _loaded


def _tell(services: Services, event: str, kind: str, resource: Resource) -> None:
    for module in _listeners():
        try:
            module.on_job(services, event, kind, resource)
        except Exception:  # noqa: BLE001 - a recorder's failure is logged; the job goes on
            log.exception("%s could not record %s of %s %s", module.__name__, event, kind, resource.name)


def job_created(services: Services, kind: str, resource: Resource) -> None:
    """``kind`` is the store kind (``training-job``, ``processing-job``, ``transform-job``)."""
    _tell(services, "created", kind, resource)


def job_finished(services: Services, kind: str, resource: Resource) -> None:
    """Called once per job with its final document (Completed, Failed or Stopped)."""
    _tell(services, "finished", kind, resource)
