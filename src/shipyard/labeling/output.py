"""The output in AWS's layout: the consolidated label of each data object as ``<label-attribute>`` and
``<label-attribute>-metadata`` on its manifest line, and where each file goes under the job's output folder.

Under ``<S3OutputPath>/<job>/``::

    manifests/output/output.manifest                                   the augmented manifest
    annotations/worker-response/iteration-1/<object id>/<time>.json    each worker's answer
    annotations/consolidated-annotation/consolidation-response/iteration-1/<time>.json
    annotations/intermediate/1/annotations.manifest                    (AWS's too; not written)

The line shapes follow AWS's Ground Truth output documentation: a class id (single label), a list of class ids
(multi-label), ``{"image_size": [...], "annotations": [...]}`` (boxes), ``{"annotations": {"entities": [...],
"labels": [...]}}`` (named entities); the metadata carries ``class-name`` or ``class-map``, the confidences,
``type``, ``job-name`` (``labeling-job/<name>``), ``human-annotated: "yes"`` and ``creation-date``.
A training job reads the manifest with ``S3DataType: AugmentedManifestFile`` and ``AttributeNames``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from .consolidation import cluster_boxes, vote_class, vote_entities, vote_multilabel
from .tasks import TaskType

ITERATION = "iteration-1"


def creation_date(when: float) -> str:
    """AWS's ``creation-date``: ISO 8601 in UTC without a zone suffix (``2018-10-18T22:18:13.527256``)."""
    return dt.datetime.fromtimestamp(when, dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="microseconds")


def job_prefix(output_key_prefix: str, job: str) -> str:
    """The job's folder key under the output path (``<prefix>/<job>``, no trailing slash)."""
    base = output_key_prefix.strip("/")
    return f"{base}/{job}" if base else job


def output_manifest_key(prefix: str) -> str:
    return f"{prefix}/manifests/output/output.manifest"


def worker_response_key(prefix: str, object_id: int, stamp: str) -> str:
    return f"{prefix}/annotations/worker-response/{ITERATION}/{object_id}/{stamp}.json"


def consolidation_key(prefix: str, stamp: str) -> str:
    return f"{prefix}/annotations/consolidated-annotation/consolidation-response/{ITERATION}/{stamp}.json"


def consolidate(task: TaskType, labels: list[str], answers: list[dict], image_size: dict | None = None
                ) -> tuple[Any, dict]:
    """(label value, metadata fields particular to the task type) from the workers' validated answers."""
    if task.shape == "class":
        winner, confidence = vote_class(answers, labels)
        return labels.index(winner), {"class-name": winner, "confidence": confidence}
    if task.shape == "multiclass":
        kept = vote_multilabel(answers, labels)
        ids = [labels.index(lab) for lab, _ in kept]
        return ids, {"class-map": {str(labels.index(lab)): lab for lab, _ in kept},
                     "confidence-map": {str(labels.index(lab)): c for lab, c in kept}}
    if task.shape == "boxes":
        clusters = cluster_boxes(answers)
        size = image_size or next((a["inputImageProperties"] for a in answers if a.get("inputImageProperties")),
                                  None) or {"width": 0, "height": 0}
        boxes: dict[str, Any] = {
            "image_size": [{"width": int(size["width"]), "height": int(size["height"]), "depth": 3}],
            "annotations": [{"class_id": labels.index(lab), **box} for lab, box, _ in clusters]}
        return boxes, {"objects": [{"confidence": c} for _, _, c in clusters],
                       "class-map": {str(labels.index(lab)): lab for lab, _, _ in clusters}}
    spans = vote_entities(answers)
    value: dict[str, Any] = {"annotations": {"entities": [s for s, _ in spans],
                                             "labels": [{"label": lab} for lab in labels]}}
    return value, {"entities": [{"confidence": c} for _, c in spans]}


def label_fields(attribute: str, task: TaskType, job: str, when: float, value: Any, extra: dict) -> dict:
    """``{<attribute>: value, <attribute>-metadata: {...}}`` for one consolidated data object."""
    metadata = {**extra, "type": task.output_type, "job-name": f"labeling-job/{job}", "human-annotated": "yes",
                "creation-date": creation_date(when)}
    return {attribute: value, f"{attribute}-metadata": metadata}


def worker_response(content_key: str, answer: dict, worker: str, submitted: float) -> dict:
    """One worker response file's ``answers`` entry, as AWS writes it (the answer under the element's name)."""
    return {"answerContent": {content_key: answer}, "submissionTime": creation_date(submitted) + "Z",
            "workerId": f"private.{worker}", "workerMetadata": {"identityData": {"sub": worker}}}
