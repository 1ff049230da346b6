"""Search over the SQL store: keeping the ``search_index`` table in step with resources, and turning a
:class:`~..search_query.SearchQuery` into SQL over it.

A filter is a key range on one path, with exactly one lower and one upper bound (several range filters on
one path merge into the tightest pair). Two plans order a page:

- filter-first, when at most ``SMALL_MATCH`` resources match: each positive filter's range is read from
  the ``(kind, path, key, ...)`` index, stopping after ``SMALL_MATCH`` rows; the candidates are checked
  against the whole expression and their sort values (``(resource_id, path, first, key, kind)`` index, or
  the resources row) ordered in Python;
- order-first otherwise: walk the sort order's index (``(kind, modified)``/``(kind, created)`` on
  resources, or the property's index rows) and probe each resource against the expression with EXISTS
  seeks, stopping after a page. On SQLite the probe is written against ``id + 0`` so the planner cannot
  drive by the filter and sort every match; PostgreSQL's cost-based planner gets the plain id.

Sorting by a property pages in two phases, keyset-paged in both plans with the same tokens: first the
resources that have the property, by its ``first`` index row's key; then those that lack it, by id.
Only the documents of the page are read.
"""

from __future__ import annotations

import base64
import contextvars
import hashlib
import json
from typing import Any

import sqlalchemy as sa

from ...errors import ValidationError
from ..base import Page
from ..search_query import (
    NUMBER_PREFIX,
    SEARCHABLE_KINDS,
    STRING_PREFIX,
    NestedFilter,
    SearchExpr,
    SearchFilter,
    SearchQuery,
    as_number,
    as_time,
    filter_key,
    index_entries,
)
from .schema import resources, search_index

_NUMBERS_END = chr(ord(NUMBER_PREFIX) + 1)
_STRINGS_END = chr(ord(STRING_PREFIX) + 1)
_REINDEX_BATCH = 500
# Whether this search runs on PostgreSQL (set by run_search): its cost-based planner gets the plain id and a
# probe with ``kind`` (see _has and _walk_id); SQLite gets the forms that keep its planner on the index walk.
_ON_POSTGRES: contextvars.ContextVar[bool] = contextvars.ContextVar("search_on_postgres", default=False)
# A filter matching at most this many resources is sorted filter-first (see _small_match_page).
SMALL_MATCH = 300


# --- writing ---

def index_rows(resource_id: int, kind: str, doc: dict) -> list[dict]:
    """The ``search_index`` rows of one resource (also for bulk loads that bypass ``create``)."""
    return [{"resource_id": resource_id, "kind": kind, "path": e.path, "key": e.key, "elem": e.elem,
             "first": e.first} for e in index_entries(doc)]


def index_resource(conn: sa.Connection, resource_id: int, kind: str, doc: dict, replace: bool = True) -> None:
    """(Re)write one resource's index rows inside the caller's transaction; other kinds are not indexed."""
    if kind not in SEARCHABLE_KINDS:
        return
    if replace:
        conn.execute(search_index.delete().where(search_index.c.resource_id == resource_id))
    rows = index_rows(resource_id, kind, doc)
    if rows:
        conn.execute(search_index.insert(), rows)


def reindex_all(conn: sa.Connection) -> int:
    """Index every searchable resource (the migration that adds the index, or a rebuild); returns the count."""
    import orjson

    conn.execute(search_index.delete())
    last_id, count = 0, 0
    while True:
        batch = conn.execute(
            sa.select(resources.c.id, resources.c.kind, resources.c.doc)
            .where(resources.c.kind.in_(sorted(SEARCHABLE_KINDS)), resources.c.id > last_id)
            .order_by(resources.c.id).limit(_REINDEX_BATCH)).all()
        if not batch:
            return count
        rows: list[dict] = []
        for row in batch:
            rows += index_rows(row.id, row.kind, orjson.loads(row.doc))
        if rows:
            conn.execute(search_index.insert(), rows)
        last_id, count = batch[-1].id, count + len(batch)


# --- querying ---

