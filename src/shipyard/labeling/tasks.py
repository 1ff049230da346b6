"""The built-in task types: what AWS's Lambda ARNs and Crowd HTML elements name, and the template subset we read.

AWS names a built-in task type twice: by the pre-annotation Lambda (``...:function:PRE-ImageMultiClass``) and
the annotation-consolidation Lambda (``...:function:ACS-ImageMultiClass``), whose account differs by region;
only the function name after ``function:`` matters here. The worker template (Liquid + Crowd HTML) names it a
third time by its widget element (``<crowd-image-classifier>``, ...).

Shipyard does not run the template's HTML. It finds the one Crowd element, reads its ``name``, ``header`` and
``labels``/``categories`` attributes and the text of ``<short-instructions>`` / ``<full-instructions>``, and
the worker portal draws its own widget for that element. The Liquid subset understood: ``{{ ... }}`` outputs
whose variable is ``task.input.labels`` (the label-category config's labels), ``task.input.header`` (the
config's ``instructions``/``header``, else the job's TaskDescription), ``task.input.taskObject`` or
``task.input.source`` (the data object); filters (``| to_json``, ``| escape``, ``| grant_read_access``,
``| skip_autoescape``) are accepted and ignored. ``{% ... %}`` tags are dropped. That covers AWS's built-in
templates and the samples in its documentation; a custom template with other tags is not supported.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

from ..errors import ValidationError


@dataclass(frozen=True)
class TaskType:
    """One built-in task type: its Lambda suffix, the Crowd element(s) that draw it, the ``type`` its output
    metadata carries, and whether its data objects are images (``source-ref``) or text (``source``)."""

    lambda_name: str
    elements: tuple[str, ...]
    output_type: str
    media: str  # "image" | "text"
    shape: str  # "class" | "multiclass" | "boxes" | "entities"


TASK_TYPES: dict[str, TaskType] = {t.lambda_name: t for t in (
    TaskType("ImageMultiClass", ("crowd-image-classifier",), "groundtruth/image-classification", "image", "class"),
    TaskType("ImageMultiClassMultiLabel", ("crowd-image-classifier-multi-select",),
             "groundtruth/image-classification-multilabel", "image", "multiclass"),
    TaskType("BoundingBox", ("crowd-bounding-box",), "groundtruth/object-detection", "image", "boxes"),
    TaskType("TextMultiClass", ("crowd-classifier",), "groundtruth/text-classification", "text", "class"),
    TaskType("TextMultiClassMultiLabel", ("crowd-classifier-multi-select",),
             "groundtruth/text-classification-multilabel", "text", "multiclass"),
    TaskType("NamedEntityRecognition", ("crowd-entity-annotation",), "groundtruth/named-entity-recognition",
             "text", "entities"),
)}
BY_ELEMENT: dict[str, TaskType] = {e: t for t in TASK_TYPES.values() for e in t.elements}
PRE_FIELD = "HumanTaskConfig.PreHumanTaskLambdaArn"
ACS_FIELD = "HumanTaskConfig.AnnotationConsolidationConfig.AnnotationConsolidationLambdaArn"
TEMPLATE_FIELD = "HumanTaskConfig.UiConfig"


def from_lambda(arn: str, prefix: str, field_name: str) -> TaskType:
    """The task type a built-in ``PRE-``/``ACS-`` Lambda ARN names; anything else is refused naming the field
    (Shipyard runs no Lambda: custom pre-annotation or consolidation functions are not supported)."""
    function = arn.rsplit(":function:", 1)[-1] if ":function:" in arn else ""
    name = function[len(prefix):] if function.startswith(prefix) else ""
    found = TASK_TYPES.get(name)
    if found is None:
        known = ", ".join(prefix + n for n in TASK_TYPES)
        raise ValidationError(f"{field_name} {arn!r} is not one of AWS's built-in task functions: Shipyard runs "
                              f"the built-in task types only ({known}).")
    return found


@dataclass
class Template:
    """What the worker portal needs from a task template (see the module docstring)."""

    task: TaskType
    element: str
    name: str  # the answer's key in the worker response (the element's ``name`` attribute)
    header: str = ""
    labels: list[str] = field(default_factory=list)
    short_instructions: str = ""
    full_instructions: str = ""

    def to_doc(self) -> dict:
        return {"Element": self.element, "Name": self.name, "Header": self.header, "Labels": list(self.labels),
                "ShortInstructions": self.short_instructions, "FullInstructions": self.full_instructions}

    @classmethod
    def from_doc(cls, doc: dict) -> "Template":
        return cls(BY_ELEMENT[doc["Element"]], doc["Element"], doc["Name"], doc.get("Header", ""),
                   list(doc.get("Labels") or []), doc.get("ShortInstructions", ""), doc.get("FullInstructions", ""))


_LIQUID_OUT = re.compile(r"\{\{\s*([a-zA-Z_.]+)\s*(?:\|[^{}]*)?\}\}")  # each try stops at the next brace
SECTIONS = ("short-instructions", "full-instructions")


def _drop_liquid_tags(content: str) -> str:
    """The template without its ``{% ... %}`` tags (a linear scan: templates are user input, up to 128 KB)."""
    out, i = [], 0
    while True:
        j = content.find("{%", i)
        k = content.find("%}", j + 2) if j >= 0 else -1
        if j < 0 or k < 0:
            out.append(content[i:])
            return "".join(out)
        out.append(content[i:j])
        i = k + 2


def _tag_end(chunk: str) -> int:
    """Where the tag in ``chunk`` ends (its ``>`` outside quotes), or -1."""
    quote = ""
    for i, ch in enumerate(chunk):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == ">":
            return i
    return -1


def _attributes(text: str) -> tuple[str, dict[str, str]]:
    """A start tag's name and attributes (``text`` is between ``<`` and ``>``), scanned once."""
    i, n = 0, len(text)
    while i < n and not text[i].isspace() and text[i] != "/":
        i += 1
    name, attrs = text[:i].lower(), {}
    while i < n:
        while i < n and (text[i].isspace() or text[i] == "/"):
            i += 1
        k = i
        while i < n and not text[i].isspace() and text[i] not in "=/":
            i += 1
        key = text[k:i].lower()
        while i < n and text[i].isspace():
            i += 1
        value = ""
        if i < n and text[i] == "=":
            i += 1
            while i < n and text[i].isspace():
                i += 1
            if i < n and text[i] in "\"'":
                q = text[i]
                close = text.find(q, i + 1)
                close = n if close < 0 else close
                value, i = text[i + 1:close], close + 1
            else:
                v = i
                while i < n and not text[i].isspace():
                    i += 1
                value = text[v:i]
        if key:
            attrs[key] = html.unescape(value)
        elif i == k:
            i += 1  # a stray character: step over it
    return name, attrs


