"""Projects: provision a new project, run a live one, remove a deleted one.

Every tick reads the store (a restart resumes): ``CreateInProgress`` is provisioned
(:func:`shipyard.resources.project.provision`) to ``CreateCompleted``, or ``CreateFailed`` with the reason in
ProvisionedProductStatusMessage; a live project is run (a building project's new commits start its pipeline, a
deployment project's approvals move its endpoints); ``DeleteInProgress`` is deprovisioned and its record removed
(a failure leaves it ``DeleteFailed`` with the reason, and DeleteProject may be called again).
"""

from __future__ import annotations

import logging

from ..errors import ShipyardError
from ..metastore.base import Resource
from ..projects import templates
from ..resources import project
from .base import Controller

log = logging.getLogger("shipyard.controllers.project")


def _reason(e: Exception) -> str:
    return e.message if isinstance(e, ShipyardError) else f"{type(e).__name__}: {e}"


class ProjectController(Controller):
    kind = project.KIND
    tick = 1.0

    def reconcile_all(self) -> None:
        for r in self.services.meta.list_in_status(project.KIND, ("CreateInProgress", "DeleteInProgress",
                                                                  *project.LIVE)):
            try:
                if r.status == "CreateInProgress":
                    self._create(r)
                elif r.status == "DeleteInProgress":
                    self._delete(r)
                else:
                    self._run(r)
            except Exception as e:  # one project's failure must not stop the others
                log.exception("project %s (%s): %s", r.name, r.status, e)

    def _create(self, r: Resource) -> None:
        meta = self.services.meta
        try:
            created = project.provision(self.services, r)
        except Exception as e:  # noqa: BLE001 - recorded as the project's failure
            meta.update(project.KIND, r.name, {"_message": f"Provisioning failed: {_reason(e)}"},
                        status="CreateFailed", expect_status=("CreateInProgress",))
            return
        meta.update(project.KIND, r.name, {"_created": created, "_message": "Provisioned"},
                    status="CreateCompleted", expect_status=("CreateInProgress",))
        self.services.wake(project.KIND)

    def _run(self, r: Resource) -> None:
        if project.product_of(r.doc) == templates.BUILD:
            started = project.run_build(self.services, r)
            if started:
                log.info("project %s: a new commit started %s", r.name, started)
        else:
            for stage in project.run_deploy(self.services, r):
                log.info("project %s: deployed to %s", r.name, stage)

    def _delete(self, r: Resource) -> None:
        try:
            project.deprovision(self.services, r)
        except Exception as e:  # noqa: BLE001 - recorded; DeleteProject may be called again
            self.services.meta.update(project.KIND, r.name, {"_message": f"Deletion failed: {_reason(e)}"},
                                      status="DeleteFailed", expect_status=("DeleteInProgress",))
            return
        self.services.meta.delete(project.KIND, r.name)
