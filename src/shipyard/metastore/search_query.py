"""What a Search asks of the store, and how a resource document becomes searchable index entries.

Search filters name paths into a resource's Describe document (``HyperParameters.eta``,
``Parents.ExperimentName``, ``Metrics.validation:auc.Max``). Scanning every JSON document per query cannot
answer in milliseconds at 100,000 records, so each searchable resource is also written as rows of
(path, key): one row per leaf value, where ``key`` is an order-preserving text encoding of the value
(numbers sort numerically, then strings bytewise). A filter is then an index range scan and a sort by a
property walks the same index in order. This module is pure (no SQL): the typed query the ``search``
package builds after validating a request, and the flattening rules both the store and the migration use.

Flattening rules (change them only with a migration that re-indexes):
- dicts recurse with ``.``-joined keys; list elements share their list's path, and remember which element
  of the outermost list they came from (``elem``), so a nested filter can ask for one element that
  satisfies several filters at once;
- a list of ``{"MetricName": n, ...}`` is also indexed by name (``Metrics.<n>.Max``; a training job's
  ``FinalMetricDataList`` as ``Metrics.<n>``), and a list of ``{"Key", "Value"}`` (tags) as ``<path>.<Key>``;
- the private ``_tags`` list is indexed as ``Tags``, ``_trials`` as itself (see ``INDEXED_PRIVATE_KEYS``);
  other ``_``-keys (private state) are not indexed;
- a string that reads as a number gets a numeric row too (hyperparameters are strings on the wire, and
  ``HyperParameters.eta GreaterThan 0.1`` compares numbers); a trial component parameter is also indexed
  by its bare name (``Parameters.lr``) with its NumberValue or StringValue;
- strings are indexed up to ``MAX_INDEXED_CHARS`` characters.
"""

from __future__ import annotations

import datetime
import math
import struct
from dataclasses import dataclass, field
from typing import Any, Iterator

# Store kinds that Search serves: only these are indexed (other kinds pay nothing on write).
SEARCHABLE_KINDS = frozenset({
    "training-job", "experiment", "experiment-trial", "experiment-trial-component", "model-package",
    "model-package-group", "pipeline", "pipeline-execution", "hyper-parameter-tuning-job",
})

# Private keys indexed under their own name (never a public property): a trial component's lower-cased trial
# names, which Search's ``Parents`` filters are answered from.
INDEXED_PRIVATE_KEYS = frozenset({"_trials"})

OPERATORS = ("Equals", "NotEquals", "GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo",
             "Contains", "Exists", "NotExists", "In")
MAX_INDEXED_CHARS = 512
_MAX_DEPTH = 10
_MAX_LIST = 500
_MAX_ENTRIES = 5000

NUMBER_PREFIX = "n"  # numeric keys: "n" + 16 hex digits; every numeric key sorts before every string key
STRING_PREFIX = "s"


@dataclass(frozen=True)
class SearchFilter:
    path: str
    operator: str  # one of OPERATORS
    value: str | None = None


@dataclass(frozen=True)
class NestedFilter:
    """Filters that one element of the list property ``property`` must satisfy together."""

    property: str
    filters: tuple[SearchFilter, ...]


@dataclass(frozen=True)
class SearchExpr:
    filters: tuple[SearchFilter, ...] = ()
    nested: tuple[NestedFilter, ...] = ()
    subexpressions: tuple[SearchExpr, ...] = ()
    operator: str = "And"  # And | Or


@dataclass
class SearchQuery:
    """A validated Search: ``sort_by`` is a property path, or ``None`` for the last-modified time."""

    expression: SearchExpr | None = None
    sort_by: str | None = None
    descending: bool = True
    max_results: int = 10
    next_token: str | None = None
    # Properties the store keeps as columns rather than in the document: property -> "created" | "modified" |
    # "status" | "name" (e.g. {"CreationTime": "created", "TrainingJobStatus": "status"}).
    columns: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class IndexEntry:
    path: str
    key: str
    elem: int = -1  # index in the outermost list on the path; -1 when the path crosses no list
    first: bool = True  # the one entry of this path per resource that sorting uses


# --- value encoding ---

