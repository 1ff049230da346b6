"""The filters, sort and paging SageMaker's List* calls share (NameContains, StatusEquals, the Creation/
LastModified time windows, SortBy/SortOrder, MaxResults, NextToken), over the metadata store, with each kind's
own summary of a resource.

The job kinds (ListTrainingJobs, ListProcessingJobs, ...) list through here because controllers and pipelines
call them too and resources may not import ``api``; ``api/listing.py`` re-exports the same functions for the
API's other List* calls, so there is one query builder, not two.
"""

from __future__ import annotations

from typing import Any, Callable

from ..errors import ValidationError
from ..metastore.base import ListQuery, Resource

SORT_KEYS = {"Name": "name", "CreationTime": "created", "Status": "status"}


def timestamp(value: Any) -> float | None:
    """A request's time filter (a datetime from botocore's parser, or seconds) as seconds."""
    if value is None:
        return None
    if hasattr(value, "timestamp"):
        return float(value.timestamp())
    return float(value)


def list_query(params: dict, sort_fields: dict[str, str] | None = None, default_max: int = 10,
               **extra: Any) -> ListQuery:
    """A List* request as a :class:`ListQuery`; ``sort_fields`` maps the SortBy values the call accepts to store
    fields (``SORT_KEYS`` by default); ``extra`` are further ListQuery fields (a parent, say)."""
    sort_fields = sort_fields or SORT_KEYS
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


def list_page(services: Any, kind: str, params: dict, key: str, summarize: Callable[[Resource], dict],
              **kw: Any) -> dict:
    """``{key: [summarize(resource), ...], "NextToken"?}`` for a List* request (``kw`` as :func:`list_query`)."""
    page = services.meta.list(kind, list_query(params, **kw))
    out: dict[str, Any] = {key: [summarize(r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out


def list_jobs_page(services: Any, kind: str, params: dict, key: str, summarize: Callable[[Resource], dict],
                   sort_keys: dict[str, str] = SORT_KEYS) -> dict:
    """A List*Jobs page: :func:`list_page` with the job kinds' sort keys."""
    return list_page(services, kind, params, key, summarize, sort_fields=sort_keys)
