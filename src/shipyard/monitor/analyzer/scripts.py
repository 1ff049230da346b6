"""The user's record preprocessor and post-analytics scripts (AWS's ``record_preprocessor_script`` and
``post_analytics_processor_script`` contract).

A record preprocessor defines ``preprocess_handler(inference_record)``; it is called once per captured record
with an object whose ``endpoint_input`` / ``endpoint_output`` have ``data``, ``encoding``,
``observedContentType`` and ``mode``, and whose ``event_metadata`` has ``event_id``, ``inference_id``,
``inference_time`` and ``custom_attribute``. It returns the record's row: a dict (its keys, sorted, are the
columns, as AWS's sample that zero-pads its keys relies on), a list of dicts (several rows), or nothing
(``None``, ``[]``, ``{}``: the record is left out, AWS's way of filtering test traffic). A post-analytics script
defines ``postprocess_handler()``, called after a successful analysis. Both run inside the job's sandbox.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ...errors import ValidationError


def load_handler(path: Path, name: str) -> Callable:
    """The function ``name`` of the script at ``path``; a ValidationError saying what is missing."""
    if not path.is_file():
        raise ValidationError(f"The script {path} does not exist: the job's script input was not staged there.")
    spec = importlib.util.spec_from_file_location(f"monitor_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ValidationError(f"The script {path} cannot be loaded as Python.")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as e:  # noqa: BLE001 - the user's script: its error is the job's reason
        raise ValidationError(f"The script {path.name} failed to load: {type(e).__name__}: {e}") from None
    handler = getattr(module, name, None)
    if not callable(handler):
        raise ValidationError(f"The script {path.name} defines no {name}() function.")
    return handler


def _part(part: dict | None) -> SimpleNamespace | None:
    if part is None:
        return None
    return SimpleNamespace(data=part.get("data"), encoding=part.get("encoding"),
                           observedContentType=part.get("observedContentType"), mode=part.get("mode"))


def inference_record(doc: dict) -> SimpleNamespace:
    """The object ``preprocess_handler`` receives for one capture line."""
    data = doc.get("captureData") or {}
    meta = doc.get("eventMetadata") or {}
    return SimpleNamespace(
        endpoint_input=_part(data.get("endpointInput")), endpoint_output=_part(data.get("endpointOutput")),
        event_metadata=SimpleNamespace(event_id=meta.get("eventId"), inference_id=meta.get("inferenceId"),
                                       inference_time=meta.get("inferenceTime"),
                                       custom_attribute=meta.get("customAttributes")),
        event_version=doc.get("eventVersion"))


def rows_from(result: Any) -> list[dict]:
    """The rows a handler returned (see the module docstring)."""
    if not result:
        return []
    if isinstance(result, dict):
        return [{str(k): result[k] for k in sorted(result, key=str)}]
    if isinstance(result, list) and all(isinstance(r, dict) for r in result):
        return [row for r in result for row in rows_from(r)]
    if isinstance(result, (list, tuple)):
        return [{f"_c{i}": v for i, v in enumerate(result)}]
    raise ValidationError(f"preprocess_handler returned a {type(result).__name__}; it must return a dict, a list "
                          "of dicts or None.")