def number_key(x: float) -> str:
    """Order-preserving text for a float: IEEE-754 bits, sign-flipped so that text order = numeric order."""
    bits = struct.unpack(">Q", struct.pack(">d", float(x)))[0]
    bits = (~bits & 0xFFFFFFFFFFFFFFFF) if bits >> 63 else bits | (1 << 63)
    return f"{NUMBER_PREFIX}{bits:016x}"


def string_key(s: str) -> str:
    return STRING_PREFIX + s[:MAX_INDEXED_CHARS]


def as_number(text: str) -> float | None:
    """A filter value or a stored string read as a number (finite), else None."""
    try:
        x = float(text)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def as_time(text: str) -> float | None:
    """An ISO-8601 time (``2024-01-31``, ``2024-01-31T10:00:00Z``) as epoch seconds, else None."""
    try:
        t = datetime.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=datetime.timezone.utc)
    return t.timestamp()


def filter_key(value: str) -> tuple[str, bool]:
    """The key a filter value compares against, and whether it is numeric (numbers and times are)."""
    x = as_number(value)
    if x is None:
        x = as_time(value)
    if x is not None:
        return number_key(x), True
    return string_key(value), False


# --- flattening ---

def _leaf_keys(value: Any) -> list[str]:
    if isinstance(value, datetime.datetime):
        return [number_key(value.timestamp())]
    if isinstance(value, bool):
        return [string_key("true" if value else "false")]
    if isinstance(value, (int, float)):
        return [number_key(value)] if math.isfinite(value) else []
    if isinstance(value, str):
        keys = [string_key(value)]
        x = as_number(value)
        if x is not None:
            keys.insert(0, number_key(x))  # the numeric row first: a sort orders by numbers
        return keys
    return []


def _named_lists(path: str, items: list) -> Iterator[tuple[str, Any]]:
    """The by-name views of metric and tag lists (see the module docstring)."""
    for item in items:
        if not isinstance(item, dict):
            continue
        name = item.get("MetricName")
        if isinstance(name, str) and name:
            base = "Metrics" if path == "FinalMetricDataList" else path
            if path == "FinalMetricDataList":
                yield f"{base}.{name}", item.get("Value")
            else:
                for stat, value in item.items():
                    if stat != "MetricName":
                        yield f"{base}.{name}.{stat}", value
        key = item.get("Key")
        if isinstance(key, str) and key and "Value" in item and len(item) == 2:
            yield f"{path}.{key}", item["Value"]


def _walk(value: Any, path: str, elem: int, depth: int) -> Iterator[tuple[str, Any, int]]:
    if depth > _MAX_DEPTH:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str) or not k:
                continue
            yield from _walk(v, f"{path}.{k}" if path else k, elem, depth + 1)
        if path.startswith("Parameters.") and path.count(".") == 1:  # a trial component parameter's value
            bare = value.get("NumberValue", value.get("StringValue"))
            if bare is not None:
                yield path, bare, elem
    elif isinstance(value, list):
        items = value[:_MAX_LIST]
        for i, item in enumerate(items):
            yield from _walk(item, path, i if elem < 0 else elem, depth + 1)
        for named_path, named_value in _named_lists(path, items):
            yield from _walk(named_value, named_path, -1, depth + 1)
    else:
        yield path, value, elem


def index_entries(doc: dict) -> list[IndexEntry]:
    """The index rows of one resource document (bounded in number)."""
    out: list[IndexEntry] = []
    seen: set[str] = set()
    for key, value in doc.items():
        if key == "_tags":
            key = "Tags"
        elif key.startswith("_") and key not in INDEXED_PRIVATE_KEYS or (key == "Tags" and "_tags" in doc):
            continue
        for path, leaf, elem in _walk(value, key, -1, 0):
            for text in _leaf_keys(leaf):
                out.append(IndexEntry(path=path[:255], key=text, elem=elem, first=path not in seen))
                seen.add(path)
                if len(out) >= _MAX_ENTRIES:
                    return out
    return out


__all__ = ["IndexEntry", "NestedFilter", "OPERATORS", "SEARCHABLE_KINDS", "SearchExpr", "SearchFilter",
           "SearchQuery", "filter_key", "index_entries", "number_key", "string_key"]
