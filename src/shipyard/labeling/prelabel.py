"""Pre-labeling (beyond SageMaker): a deployed endpoint's prediction becomes the worker's starting answer.

Label Studio's ML backend is the model: a model proposes, a person corrects, which is much faster than labeling
from nothing. A job asks for it with the tag ``shipyard:prelabel-endpoint`` = an endpoint name; each data object
is sent to the endpoint once when the job starts (an image's bytes, or the text as ``text/plain``), and the
answer is read from the response by :func:`starting_answer`:

- a JSON object already shaped like the answer (``{"label": ...}``, ``{"labels": [...]}``,
  ``{"boundingBoxes": [...]}``, ``{"entities": [...]}``) is used as it is;
- for classes: a label name, a class index, ``{"label"|"predicted_label"|"class": name or index}``, or a list
  of one score per label (the highest wins; for multi-label every score of at least 0.5);
- ``{"predictions": [x, ...]}`` (the TensorFlow Serving shape) is unwrapped to its first element.

Anything else gives no starting answer (the worker starts from nothing); it never fails the job.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import ValidationError
from .consolidation import validate_answer
from .tasks import TaskType

TAG = "shipyard:prelabel-endpoint"


def _as_label(value: Any, labels: list[str]) -> str | None:
    if isinstance(value, str) and value in labels:
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer() \
            and 0 <= int(value) < len(labels):
        return labels[int(value)]
    return None


def starting_answer(task: TaskType, labels: list[str], body: bytes) -> dict | None:
    """The starting answer a prediction gives, or None (see the module docstring)."""
    try:
        value: Any = json.loads(body)
    except ValueError:
        value = body.decode("utf-8", "replace").strip()
    if isinstance(value, dict) and isinstance(value.get("predictions"), list) and value["predictions"]:
        value = value["predictions"][0]
    if isinstance(value, dict):
        try:
            return validate_answer(task, labels, value)
        except ValidationError:
            pass
        for key in ("label", "predicted_label", "class"):
            if key in value:
                value = value[key]
                break
    if task.shape == "class":
        if isinstance(value, list) and len(value) == len(labels) and all(isinstance(x, (int, float)) for x in value):
            return {"label": labels[max(range(len(labels)), key=lambda i: value[i])]}
        found = _as_label(value, labels)
        return {"label": found} if found else None
    if task.shape == "multiclass" and isinstance(value, list):
        if len(value) == len(labels) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                             for x in value) and not all(isinstance(x, int) for x in value):
            return {"labels": [lab for lab, s in zip(labels, value) if s >= 0.5]}
        names = [_as_label(x, labels) for x in value]
        return {"labels": [n for n in names if n]} if all(names) else None
    return None