def _key_conds(f: SearchFilter, key: Any = search_index.c.key) -> list:
    """Conditions on the index key for filter ``f`` (none for Exists/NotExists: the path is enough)."""
    op, value = f.operator, f.value or ""
    if op in ("Exists", "NotExists"):
        return []
    if op == "In":
        return [key.in_([filter_key(v.strip())[0] for v in value.split(",") if v.strip()])]
    if op == "Contains":
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return [key.ilike(f"{STRING_PREFIX}%{escaped}%", escape="\\")]
    if op in ("Equals", "NotEquals"):
        return [key == filter_key(value)[0]]
    return _range_conds([f], key)


def _range_conds(filters: list[SearchFilter], key_col: Any = search_index.c.key) -> list:
    """Exactly one lower and one upper bound on ``key`` for range filters on one path (the tightest of
    them, within the numbers or within the strings): SQLite seeks an index with one bound each way, and
    given several it may pick the loosest (every number) and filter the rest row by row."""
    kinds = {filter_key(f.value or "")[1] for f in filters}
    if len(kinds) > 1:  # numbers and strings at once: each filter its own bounds (matches nothing anyway)
        return [c for f in filters for c in _range_conds([f], key_col)]
    low, high = (NUMBER_PREFIX, _NUMBERS_END) if kinds.pop() else (STRING_PREFIX, _STRINGS_END)
    lower: tuple[str, bool] = (low, True)  # (bound, inclusive)
    upper: tuple[str, bool] = (high, False)
    for f in filters:
        key = filter_key(f.value or "")[0]
        if f.operator in ("GreaterThan", "GreaterThanOrEqualTo"):
            candidate = (key, f.operator == "GreaterThanOrEqualTo")
            if candidate[0] > lower[0] or (candidate[0] == lower[0] and not candidate[1]):
                lower = candidate
        else:
            candidate = (key, f.operator == "LessThanOrEqualTo")
            if candidate[0] < upper[0] or (candidate[0] == upper[0] and not candidate[1]):
                upper = candidate
    return [key_col >= lower[0] if lower[1] else key_col > lower[0],
            key_col <= upper[0] if upper[1] else key_col < upper[0]]


def _matching(kind: str, f: SearchFilter, columns: tuple = (search_index.c.resource_id,),
              more: tuple[SearchFilter, ...] = ()) -> sa.Select:
    """The index rows of ``kind`` whose property ``f.path`` satisfies ``f`` (positive operators), and
    each range filter in ``more`` (range filters on the same path, with ``f`` one too) as well."""
    s = search_index.c
    conds = _range_conds([f, *more]) if more else _key_conds(f)
    return sa.select(*columns).where(s.kind == kind, s.path == f.path, *conds)


_COLUMNS = {"created": resources.c.created, "modified": resources.c.modified, "status": resources.c.status,
            "name": resources.c.name}


def _column_cond(col: Any, f: SearchFilter) -> Any:
    """A filter on a property the store keeps as a column (times are numbers; status and name strings)."""
    op, value = f.operator, f.value or ""
    numeric = col.key in ("created", "modified")

    def val(text: str) -> Any:
        if not numeric:
            return text
        key_value = as_number(text)
        if key_value is None:
            key_value = as_time(text)
        if key_value is None:
            raise ValidationError(f"The value {text!r} of the filter on {f.path} is not a number or an ISO-8601 "
                                  "time (e.g. 2024-01-31T12:00:00Z).")
        return key_value

    if op == "Exists":
        return sa.true()
    if op == "NotExists":
        return sa.false()
    if op == "In":
        return col.in_([val(v.strip()) for v in value.split(",") if v.strip()])
    if op == "Contains":
        escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return col.ilike(f"%{escaped}%", escape="\\")
    return {"Equals": col == val(value), "NotEquals": col != val(value), "GreaterThan": col > val(value),
            "GreaterThanOrEqualTo": col >= val(value), "LessThan": col < val(value),
            "LessThanOrEqualTo": col <= val(value)}[op]


