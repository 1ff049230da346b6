"""The services an operation or controller works with, built once per server process.

``Services`` is a plain holder: the settings, the metadata store, the object store, the runner, the endpoint
router and the controllers. The server builds it from :class:`~shipyard.config.Settings` (the only place that
picks concrete backends, with the CLI); tests build it the same way with their own settings.

The router is built here, once, so the hosting, serverless, async-inference and autoscaling controllers all
share the one route table instead of each building (or fishing for) its own; the runtime routes, ``/metrics``
and CloudWatch's endpoint metrics read ``services.router`` too. It is also kept as ``extras["router"]`` so that
server shutdown closes its connection pool. A plugin may replace ``services.router`` (the tests' stub router
does): the readers then call it, while the controllers keep driving the one they took when they were built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import Settings
from .metastore.base import MetaStore
from .objectstore.base import ObjectStore
from .runners.base import Runner
from .serving.router import Router

if TYPE_CHECKING:
    from .serving.serverless import EndpointHost


@dataclass
class Services:
    settings: Settings
    meta: MetaStore
    objects: ObjectStore
    runner: Runner
    controllers: Any = None           # shipyard.controllers.base.ControllerLoop
    extras: dict[str, Any] = field(default_factory=dict)  # plugin objects; "router" aliases ``router``
    router: Router = field(init=False)  # the endpoint router, built once in __post_init__
    # The hosting controller's public interface (scale_up / scale_down / ...), set by the hosting controller
    # when it is built, so others (serverless scale-to-zero) call it rather than reach into its internals.
    hosting: EndpointHost | None = None
    kms: Any = None  # shipyard.kms.Kms: the key service, and the encryption rules ``objects`` follows

    def __post_init__(self) -> None:
        self.router = Router(self.account)
        self.extras.setdefault("router", self.router)

    @property
    def region(self) -> str:
        return self.settings.region

    @property
    def account(self) -> str:
        return self.settings.account

    def arn(self, kind: str, name: str) -> str:
        from .domain.arns import make_arn

        return make_arn(kind, name, self.region, self.account)

    def wake(self, kind: str) -> None:
        """Tell the controllers that a resource of ``kind`` changed, so they reconcile now, not at the next tick."""
        if self.controllers is not None:
            self.controllers.wake(kind)


def build_services(settings: Settings, start_controllers: bool = True) -> Services:
    from .metastore import open_metastore
    from .objectstore import open_objectstore
    from .runners import open_runner

    meta = open_metastore(settings.database_url)
    from .kms import build_kms
    from .objectstore.encrypted import EncryptedObjectStore

    kms = build_kms(meta, settings.home, settings.region, settings.account)
    # Every reader and writer in the server goes through this one store: SSE-KMS objects are ciphertext below it.
    objects = EncryptedObjectStore(open_objectstore(settings.object_store_url), kms.broker, kms.rules)
    runner = open_runner(settings.runner, str(settings.home / "runs"), settings.ray_address,
                         strict_instance_types=settings.strict_instance_types)
    services = Services(settings=settings, meta=meta, objects=objects, runner=runner, kms=kms)
    from .controllers import build_controller_loop

    services.controllers = build_controller_loop(services)
    if start_controllers:
        services.controllers.start()
    return services
