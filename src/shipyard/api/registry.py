"""Operation registry: ``(service, action) -> handler``. Modules register on import."""

from __future__ import annotations

import importlib
from typing import Any, Callable

Handler = Callable[[Any, dict], dict]

_OPERATIONS: dict[tuple[str, str], Handler] = {}

# Modules that define operations; imported once by :func:`load_all`. New families add their module here.
OPERATION_MODULES = [
    "shipyard.api.training",
    "shipyard.api.models",
    "shipyard.api.endpoints",
    "shipyard.api.logs",
    "shipyard.api.sts",
    "shipyard.api.tuning",
    "shipyard.api.transform",
    "shipyard.api.autoscaling",
    "shipyard.api.tags",
    "shipyard.api.cloudwatch",
    "shipyard.api.ecr",
    "shipyard.api.processing",
    "shipyard.api.pipelines",
    "shipyard.api.model_registry",
    "shipyard.api.experiments",
    "shipyard.api.metrics",
    "shipyard.api.search",
    "shipyard.api.lineage",
    "shipyard.api.notebooks",
    "shipyard.api.monitoring",
    "shipyard.api.compilation",
    "shipyard.api.kms",
    "shipyard.api.labeling",
    "shipyard.api.secrets",
    "shipyard.api.projects",
]


def operation(service: str, action: str) -> Callable[[Handler], Handler]:
    """Decorator: ``@operation("sagemaker", "CreateTrainingJob")``."""

    def register(fn: Handler) -> Handler:
        _OPERATIONS[(service, action)] = fn
        return fn

    return register


def load_all() -> None:
    for mod in OPERATION_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:  # a family not written yet is simply absent
            if e.name != mod:
                raise


def lookup(service: str, action: str) -> Handler | None:
    return _OPERATIONS.get((service, action))


def registered() -> list[tuple[str, str]]:
    return sorted(_OPERATIONS)
