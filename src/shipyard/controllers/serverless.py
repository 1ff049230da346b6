"""Scales idle serverless variants to zero (see :mod:`shipyard.serving.serverless`) and wires the router's
cold-start hook. Checks once a second; the scale-down itself runs on its own thread.

The scaling itself is the hosting controller's: the manager gets its public interface (``services.hosting``,
set when the hosting controller is built, which ``controllers.CONTROLLERS`` lists before this one) explicitly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..serving.serverless import ServerlessManager
from .base import Controller

if TYPE_CHECKING:
    from ..context import Services


class ServerlessController(Controller):
    kind = "serverless"
    tick = 1.0

    def __init__(self, services: Services):
        super().__init__(services)
        if services.hosting is None:
            raise RuntimeError("The serverless controller needs the hosting controller: build HostingController "
                               "first (controllers.CONTROLLERS lists it earlier).")
        self.manager = ServerlessManager(services.meta, services.router, services.hosting)
        services.extras["serverless"] = self.manager
        services.router.wake_hook = self.manager.wake
        try:
            self.manager.refresh()  # cold starts work straight after a server restart
        except Exception:  # noqa: BLE001 - a store hiccup at start-up: the first tick retries
            pass

    def reconcile_all(self) -> None:
        self.manager.scale_idle_down()