def _has(kind: str, path: str, rid: Any, conds: Any = None) -> Any:
    """EXISTS an index row of resource ``rid`` at ``path`` (meeting ``conds(key)``): one seek on the
    ``(resource_id, path, ...)`` index per probed resource, never a list of every match."""
    x = search_index.alias()
    # With ``kind``, a planner that turns the probe into a semi-join (PostgreSQL) can build it from the
    # (kind, path, key) index; SQLite probes row by row, and without ``kind`` seeks the (resource_id, path)
    # index once rather than once per key of an In list.
    where = [x.c.resource_id == rid, x.c.path == path, *(conds(x.c.key) if conds else ())]
    if _ON_POSTGRES.get():
        where.append(x.c.kind == kind)
    probe = sa.select(x.c.resource_id).where(*where)
    return probe.exists()  # selecting an indexed column (not *) keeps the probe inside the index


def _filter_cond(kind: str, f: SearchFilter, columns: dict[str, str], rid: Any) -> Any:
    if f.path in columns:
        return _column_cond(_COLUMNS[columns[f.path]], f)
    if f.operator == "NotExists":
        return ~_has(kind, f.path, rid)
    if f.operator == "NotEquals":  # has the property, and no value of it equals Value
        return sa.and_(_has(kind, f.path, rid), ~_has(kind, f.path, rid, lambda key: _key_conds(f, key)))
    return _has(kind, f.path, rid, lambda key: _key_conds(f, key))


def _nested_cond(kind: str, nested: NestedFilter, rid: Any) -> Any:
    """One element of the list ``nested.property`` satisfies every filter (entries share ``elem``)."""
    parts = []
    for f in nested.filters:
        positive = f if f.operator not in ("NotEquals", "NotExists") else SearchFilter(f.path, "Exists")
        part = _matching(kind, positive, (search_index.c.resource_id, search_index.c.elem))
        part = part.where(search_index.c.elem >= 0)
        if f.operator == "NotEquals":
            part = part.where(search_index.c.key != filter_key(f.value or "")[0])
        parts.append(part)
    pairs = parts[0] if len(parts) == 1 else sa.intersect(*parts)
    sub = pairs.subquery()
    return rid.in_(sa.select(sub.c.resource_id))


_RANGE = ("GreaterThan", "GreaterThanOrEqualTo", "LessThan", "LessThanOrEqualTo")


def _ranges_merged(kind: str, filters: tuple[SearchFilter, ...], columns: dict[str, str], rid: Any) -> list:
    """Under And, the range filters on one indexed path become one index range scan (``0.01 <= lr < 0.02``
    reads the rows between the bounds, not every row above the lower one and every row below the upper)."""
    by_path: dict[str, list[SearchFilter]] = {}
    for f in filters:
        if f.operator in _RANGE and f.path not in columns:
            by_path.setdefault(f.path, []).append(f)
    conds = []
    for f in filters:
        group = by_path.get(f.path)
        if group is None or len(group) < 2:
            conds.append(_filter_cond(kind, f, columns, rid))
        elif group[0] is f:
            conds.append(_has(kind, f.path, rid, lambda key, group=group: _range_conds(group, key)))
    return conds


def expression_cond(kind: str, expr: SearchExpr, columns: dict[str, str] | None = None,
                    rid: Any = resources.c.id) -> Any:
    """The SQL condition for ``expr`` on the resource id column ``rid`` (``resources.id``, or
    ``search_index.resource_id`` when a sort walks the index without touching resources)."""
    columns = columns or {}
    if expr.operator == "And":
        conds = _ranges_merged(kind, expr.filters, columns, rid)
    else:
        conds = [_filter_cond(kind, f, columns, rid) for f in expr.filters]
    conds += [_nested_cond(kind, n, rid) for n in expr.nested]
    conds += [expression_cond(kind, e, columns, rid) for e in expr.subexpressions]
    if not conds:
        return sa.true()
    return sa.or_(*conds) if expr.operator == "Or" else sa.and_(*conds)


def _uses_columns(expr: SearchExpr | None, columns: dict[str, str]) -> bool:
    if expr is None:
        return False
    return (any(f.path in columns for f in expr.filters)
            or any(_uses_columns(e, columns) for e in expr.subexpressions))


