"""A Search request (already shape-checked against botocore's model) -> the store's typed SearchQuery.

Checks what the model cannot: each property exists on the resource type, each operator has the value it
needs (``Exists``/``NotExists`` take none; the others need one; ``In`` takes a comma-separated list), the
expression is not empty and holds at most 20 elements at each level, as SageMaker allows.
"""

from __future__ import annotations

from typing import Any

from ..errors import ValidationError
from ..metastore.search_query import OPERATORS, NestedFilter, SearchExpr, SearchFilter, SearchQuery
from .properties import check_property
from .types import SEARCH_TYPES, SearchType

_MAX_ELEMENTS = 20
_MAX_DEPTH = 5
_DEFAULT_MAX_RESULTS = 10


def search_type_of(resource: str) -> SearchType:
    try:
        return SEARCH_TYPES[resource]
    except KeyError:
        raise ValidationError(f"Resource {resource!r} is not searchable here: use one of "
                              f"{', '.join(sorted(SEARCH_TYPES))}.") from None


def _filter(t: SearchType, raw: dict[str, Any], where: str) -> SearchFilter:
    name = check_property(t, raw["Name"], f"{where}.Name")
    value = raw.get("Value")
    operator = raw.get("Operator") or "Equals"  # a Value without an Operator means Equals (AWS)
    if operator not in OPERATORS:
        raise ValidationError(f"{where}.Operator {operator!r} is not one of {', '.join(OPERATORS)}.")
    if operator in ("Exists", "NotExists"):
        if value is not None:
            raise ValidationError(f"{where}: the {operator} operator takes no Value; remove it.")
    elif value is None:
        raise ValidationError(f"{where}: the {operator} operator on {name} needs a Value.")
    return SearchFilter(path=name, operator=operator, value=value)


def _nested(t: SearchType, raw: dict[str, Any], where: str) -> NestedFilter:
    prop = check_property(t, raw["NestedPropertyName"], f"{where}.NestedPropertyName")
    filters = []
    for i, f in enumerate(raw.get("Filters") or []):
        here = f"{where}.Filters.{i + 1}"
        parsed = _filter(t, f, here)
        if not parsed.path.startswith(prop + "."):
            raise ValidationError(f"{here}.Name {parsed.path!r} must be a property inside the nested property "
                                  f"{prop!r} (e.g. {prop}.<member>).")
        filters.append(parsed)
    if not filters:
        raise ValidationError(f"{where}.Filters must hold at least one filter.")
    return NestedFilter(property=prop, filters=tuple(filters))


def parse_expression(t: SearchType, raw: dict[str, Any], where: str = "SearchExpression",
                     depth: int = 0) -> SearchExpr:
    if depth > _MAX_DEPTH:
        raise ValidationError(f"{where}: SubExpressions nest deeper than {_MAX_DEPTH} levels.")
    filters = raw.get("Filters") or []
    nested = raw.get("NestedFilters") or []
    subs = raw.get("SubExpressions") or []
    if not (filters or nested or subs):
        raise ValidationError(f"{where} must have at least one of Filters, NestedFilters or SubExpressions.")
    if len(filters) + len(nested) + len(subs) > _MAX_ELEMENTS:
        raise ValidationError(f"{where} holds {len(filters) + len(nested) + len(subs)} elements; at most "
                              f"{_MAX_ELEMENTS} are allowed.")
    operator = raw.get("Operator") or "And"
    if operator not in ("And", "Or"):
        raise ValidationError(f"{where}.Operator must be And or Or, not {operator!r}.")
    return SearchExpr(
        filters=tuple(_filter(t, f, f"{where}.Filters.{i + 1}") for i, f in enumerate(filters)),
        nested=tuple(_nested(t, n, f"{where}.NestedFilters.{i + 1}") for i, n in enumerate(nested)),
        subexpressions=tuple(parse_expression(t, s, f"{where}.SubExpressions.{i + 1}", depth + 1)
                             for i, s in enumerate(subs)),
        operator=operator)


def parse_search(params: dict[str, Any]) -> tuple[SearchType, SearchQuery]:
    """The request's resource type and its typed query."""
    t = search_type_of(params["Resource"])
    expression = params.get("SearchExpression")
    sort_by = params.get("SortBy")
    if sort_by is not None:
        sort_by = check_property(t, sort_by, "SortBy")
    if sort_by == "LastModifiedTime":
        sort_by = None  # the default order
    order = params.get("SortOrder") or "Descending"
    return t, SearchQuery(
        expression=parse_expression(t, expression) if expression is not None else None,
        sort_by=sort_by,
        descending=order == "Descending",
        max_results=int(params.get("MaxResults") or _DEFAULT_MAX_RESULTS),
        next_token=params.get("NextToken") or None,
        columns=t.columns,
    )
