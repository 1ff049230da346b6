"""botocore's service models, loaded lazily and cached: the ground truth for request and response shapes.

We use botocore's own loader (it reads the gzipped ``service-2.json`` files shipped with botocore), so the
shapes Shipyard validates against are exactly the ones the client serialized with.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING

from botocore.model import OperationModel, ServiceModel

if TYPE_CHECKING:
    import botocore.session

_lock = threading.Lock()

# X-Amz-Target prefix (JSON 1.1 protocol) -> botocore service name.
TARGET_PREFIXES = {
    "SageMaker": "sagemaker",
    "Logs_20140328": "logs",
    "AnyScaleFrontendService": "application-autoscaling",
    "AmazonEC2ContainerRegistry_V20150921": "ecr",
    "TrentService": "kms",
    "secretsmanager": "secretsmanager",  # the minimal Secrets Manager of code repositories' credentials
    "GraniteServiceVersion20100801": "cloudwatch",  # JSON 1.0 (botocore's first choice); CBOR: wire/rpcv2.py
}


@functools.lru_cache(maxsize=None)
def _session() -> botocore.session.Session:
    import botocore.session

    return botocore.session.get_session()


@functools.lru_cache(maxsize=None)
def service_model(service: str) -> ServiceModel:
    """The botocore model of ``service`` (e.g. ``"sagemaker"``, ``"logs"``), loaded once per process."""
    with _lock:  # botocore's loader caches are not documented as thread safe
        return _session().get_service_model(service)


@functools.lru_cache(maxsize=4096)
def operation_model(service: str, operation: str) -> OperationModel | None:
    """The operation's model, or None when ``service`` has no such operation."""
    model = service_model(service)
    if operation not in model.operation_names:
        return None
    return model.operation_model(operation)