def _fingerprint(kind: str, q: SearchQuery) -> str:
    """Ties a next token to the request it continues (filters and order)."""
    text = repr((kind, q.expression, q.sort_by, q.descending, sorted(q.columns.items())))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _encode(data: dict) -> str:
    raw = json.dumps(data, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(token: str, fingerprint: str) -> dict:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        ok = isinstance(data, dict) and data.get("f") == fingerprint and isinstance(data.get("i"), int)
    except (ValueError, TypeError):
        ok = False
    if not ok:
        raise ValidationError("The NextToken is invalid for this Search request: pass the token of the previous "
                              "response, with the same Resource, SearchExpression, SortBy and SortOrder.")
    return data


def _after(col: Any, id_col: Any, value: Any, row_id: int, descending: bool) -> Any:
    """Keyset condition as a row-value comparison: both SQLite and PostgreSQL seek an index with it (an OR of
    two comparisons makes SQLite scan)."""
    pair = sa.tuple_(col, id_col)
    return pair < (value, row_id) if descending else pair > (value, row_id)


def _fetch(conn: sa.Connection, ids: list[int], to_resource: Any) -> list:
    """The resources with ``ids``, in that order: only a page's documents are ever read."""
    if not ids:
        return []
    rows = {r.id: r for r in conn.execute(sa.select(resources).where(resources.c.id.in_(ids)))}
    return [to_resource(rows[i]) for i in ids if i in rows]


def run_search(conn: sa.Connection, kind: str, q: SearchQuery, to_resource: Any) -> Page:
    """One page of ``kind`` resources matching ``q``; ``to_resource`` turns a resources row into a Resource."""
    _ON_POSTGRES.set(conn.dialect.name == "postgresql")
    limit = max(1, int(q.max_results or 10))
    fp = _fingerprint(kind, q)
    token = _decode(q.next_token, fp) if q.next_token else None
    if q.expression is not None:
        page = _small_match_page(conn, kind, q, limit, fp, token, to_resource)
        if page is not None:
            return page
    if q.sort_by is None or q.sort_by in q.columns:
        return _column_page(conn, kind, q, limit, fp, token, to_resource)
    return _property_page(conn, kind, q, limit, fp, token, to_resource)


def _range_groups(filters: list[SearchFilter]) -> list[list[SearchFilter]]:
    """Filters as probed: range filters on one path together (their joint range), the others alone."""
    groups: dict[str, list[SearchFilter]] = {}
    out: list[list[SearchFilter]] = []
    for f in filters:
        if f.operator in _RANGE:
            if f.path not in groups:
                groups[f.path] = []
                out.append(groups[f.path])
            groups[f.path].append(f)
        else:
            out.append([f])
    return out


def _probe_ids(conn: sa.Connection, kind: str, group: list[SearchFilter]) -> set[int] | None:
    """The ids matching one filter (group), read from its index range, or None past SMALL_MATCH rows."""
    stmt = _matching(kind, group[0], more=tuple(group[1:])) if len(group) > 1 else _matching(kind, group[0])
    ids = conn.execute(stmt.limit(SMALL_MATCH + 1)).scalars().all()
    return None if len(ids) > SMALL_MATCH else set(ids)


def _candidates(conn: sa.Connection, kind: str, expr: SearchExpr, columns: dict[str, str]) -> set[int] | None:
    """A small superset of the matching ids when the expression is selective, else None: under And, the
    smallest of its positive filters' (or sub-expressions') sets; under Or, the union of all of them."""
    plain = [f for f in expr.filters if f.path not in columns and f.operator not in ("NotEquals", "NotExists")]
    if expr.operator == "And":
        best: set[int] | None = None
        for group in _range_groups(plain):
            ids = _probe_ids(conn, kind, group)
            if ids is not None and (best is None or len(ids) < len(best)):
                best = ids
            if best is not None and not best:
                return best
        if best is None:
            for sub in expr.subexpressions:
                ids = _candidates(conn, kind, sub, columns)
                if ids is not None and (best is None or len(ids) < len(best)):
                    best = ids
        return best
    if expr.nested or len(plain) != len(expr.filters):
        return None
    union: set[int] = set()
    for f in plain:
        found = _probe_ids(conn, kind, [f])
        if found is None:
            return None
        union |= found
    for sub in expr.subexpressions:
        found = _candidates(conn, kind, sub, columns)
        if found is None:
            return None
        union |= found
    return union if len(union) <= SMALL_MATCH else None


def _small_match_page(conn, kind, q, limit, fp, token, to_resource) -> Page | None:
    """A selective filter (at most SMALL_MATCH resources) is answered filter-first: the candidate ids come
    from the filters' index ranges (each read stops after SMALL_MATCH rows), are checked against the whole
    expression, and their sort values ordered here. Walking the sort order and probing the filter (the other
    plan) would read ~N/matches rows per hit, slow when matches are few. Returns None when more resources
    may match: then the sort-order walk finds a page quickly. Tokens are the same in both plans."""
    candidates = _candidates(conn, kind, q.expression, q.columns)
    if candidates is None:
        return None
    col = _COLUMNS[q.columns[q.sort_by]] if q.sort_by in q.columns else None
    if q.sort_by is None:
        col = resources.c.modified
    picked = [resources.c.id] if col is None else [resources.c.id, col.label("sort_value")]
    rows = conn.execute(sa.select(*picked).where(
        resources.c.id.in_(sorted(candidates)), resources.c.kind == kind,
        expression_cond(kind, q.expression, q.columns))).all() if candidates else []
    if col is not None:
        ordered = [(0, r.sort_value, r.id) for r in rows]
    else:
        ids = [r.id for r in rows]
        s = search_index.c
        keys: dict[int, str] = dict(conn.execute(
            sa.select(s.resource_id, s.key).where(s.resource_id.in_(ids), s.path == q.sort_by,
                                                  s.first == sa.true())).all()) if ids else {}
        ordered = [(0, keys[i], i) if i in keys else (1, None, i) for i in ids]
    return _page_of(conn, ordered, q.descending, limit, fp, token, to_resource, col is not None)


def _page_of(conn, ordered: list[tuple], descending: bool, limit: int, fp: str, token: dict | None,
             to_resource: Any, by_column: bool) -> Page:
    """One page of (phase, sort value, id) triples, ordered and cut after ``token`` as the SQL plans do:
    phase 0 by (value, id), then phase 1 (no sort property) by id, both in the requested direction."""
    def rank(t: tuple) -> tuple:
        phase, value, rid = t
        if phase == 1:
            return (1, -rid if descending else rid)
        return (0, value, rid)

    first = sorted((t for t in ordered if t[0] == 0), key=lambda t: (t[1], t[2]), reverse=descending)
    last = sorted((t for t in ordered if t[0] == 1), key=lambda t: t[2], reverse=descending)
    seq = first + last
    if token is not None:
        if by_column:
            mark = (0, token["k"], token["i"])
        elif token.get("p", 0) == 0:
            mark = (0, token["k"], token["i"])
        else:
            mark = (1, None, token["i"])
        if mark[0] == 1 and mark[2] < 0:
            seq = last
        else:
            cut = rank(mark)
            seq = [t for t in seq if _beyond(rank(t), cut, descending)]
    page, more = seq[:limit], len(seq) > limit
    nxt = None
    if more:
        phase, value, rid = page[-1]
        if by_column:
            nxt = _encode({"f": fp, "k": value, "i": rid})
        elif phase == 0:
            nxt = _encode({"f": fp, "p": 0, "k": value, "i": rid})
        else:
            nxt = _encode({"f": fp, "p": 1, "i": rid})
    return Page(items=_fetch(conn, [t[2] for t in page], to_resource), next_token=nxt)


def _beyond(r: tuple, cut: tuple, descending: bool) -> bool:
    """Does rank ``r`` come after the token's rank ``cut`` in the page order?"""
    if r[0] != cut[0]:
        return r[0] > cut[0]  # phase 1 always follows phase 0
    if r[0] == 1:  # ranks hold -id when descending, so "after" is always "greater"
        return r[1] > cut[1]
    return r[1:] < cut[1:] if descending else r[1:] > cut[1:]


def _column_page(conn, kind, q, limit, fp, token, to_resource) -> Page:
    col = _COLUMNS[q.columns.get(q.sort_by or "", "modified")]
    stmt = sa.select(resources.c.id, col.label("sort_value")).where(resources.c.kind == kind)
    if q.expression is not None:  # ``id + 0``: probe the filter while walking the order, never drive by it
        stmt = stmt.where(expression_cond(kind, q.expression, q.columns, rid=_walk_id(resources.c.id)))
    if token is not None:
        stmt = stmt.where(_after(col, resources.c.id, token["k"], token["i"], q.descending))
    order = (col.desc(), resources.c.id.desc()) if q.descending else (col.asc(), resources.c.id.asc())
    rows = conn.execute(stmt.order_by(*order).limit(limit + 1)).all()
    nxt = None
    if len(rows) > limit:
        last = rows[limit - 1]
        nxt = _encode({"f": fp, "k": last.sort_value, "i": last.id})
    return Page(items=_fetch(conn, [r.id for r in rows[:limit]], to_resource), next_token=nxt)


def _sorted_ids(kind: str, q: SearchQuery) -> sa.Select:
    """(id, sort_key) of the matching resources that have the sort property, walking its index in order.
    Filters apply to the index row's resource id; only filters on columns (times, status) need the join."""
    s = search_index.c
    stmt = sa.select(s.resource_id.label("id"), s.key.label("sort_key")).where(
        s.kind == kind, s.path == q.sort_by, s.first == sa.true())
    if _uses_columns(q.expression, q.columns):
        stmt = stmt.join(resources, resources.c.id == s.resource_id)
        assert q.expression is not None
        return stmt.where(expression_cond(kind, q.expression, q.columns))
    if q.expression is not None:
        stmt = stmt.where(expression_cond(kind, q.expression, q.columns, rid=_walk_id(s.resource_id)))
    return stmt


def _walk_id(col: Any) -> Any:
    """On SQLite, the id as an expression (``id + 0``), so that its planner cannot drive the query by the
    filter's ids (then sort them all) and walks the sort index instead, probing the filter: the better
    plan when more than SMALL_MATCH resources match (fewer are answered filter-first). PostgreSQL gets the
    plain id: its planner chooses by cost, and with ``id + 0`` could only hash-join against a full scan."""
    return col if _ON_POSTGRES.get() else col + 0


def _property_page(conn, kind, q, limit, fp, token, to_resource) -> Page:
    s = search_index.c
    phase = token["p"] if token is not None else 0
    ids: list[int] = []
    if phase == 0:  # resources that have the property, in its order
        stmt = _sorted_ids(kind, q)
        if token is not None:
            stmt = stmt.where(_after(s.key, s.resource_id, token["k"], token["i"], q.descending))
        order = (s.key.desc(), s.resource_id.desc()) if q.descending else (s.key.asc(), s.resource_id.asc())
        rows = conn.execute(stmt.order_by(*order).limit(limit + 1)).all()
        if len(rows) > limit:
            last = rows[limit - 1]
            return Page(items=_fetch(conn, [r.id for r in rows[:limit]], to_resource),
                        next_token=_encode({"f": fp, "p": 0, "k": last.sort_key, "i": last.id}))
        ids = [r.id for r in rows]
        token = None
    # then the resources without it, by id in the same direction
    stmt = sa.select(resources.c.id).where(resources.c.kind == kind, ~_has(kind, q.sort_by, resources.c.id))
    if q.expression is not None:
        stmt = stmt.where(expression_cond(kind, q.expression, q.columns))
    if token is not None and token["i"] >= 0:
        stmt = stmt.where(resources.c.id < token["i"] if q.descending else resources.c.id > token["i"])
    by_id = resources.c.id.desc() if q.descending else resources.c.id.asc()
    want = limit - len(ids)
    rows = conn.execute(stmt.order_by(by_id).limit(want + 1)).all()
    nxt = None
    if len(rows) > want:
        if want == 0:  # the first page of phase 1 starts at its beginning
            nxt = _encode({"f": fp, "p": 1, "i": -1})  # -1: from the first of them
        else:
            nxt = _encode({"f": fp, "p": 1, "i": rows[want - 1].id})
    ids += [r.id for r in rows[:want]]
    return Page(items=_fetch(conn, ids, to_resource), next_token=nxt)


__all__ = ["SMALL_MATCH", "expression_cond", "index_resource", "index_rows", "reindex_all", "run_search"]