class _Reader:
    """The Crowd elements (with their attributes) and the instructions' text of a template, read by plain
    scans rather than a general HTML parser or backtracking regular expressions: templates are user input (up
    to 128 KB) and each scan here stops at the next ``<``, so reading is linear on any input."""

    def __init__(self, content: str) -> None:
        body = _drop_liquid_tags(content)
        self.elements: list[tuple[str, dict[str, str]]] = []
        i = 0
        while (i := body.find("<crowd-", i)) >= 0:
            nxt = body.find("<", i + 1)
            chunk = body[i + 1:nxt if nxt >= 0 else len(body)]
            end = _tag_end(chunk)
            if end >= 0:
                self.elements.append(_attributes(chunk[:end]))
            i += 1
        self.sections = {tag: _section(body, tag) for tag in SECTIONS}


def _section(body: str, tag: str) -> str:
    start = body.find(f"<{tag}")
    if start < 0:
        return ""
    open_end = body.find(">", start)
    close = body.find(f"</{tag}>", open_end)
    if open_end < 0 or close < 0:
        return ""
    text, out, i = body[open_end + 1:close], [], 0
    while True:  # drop inner tags
        j = text.find("<", i)
        if j < 0:
            out.append(text[i:])
            break
        out.append(text[i:j])
        k = text.find(">", j)
        if k < 0:
            break
        out.append(" ")
        i = k + 1
    return " ".join(html.unescape("".join(out)).split())


def _read(content: str) -> _Reader:
    return _Reader(content)


def _liquid(value: str, labels: list[str], header: str) -> str | list[str]:
    """One attribute value with the Liquid subset applied: ``task.input.labels`` alone gives the list."""
    found = _LIQUID_OUT.fullmatch(value.strip())
    if found and found.group(1) == "task.input.labels":
        return list(labels)

    def sub(m: re.Match) -> str:
        var = m.group(1)
        if var == "task.input.header":
            return header
        if var == "task.input.labels":
            return json.dumps(labels)
        return ""  # task.input.taskObject / source: the portal shows the data object itself
    return _LIQUID_OUT.sub(sub, value)


