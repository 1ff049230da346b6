"""Admission across job kinds: processing jobs go through training's admission control
(:mod:`.training_admission`: FIFO, all of a job's instances or none), and each kind counts the other's
running jobs, so that together they queue rather than oversubscribe the machine.

:class:`~.training_admission.Admission` reads a job's ``ResourceConfig`` (``InstanceCount``, ``InstanceType``);
a processing job says the same in ``ProcessingResources.ClusterConfig``. :func:`as_admitted` shows a processing
job under the training name, so the one admission code serves both (no copy of it per kind).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..domain.processing_state import ProcessingState
from ..domain.status import PROCESSING_ACTIVE, TRAINING_ACTIVE
from ..domain.training_state import TrainingState

PROCESSING = "processing-job"
TRAINING = "training-job"


@dataclass
class AdmittedView:
    """A job as :class:`~.training_admission.Admission` reads it: name, creation time and a ``ResourceConfig``."""

    name: str
    created: float
    doc: dict[str, Any]
    resource: Any  # the stored job


def cluster_config(doc: dict) -> dict:
    return (doc.get("ProcessingResources") or {}).get("ClusterConfig") or {}


def as_admitted(r: Any) -> AdmittedView:
    """A processing job, its ClusterConfig shown as the ResourceConfig admission reads."""
    return AdmittedView(name=r.name, created=r.created, doc={"ResourceConfig": cluster_config(r.doc)}, resource=r)


def group_name(view: Any) -> str:
    """The runner reservation of a processing job (one attempt: it is never retried)."""
    return f"{PROCESSING}/{view.name}"


def running_processing(services: Any) -> list[AdmittedView]:
    """The processing jobs that hold their hosts now (started, not yet finished), as admission counts them."""
    return [as_admitted(r) for r in services.meta.list_in_status(PROCESSING, PROCESSING_ACTIVE)
            if ProcessingState.from_doc(r.doc).hosts]


def running_training(services: Any) -> list[Any]:
    """The training jobs whose current attempt has started (they hold their instances)."""
    return [r for r in services.meta.list_in_status(TRAINING, TRAINING_ACTIVE)
            if TrainingState.from_doc(r.doc).handle]
