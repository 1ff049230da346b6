"""The parts every SageMaker List* call shares: filters, sort, paging -> a :class:`ListQuery`, and the page out."""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ValidationError
from ..metastore.base import ListQuery

STANDARD_SORT = {"Name": "name", "CreationTime": "created", "Status": "status"}


def timestamp(value) -> float | None:
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return value.timestamp()
    return float(value)


def list_query(params: dict, sort_fields: dict[str, str] | None = None, default_max: int = 10,
               **extra: Any) -> ListQuery:
    sort_fields = sort_fields or STANDARD_SORT
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in sort_fields:
        raise ValidationError(f"SortBy must be one of {', '.join(sort_fields)}; got {sort_by!r}.")
    return ListQuery(
        name_contains=params.get("NameContains"),
        status_equals=params.get("StatusEquals"),
        created_after=timestamp(params.get("CreationTimeAfter")),
        created_before=timestamp(params.get("CreationTimeBefore")),
        modified_after=timestamp(params.get("LastModifiedTimeAfter")),
        modified_before=timestamp(params.get("LastModifiedTimeBefore")),
        sort_by=sort_fields[sort_by],
        descending=params.get("SortOrder", "Descending") != "Ascending",
        max_results=int(params.get("MaxResults") or default_max),
        next_token=params.get("NextToken"),
        **extra,
    )


def list_page(services, kind: str, params: dict, key: str, summarize: Callable, **kw: Any) -> dict:
    """Run a List* call: ``{key: [summarize(resource)...], "NextToken"?}``."""
    page = services.meta.list(kind, list_query(params, **kw))
    out: dict[str, Any] = {key: [summarize(r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out
