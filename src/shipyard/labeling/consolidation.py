"""Annotation consolidation: the workers' answers for one data object become one label with a confidence.

What AWS's built-in ``ACS-*`` functions do, in a documented, deterministic form:

- single class (images, text): majority vote; ties go to the label listed first in the label categories;
  confidence = the winner's share of the votes.
- multi-label: a vote per label; a label is kept when more than half of the workers chose it; its confidence
  is that share.
- bounding boxes: boxes are clustered across workers: each worker's box joins the cluster of the same class
  whose mean box it overlaps most, if that IoU is at least ``IOU_MATCH`` and the cluster has no box of that
  worker yet; a cluster drawn by at least half of the workers is kept, its coordinates averaged, its confidence
  the share of workers who drew it times the boxes' mean IoU with the average.
- named entities: a vote per exact span (start, end, label); a span marked by at least half of the workers is
  kept, its confidence the share of workers who marked it.

Answers are validated first (:func:`validate_answer`): a label not in the categories or a malformed box is
refused when the worker submits, so consolidation only sees well-formed answers.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ..errors import ValidationError
from .tasks import TaskType

IOU_MATCH = 0.5


def _label(value: Any, labels: list[str], what: str) -> str:
    if not isinstance(value, str) or value not in labels:
        raise ValidationError(f"{what}: {value!r} is not one of the job's labels ({', '.join(labels)}).")
    return value


def _number(box: dict, key: str, minimum: float = 0.0) -> float:
    value = box.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < minimum:
        raise ValidationError(f"boundingBoxes: each box needs a number {key} of at least {minimum:g}; got "
                              f"{value!r}.")
    return float(value)


def validate_answer(task: TaskType, labels: list[str], content: Any) -> dict:
    """A worker's answer as the Crowd element would produce it, checked and normalized (see the module)."""
    if not isinstance(content, dict):
        raise ValidationError("The answer must be a JSON object.")
    if task.shape == "class":
        return {"label": _label(content.get("label"), labels, "label")}
    if task.shape == "multiclass":
        chosen = content.get("labels")
        if not isinstance(chosen, list):
            raise ValidationError("labels: a multi-label answer is a list of label names (possibly empty).")
        return {"labels": sorted({_label(x, labels, "labels") for x in chosen}, key=labels.index)}
    if task.shape == "boxes":
        boxes = content.get("boundingBoxes")
        if not isinstance(boxes, list):
            raise ValidationError("boundingBoxes: a bounding-box answer is a list of boxes (possibly empty).")
        out = []
        for box in boxes:
            if not isinstance(box, dict):
                raise ValidationError("boundingBoxes: each box is an object with label, left, top, width, height.")
            out.append({"label": _label(box.get("label"), labels, "boundingBoxes label"),
                        "left": round(_number(box, "left")), "top": round(_number(box, "top")),
                        "width": round(_number(box, "width", 1)), "height": round(_number(box, "height", 1))})
        props = content.get("inputImageProperties") or {}
        answer: dict[str, Any] = {"boundingBoxes": out}
        if isinstance(props, dict) and props.get("width") and props.get("height"):
            answer["inputImageProperties"] = {"width": int(props["width"]), "height": int(props["height"])}
        return answer
    entities = content.get("entities")
    if not isinstance(entities, list):
        raise ValidationError("entities: a named-entity answer is a list of {label, startOffset, endOffset}.")
    spans = []
    for ent in entities:
        if not isinstance(ent, dict):
            raise ValidationError("entities: each entity is an object with label, startOffset, endOffset.")
        start, end = ent.get("startOffset"), ent.get("endOffset")
        if not isinstance(start, int) or not isinstance(end, int) or not 0 <= start < end:
            raise ValidationError(f"entities: startOffset and endOffset must be integers with 0 <= start < end; "
                                  f"got {start!r}, {end!r}.")
        spans.append({"label": _label(ent.get("label"), labels, "entities label"), "startOffset": start,
                      "endOffset": end})
    return {"entities": sorted(spans, key=lambda s: (s["startOffset"], s["endOffset"], s["label"]))}


def _share(count: int, n: int) -> float:
    return round(count / n, 2) if n else 0.0


def vote_class(answers: list[dict], labels: list[str]) -> tuple[str, float]:
    """Majority vote: (winning label, its share); ties go to the label listed first."""
    votes = Counter(a["label"] for a in answers)
    winner = max(votes, key=lambda lab: (votes[lab], -labels.index(lab)))
    return winner, _share(votes[winner], len(answers))


def vote_multilabel(answers: list[dict], labels: list[str]) -> list[tuple[str, float]]:
    """Per-label vote: the labels more than half of the workers chose, each with its share, in category order."""
    votes = Counter(lab for a in answers for lab in a["labels"])
    n = len(answers)
    return [(lab, _share(votes[lab], n)) for lab in labels if votes[lab] * 2 > n]


def iou(a: dict, b: dict) -> float:
    """Intersection over union of two boxes given as left/top/width/height."""
    x1, y1 = max(a["left"], b["left"]), max(a["top"], b["top"])
    x2 = min(a["left"] + a["width"], b["left"] + b["width"])
    y2 = min(a["top"] + a["height"], b["top"] + b["height"])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    union = a["width"] * a["height"] + b["width"] * b["height"] - inter
    return inter / union if union > 0 else 0.0


def _mean_box(boxes: list[dict]) -> dict:
    n = len(boxes)
    return {k: sum(b[k] for b in boxes) / n for k in ("left", "top", "width", "height")}


def cluster_boxes(answers: list[dict]) -> list[tuple[str, dict, float]]:
    """Box clustering (see the module): [(label, averaged box with int coordinates, confidence)], ordered by
    position (top, then left) so the output is stable."""
    n = len(answers)
    clusters: list[dict] = []  # {"label", "boxes": [...], "workers": {i}}
    for worker, answer in enumerate(answers):
        for box in answer["boundingBoxes"]:
            best, best_iou = None, IOU_MATCH
            for c in clusters:
                if c["label"] != box["label"] or worker in c["workers"]:
                    continue
                overlap = iou(_mean_box(c["boxes"]), box)
                if overlap >= best_iou:
                    best, best_iou = c, overlap
            if best is None:
                clusters.append({"label": box["label"], "boxes": [box], "workers": {worker}})
            else:
                best["boxes"].append(box)
                best["workers"].add(worker)
    out = []
    for c in clusters:
        if len(c["workers"]) * 2 < n:
            continue
        mean = _mean_box(c["boxes"])
        agreement = sum(iou(mean, b) for b in c["boxes"]) / len(c["boxes"])
        box = {k: int(round(v)) for k, v in mean.items()}
        out.append((c["label"], box, round(len(c["workers"]) / n * agreement, 2)))
    return sorted(out, key=lambda item: (item[1]["top"], item[1]["left"], item[0]))


def vote_entities(answers: list[dict]) -> list[tuple[dict, float]]:
    """Span vote: the spans at least half of the workers marked exactly, each with its share, in text order."""
    n = len(answers)
    votes = Counter((e["startOffset"], e["endOffset"], e["label"]) for a in answers for e in a["entities"])
    kept = [(s, c) for s, c in votes.items() if c * 2 >= n]
    return [({"label": lab, "startOffset": start, "endOffset": end}, _share(count, n))
            for (start, end, lab), count in sorted(kept)]
