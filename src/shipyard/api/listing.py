"""The parts every SageMaker List* call shares: filters, sort, paging -> a :class:`ListQuery`, and the page out.

They live in :mod:`shipyard.resources.job_listing` (the job kinds' resources list through them and may not
import ``api``); this module names them for the API's handlers.
"""

from __future__ import annotations

from ..resources.job_listing import SORT_KEYS as STANDARD_SORT
from ..resources.job_listing import list_page, list_query, timestamp

__all__ = ["STANDARD_SORT", "list_page", "list_query", "timestamp"]
