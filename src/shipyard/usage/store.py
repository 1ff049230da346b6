"""Usage intervals in the metadata store: one generic resource row per interval (kind ``usage-interval``).

Why the metadata store and not a file: it is the one store every server process, the CLI and PostgreSQL
deployments share, and it already gives transactions and compare-and-set. An interval's row has status
``Open`` while its resource runs and ``Closed`` after; its ``modified`` time is never earlier than the
interval's end, so "intervals that may overlap a window starting at T" is ``modified >= T`` (or still open).
"""

from __future__ import annotations

from typing import Iterator

from ..errors import ResourceInUse
from ..metastore.base import ListQuery, MetaStore
from .intervals import Interval

KIND = "usage-interval"
OPEN, CLOSED = "Open", "Closed"
_ARN_PREFIX = "arn:shipyard:usage:::interval/"
_PAGE = 500


def interval_name(meta_kind: str, resource_name: str, part: str, start: float | None = None) -> str:
    """A job's interval is named after the job (one per job and instance group, so re-creating it is a no-op);
    an endpoint's or notebook's segment also after its start (in milliseconds)."""
    base = f"{meta_kind}:{resource_name}:{part}"
    return base if start is None else f"{base}:{int(start * 1000)}"


def create(meta: MetaStore, iv: Interval) -> bool:
    """Store a new interval; False when one of that name exists already (a job metered before)."""
    try:
        meta.create(KIND, iv.name, _ARN_PREFIX + iv.name, CLOSED if iv.end is not None else OPEN, iv.to_doc())
    except ResourceInUse:
        return False
    return True


def save(meta: MetaStore, iv: Interval) -> None:
    meta.update(KIND, iv.name, iv.to_doc(), status=CLOSED if iv.end is not None else OPEN)


def exists(meta: MetaStore, name: str) -> bool:
    return meta.find(KIND, name) is not None


def open_intervals(meta: MetaStore) -> list[Interval]:
    return [Interval.from_doc(r.name, r.doc) for r in meta.list_in_status(KIND, [OPEN])]


def intervals(meta: MetaStore, since: float | None = None, until: float | None = None) -> Iterator[Interval]:
    """Every interval that may overlap [since, until] (all of them without ``since``): the rows modified since
    ``since``, and every open one (a server that was down did not touch them, yet they still run)."""
    seen: set[str] = set()
    token = None
    while True:
        page = meta.list(KIND, ListQuery(modified_after=since, sort_by="created", descending=False,
                                         max_results=_PAGE, next_token=token))
        for r in page.items:
            seen.add(r.name)
            iv = Interval.from_doc(r.name, r.doc)
            if until is None or iv.start <= until:
                yield iv
        token = page.next_token
        if not token:
            break
    for iv in open_intervals(meta):
        if iv.name not in seen and (until is None or iv.start <= until):
            yield iv