def find_element(content: str, field_name: str = TEMPLATE_FIELD) -> tuple[str, dict[str, str]]:
    """The template's one built-in task element and its attributes; refused, naming ``field_name``, when there
    is none (an unknown template) or several."""
    return _element(_read(content), field_name)


def _element(reader: _Reader, field_name: str) -> tuple[str, dict[str, str]]:
    found = [(tag, attrs) for tag, attrs in reader.elements if tag in BY_ELEMENT]
    if not found:
        others = sorted({tag for tag, _ in reader.elements} - {"crowd-form"})
        what = f" (it has {', '.join(others)})" if others else ""
        raise ValidationError(f"{field_name}: the task template has no built-in task element{what}; use one of "
                              f"{', '.join(BY_ELEMENT)}.")
    if len({tag for tag, _ in found}) > 1:
        raise ValidationError(f"{field_name}: the task template has several task elements "
                              f"({', '.join(tag for tag, _ in found)}); use one.")
    return found[0]


def _text(reader: _Reader, section: str) -> str:
    return reader.sections[section]


def parse_template(content: str, category_labels: list[str], default_header: str = "") -> Template:
    """Read a Liquid/Crowd HTML task template: the one built-in widget element and its labels.

    ``category_labels`` come from LabelCategoryConfigS3Uri (they win over a literal ``labels`` attribute, as the
    built-in templates feed them in with ``{{ task.input.labels }}``). Raises ValidationError naming
    HumanTaskConfig.UiConfig for a template with no known widget, two widgets, or no labels at all."""
    reader = _read(content)
    element, attrs = _element(reader, TEMPLATE_FIELD)
    header_value = _liquid(attrs.get("header", ""), category_labels, default_header)
    header = header_value if isinstance(header_value, str) else default_header
    labels: list[str] = list(category_labels)
    if not labels:
        raw = attrs.get("labels") or attrs.get("categories") or ""
        value = _liquid(raw, category_labels, header)
        if isinstance(value, str) and value.strip():
            try:
                parsed = json.loads(value)
            except ValueError:
                raise ValidationError(f"{TEMPLATE_FIELD}: the {element} element's labels {raw!r} are not a JSON "
                                      "list of names.") from None
            labels = [str(x.get("label") if isinstance(x, dict) else x) for x in parsed] if isinstance(
                parsed, list) else []
    if not labels:
        raise ValidationError(f"LabelCategoryConfigS3Uri: the {element} task needs labels; give a label category "
                              "configuration or a literal labels attribute on the element.")
    if len(set(labels)) != len(labels):
        raise ValidationError(f"LabelCategoryConfigS3Uri: the labels repeat a name ({labels}); make them unique.")
    return Template(BY_ELEMENT[element], element, attrs.get("name") or element.replace("crowd-", ""), header,
                    labels, _text(reader, "short-instructions"), _text(reader, "full-instructions"))


def parse_label_categories(data: bytes) -> tuple[list[str], str]:
    """The label-category config AWS documents: ``{"document-version": "2018-11-28", "labels": [{"label":
    "cat"}, ...], "instructions": {"shortInstruction": ..., ...}}`` (``labels`` may also be plain names).
    Returns (labels, header); raises ValidationError naming LabelCategoryConfigS3Uri."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValidationError("LabelCategoryConfigS3Uri: the label category configuration is not JSON; see "
                              "AWS's format: {\"document-version\": \"2018-11-28\", \"labels\": [{\"label\": "
                              "\"cat\"}]}.") from None
    raw = doc.get("labels") if isinstance(doc, dict) else None
    if not isinstance(raw, list) or not raw:
        raise ValidationError("LabelCategoryConfigS3Uri: the configuration needs a non-empty \"labels\" list.")
    labels = []
    for item in raw:
        name = item.get("label") if isinstance(item, dict) else item
        if not isinstance(name, str) or not name:
            raise ValidationError(f"LabelCategoryConfigS3Uri: each label needs a \"label\" name; got {item!r}.")
        labels.append(name)
    instructions = doc.get("instructions") if isinstance(doc, dict) else None
    header = ""
    if isinstance(instructions, dict):
        header = str(instructions.get("shortInstruction") or "")
    elif isinstance(doc.get("header"), str):
        header = doc["header"]
    return labels, header
