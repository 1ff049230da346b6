"""Lineage associations for ``SqlMetaStore``: one row per directed edge, unique on (source, destination),
indexed on both ends so QueryLineage's breadth-first walk reads one level per query in either direction.

Listing pages with a keyset token (sort value, row id), like the resource listing, so rows added or removed
between pages neither repeat nor vanish.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any, Iterable

import sqlalchemy as sa

from ...errors import MissingResource, ValidationError
from ..base import Association, AssociationPage, AssociationQuery
from .dialects import insert_ignore
from .schema import associations

SORT_COLUMNS = {
    "created": associations.c.created,
    "source_arn": associations.c.source_arn,
    "destination_arn": associations.c.destination_arn,
    "source_type": associations.c.source_type,
    "destination_type": associations.c.destination_type,
}
DIRECTIONS = ("Ascendants", "Descendants", "Both")
_IN_CHUNK = 500  # ARNs per IN (...) list: well under SQLite's and PostgreSQL's parameter limits


def _row(row: Any) -> Association:
    # The table's columns after ``id`` are Association's fields in order; positional access is several times
    # faster than by name, which matters when a walk returns thousands of edges.
    _id, source, destination, kind, source_type, destination_type, source_name, destination_name, created = row
    return Association(source, destination, kind, source_type, destination_type, source_name, destination_name,
                       created)


class AssociationStore:
    """Association methods of the SQL store (mixed into ``SqlMetaStore``; uses its ``_tx``)."""

    _tx: Any

    def add_association(self, association: Association) -> Association:
        a = association
        values = dict(source_arn=a.source_arn, destination_arn=a.destination_arn,
                      association_type=a.association_type or "", source_type=a.source_type or "",
                      destination_type=a.destination_type or "", source_name=a.source_name or "",
                      destination_name=a.destination_name or "", created=a.created or time.time())
        key = (associations.c.source_arn == a.source_arn) & (associations.c.destination_arn == a.destination_arn)
        with self._tx(write=True) as conn:
            insert_ignore(conn, associations, values, ["source_arn", "destination_arn"])
            return _row(conn.execute(sa.select(associations).where(key)).one())

    def delete_association(self, source_arn: str, destination_arn: str) -> None:
        key = (associations.c.source_arn == source_arn) & (associations.c.destination_arn == destination_arn)
        with self._tx(write=True) as conn:
            if conn.execute(associations.delete().where(key)).rowcount == 0:
                raise MissingResource("association", f"{source_arn} -> {destination_arn}")

    def delete_associations_of(self, arn: str) -> int:
        c = associations.c
        with self._tx(write=True) as conn:
            return conn.execute(associations.delete().where((c.source_arn == arn) | (c.destination_arn == arn))
                                ).rowcount

    def list_associations(self, query: AssociationQuery | None = None) -> AssociationPage:
        q = query or AssociationQuery()
        if q.sort_by not in SORT_COLUMNS:
            raise ValidationError(f"Invalid SortBy {q.sort_by!r}: use one of {sorted(SORT_COLUMNS)}.")
        col, c = SORT_COLUMNS[q.sort_by], associations.c
        where = []
        for value, column in ((q.source_arn, c.source_arn), (q.destination_arn, c.destination_arn),
                              (q.source_type, c.source_type), (q.destination_type, c.destination_type),
                              (q.association_type, c.association_type)):
            if value is not None:
                where.append(column == value)
        if q.created_after is not None:
            where.append(c.created > q.created_after)
        if q.created_before is not None:
            where.append(c.created < q.created_before)
        if q.next_token:
            value, row_id = _decode_token(q.next_token, q.sort_by, q.descending)
            if q.descending:
                where.append(sa.or_(col < value, sa.and_(col == value, c.id < row_id)))
            else:
                where.append(sa.or_(col > value, sa.and_(col == value, c.id > row_id)))
        order = (col.desc(), c.id.desc()) if q.descending else (col.asc(), c.id.asc())
        limit = max(1, int(q.max_results or 10))
        with self._tx() as conn:
            rows = conn.execute(sa.select(associations).where(*where).order_by(*order).limit(limit + 1)).all()
        token = None
        if len(rows) > limit:
            rows = rows[:limit]
            token = _encode_token(q.sort_by, q.descending, (getattr(rows[-1], col.key), rows[-1].id))
        return AssociationPage(items=[_row(r) for r in rows], next_token=token)

    def neighbours(self, arns: Iterable[str], direction: str) -> list[Association]:
        if direction not in DIRECTIONS:
            raise ValidationError(f"Direction must be one of {', '.join(DIRECTIONS)}, not {direction!r}.")
        wanted = list(dict.fromkeys(arns))
        c = associations.c
        found: dict[tuple[str, str], Association] = {}
        with self._tx() as conn:
            for i in range(0, len(wanted), _IN_CHUNK):
                chunk = wanted[i:i + _IN_CHUNK]
                ends = []
                if direction in ("Descendants", "Both"):
                    ends.append(c.source_arn.in_(chunk))
                if direction in ("Ascendants", "Both"):
                    ends.append(c.destination_arn.in_(chunk))
                for ends_clause in ends:  # one indexed look-up per end (an OR would defeat the indexes)
                    for row in conn.execute(sa.select(associations).where(ends_clause).order_by(c.id)):
                        found.setdefault((row.source_arn, row.destination_arn), _row(row))
        return list(found.values())

    def reachable_edges(self, start: str, direction: str, max_depth: int) -> list[Association]:
        """One recursive query: each step follows the edges at the frontier through the end's index and keeps
        the edge's id; UNION keeps each (arn, depth, edge) once, so diamonds and cycles stay bounded by depth.
        The edges are then read by primary key."""
        if direction not in ("Ascendants", "Descendants"):
            raise ValidationError(f"Direction must be Ascendants or Descendants here, not {direction!r}.")
        if max_depth <= 0:
            return []
        c = associations.c
        near, far = (c.source_arn, c.destination_arn) if direction == "Descendants" else (c.destination_arn,
                                                                                             c.source_arn)
        with self._tx() as conn:
            seed_arn: Any = sa.literal(start, sa.String)
            if conn.dialect.name == "postgresql":  # the ARN columns compare byte-wise (collation "C")
                seed_arn = seed_arn.collate("C")
            reach = sa.select(seed_arn.label("arn"), sa.literal(0).label("depth"),
                              sa.literal(0).label("edge")).cte("reach", recursive=True)  # ids start at 1
            step = sa.select(far.label("arn"), (reach.c.depth + 1).label("depth"), c.id.label("edge")).join(
                reach, near == reach.c.arn).where(reach.c.depth < max_depth)
            reach = reach.union(step)
            stmt = sa.select(associations).where(c.id.in_(sa.select(reach.c.edge))).order_by(c.id)
            return [_row(r) for r in conn.execute(stmt)]

def _encode_token(sort_by: str, descending: bool, key: tuple) -> str:
    raw = json.dumps({"a": sort_by, "d": descending, "k": key[0], "i": key[1]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, sort_by: str, descending: bool) -> tuple:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = (data["k"], int(data["i"]))
        ok = data["a"] == sort_by and bool(data["d"]) == bool(descending)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ValidationError("The next token is invalid for this ListAssociations request: pass the NextToken "
                              "of the previous page with the same filters and sort.")
    return key
