"""One reconciler per resource kind; the only layer that combines stores and runners."""

from __future__ import annotations

import importlib

from .base import Controller, ControllerLoop

# (module, class) of every controller; a module not written yet is skipped.
CONTROLLERS = [
    ("shipyard.controllers.training", "TrainingController"),
    ("shipyard.controllers.hosting", "HostingController"),
    ("shipyard.controllers.tuning", "TuningController"),
    ("shipyard.controllers.transform", "TransformController"),
    ("shipyard.controllers.autoscaling", "AutoscalingController"),
    ("shipyard.controllers.endpoint_logs", "EndpointLogController"),
    ("shipyard.controllers.async_inference", "AsyncInferenceController"),
    ("shipyard.controllers.serverless", "ServerlessController"),
    ("shipyard.controllers.processing", "ProcessingController"),
    ("shipyard.controllers.debug_rules", "DebugRuleController"),
    ("shipyard.controllers.pipeline", "PipelineController"),
    ("shipyard.controllers.notebook", "NotebookController"),
    ("shipyard.controllers.monitoring", "MonitoringController"),
    ("shipyard.controllers.compilation", "CompilationController"),
    ("shipyard.controllers.usage", "UsageController"),
    ("shipyard.controllers.log_retention", "LogRetentionController"),
    ("shipyard.controllers.project", "ProjectController"),
    ("shipyard.controllers.labeling", "LabelingController"),
]


def build_controller_loop(services) -> ControllerLoop:
    built = []
    for mod_name, cls_name in CONTROLLERS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as e:
            if e.name != mod_name:
                raise
            continue
        built.append(getattr(mod, cls_name)(services))
    return ControllerLoop(built)


__all__ = ["Controller", "ControllerLoop", "build_controller_loop"]
