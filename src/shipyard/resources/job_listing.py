"""One List*Jobs page for every job kind (ListTrainingJobs, ListProcessingJobs, ...): the filters, sort and paging
SageMaker's job listings share, over the metadata store, with each kind's own summary of a job.

(``api/listing.py`` does the same for the API's other List* calls; resources may not import ``api``, so the
job kinds, which controllers and pipelines call too, list through this one.)
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


def list_jobs_page(services: Any, kind: str, params: dict, key: str, summarize: Callable[[Resource], dict],
                   sort_keys: dict[str, str] = SORT_KEYS) -> dict:
    """``{key: [summarize(job), ...], "NextToken"?}`` for a List*Jobs request (NameContains, StatusEquals, the
    Creation/LastModified time windows, SortBy/SortOrder, MaxResults, NextToken)."""
    sort_by = params.get("SortBy", "CreationTime")
    if sort_by not in sort_keys:
        raise ValidationError(f"SortBy must be one of {', '.join(sort_keys)}.")
    q = ListQuery(
        name_contains=params.get("NameContains"),
        status_equals=params.get("StatusEquals"),
        created_after=timestamp(params.get("CreationTimeAfter")),
        created_before=timestamp(params.get("CreationTimeBefore")),
        modified_after=timestamp(params.get("LastModifiedTimeAfter")),
        modified_before=timestamp(params.get("LastModifiedTimeBefore")),
        sort_by=sort_keys[sort_by],
        descending=params.get("SortOrder", "Descending") != "Ascending",
        max_results=int(params.get("MaxResults") or 10),
        next_token=params.get("NextToken"),
    )
    page = services.meta.list(kind, q)
    out: dict[str, Any] = {key: [summarize(r) for r in page.items]}
    if page.next_token:
        out["NextToken"] = page.next_token
    return out
