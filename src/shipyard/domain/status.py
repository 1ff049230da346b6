"""Status values and which of them are final, per resource kind (SageMaker's state machines)."""

from __future__ import annotations

TRAINING_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
TRAINING_ACTIVE = frozenset({"InProgress", "Stopping"})

ENDPOINT_ACTIVE = frozenset({"Creating", "Updating", "SystemUpdating", "InService", "Deleting", "RollingBack"})
ENDPOINT_STEADY = frozenset({"InService", "Failed", "OutOfService"})

TRANSFORM_TERMINAL = TRAINING_TERMINAL
TUNING_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})

PROCESSING_TERMINAL = TRAINING_TERMINAL
PROCESSING_ACTIVE = TRAINING_ACTIVE

PIPELINE_EXECUTION_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})
PIPELINE_EXECUTION_ACTIVE = frozenset({"Executing", "Stopping"})
