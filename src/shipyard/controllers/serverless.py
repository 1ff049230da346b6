"""Scales idle serverless variants to zero (see :mod:`shipyard.serving.serverless`) and wires the router's
cold-start hook. Checks once a second; the scale-down itself runs on its own thread."""

from __future__ import annotations

from ..serving.router import Router
from ..serving.serverless import ServerlessManager
from .base import Controller


class ServerlessController(Controller):
    kind = "serverless"
    tick = 1.0

    def __init__(self, services):
        super().__init__(services)
        router = services.extras.get("router")
        if not isinstance(router, Router):
            router = Router(services.account)
            services.extras["router"] = router
        self.manager = ServerlessManager(services, router)
        services.extras["serverless"] = self.manager
        router.wake_hook = self.manager.wake
        try:
            self.manager.refresh()  # cold starts work straight after a server restart
        except Exception:  # noqa: BLE001 - a store hiccup at start-up: the first tick retries
            pass

    def reconcile_all(self) -> None:
        self.manager.scale_idle_down()
