"""The SQL metadata store (SQLite or PostgreSQL through SQLAlchemy Core). See ``..base`` for the contract.

Each call is one transaction. Updates are read-modify-write under a row lock (PostgreSQL ``FOR UPDATE``,
SQLite ``BEGIN IMMEDIATE``) and are additionally guarded by ``WHERE version = <read version>``, so a
compare-and-set can never lose an update. Listing pages with a keyset token (sort value, row id), which
stays correct while rows are added or removed between calls.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import os
import time
from typing import Any, Iterable, Iterator

import orjson
import sqlalchemy as sa

from ...domain.arns import noun
from ...errors import ConflictError, MissingResource, ResourceInUse, ValidationError
from ..base import ListQuery, MetaStore, Page, Resource
from ..search_query import SearchQuery
from . import migrate
from .associations import AssociationStore  # lineage edges (QueryLineage)
from .dialects import SINGLE_READ_OPTION, WRITE_OPTION, make_engine, needs_serial_lock, opening_lock
from .logs import LogsAndMetrics
from .schema import resources
from .search import index_resource, run_search

SORT_COLUMNS = {
    "created": resources.c.created,
    "name": resources.c.name,
    "status": resources.c.status,
    "modified": resources.c.modified,
}
_UPDATE_ATTEMPTS = 20


_DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime):  # docs keep epoch seconds, as the JSON 1.1 wire does
        return value.timestamp()
    if hasattr(value, "item"):  # numpy scalar types not covered by OPT_SERIALIZE_NUMPY
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a resource document")


def dump_doc(doc: dict) -> str:
    return orjson.dumps(doc, default=_jsonable, option=_DUMP_OPTIONS).decode()


def load_doc(text: str) -> dict:
    return orjson.loads(text)


# SageMaker reports a duplicate model, endpoint configuration or endpoint as a ValidationException
# 'Cannot create already existing ...' (the SageMaker Python SDK matches that text to reuse a model);
# jobs get ResourceInUse. Either way the store raises ResourceInUse, carrying the code the client expects.
_VALIDATION_DUPLICATES = {"model", "endpoint-config", "endpoint"}


def duplicate_error(kind: str, arn: str) -> ResourceInUse:
    what = noun(kind)
    if kind in _VALIDATION_DUPLICATES:
        return ResourceInUse(f'Cannot create already existing {what} "{arn}".', code="ValidationException")
    return ResourceInUse(f"{what[:1].upper()}{what[1:]} names must be unique within an AWS account and region, "
                         f"and a {what} with this name already exists ({arn})")


def _row_to_resource(row: Any) -> Resource:
    return Resource(kind=row.kind, name=row.name, arn=row.arn, status=row.status, created=row.created,
                    modified=row.modified, doc=load_doc(row.doc), parent=row.parent, version=row.version)


def _private_sqlite_file(url: str) -> None:
    """A SQLite database file is the user's alone (0600): created so before SQLite opens it."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or ":memory:" in url:
        return
    path = url[len(prefix):].split("?", 1)[0]
    if not path or path.startswith("file:") or "mode=memory" in url:  # SQLite URI filenames: left to SQLite
        return
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)
    except OSError:
        pass  # SQLite reports a path it cannot open better than we would


class SqlMetaStore(LogsAndMetrics, AssociationStore, MetaStore):
    """Metadata store over ``sqlite:///PATH``, ``postgresql://...`` or ``postgres://...`` (``?schema=NAME``)."""

    def __init__(self, url: str, upgrade: bool = True):
        self.url = url
        _private_sqlite_file(url)
        self.engine, self.schema = make_engine(url)
        self._serial = needs_serial_lock(self.engine)
        with opening_lock(self.engine):  # the first connection (WAL switch) and the migration, one process at once
            with self.engine.connect():
                pass
            if upgrade:
                migrate.upgrade(self.engine, self.schema)

    # --- plumbing ---
    @contextlib.contextmanager
    def _tx(self, write: bool = False, single_read: bool = False) -> Iterator[sa.Connection]:
        lock = self._serial or contextlib.nullcontext()
        with lock, self.engine.connect() as conn:
            if write:
                conn.execution_options(**{WRITE_OPTION: True})
            elif single_read:
                conn.execution_options(**{SINGLE_READ_OPTION: True})
            with conn.begin():
                yield conn

    def close(self) -> None:
        self.engine.dispose()

    @staticmethod
    def _where(kind: str, name: str):
        return sa.and_(resources.c.kind == kind, resources.c.name_key == name.lower())

    # Built once: Describe* polling makes get() the hottest call, and statement construction dominates it.
    _GET = sa.select(resources).where(resources.c.kind == sa.bindparam("kind"),
                                      resources.c.name_key == sa.bindparam("key"))
    _GET_FOR_UPDATE = _GET.with_for_update()

    # --- resources ---
    def create(self, kind: str, name: str, arn: str, status: str, doc: dict, parent: str = "") -> Resource:
        now = time.time()
        values = dict(kind=kind, name=name, name_key=name.lower(), arn=arn, status=status, parent=parent or "",
                      created=now, modified=now, version=1, doc=dump_doc(doc))
        try:
            with self._tx(write=True) as conn:
                done = conn.execute(resources.insert().values(**values))
                index_resource(conn, done.inserted_primary_key[0], kind, doc, replace=False)  # Search
        except sa.exc.IntegrityError:
            existing = self.find(kind, name)
            raise duplicate_error(kind, existing.arn if existing else arn) from None
        return Resource(kind=kind, name=name, arn=arn, status=status, created=now, modified=now,
                        doc=load_doc(values["doc"]), parent=parent or "", version=1)

    def get(self, kind: str, name: str) -> Resource:
        with self._tx(single_read=True) as conn:
            row = conn.execute(self._GET, {"kind": kind, "key": name.lower()}).first()
        if row is None:
            raise MissingResource(noun(kind), name)
        return _row_to_resource(row)

    def update(self, kind: str, name: str, changes: dict | None = None, status: str | None = None,
               expect_status: Iterable[str] | None = None, expect_version: int | None = None) -> Resource:
        expected = None
        if expect_status is not None:
            expected = {expect_status} if isinstance(expect_status, str) else set(expect_status)
        for _ in range(_UPDATE_ATTEMPTS):
            with self._tx(write=True) as conn:
                row = conn.execute(self._GET_FOR_UPDATE, {"kind": kind, "key": name.lower()}).first()
                if row is None:
                    raise MissingResource(noun(kind), name)
                if expected is not None and row.status not in expected:
                    raise ConflictError(f"The {noun(kind)} {name} is in status {row.status}, "
                                        f"not in {sorted(expected)}.")
                if expect_version is not None and row.version != expect_version:
                    raise ConflictError(f"The {noun(kind)} {name} is at version {row.version}, "
                                        f"not {expect_version}; it was changed concurrently.")
                doc = load_doc(row.doc)
                for key, value in (changes or {}).items():
                    if value is None:
                        doc.pop(key, None)
                    else:
                        doc[key] = value
                new_status = row.status if status is None else status
                now = max(time.time(), row.modified)
                done = conn.execute(
                    resources.update()
                    .where(resources.c.id == row.id, resources.c.version == row.version)
                    .values(doc=dump_doc(doc), status=new_status, modified=now, version=row.version + 1))
                if done.rowcount == 1:
                    if changes:  # Search: the index follows the document (a status-only update keeps it)
                        index_resource(conn, row.id, kind, doc)
                    return Resource(kind=kind, name=row.name, arn=row.arn, status=new_status, created=row.created,
                                    modified=now, doc=doc, parent=row.parent, version=row.version + 1)
        raise ConflictError(f"The {noun(kind)} {name} kept changing concurrently; try again.")

    def delete(self, kind: str, name: str) -> None:
        with self._tx(write=True) as conn:
            done = conn.execute(resources.delete().where(self._where(kind, name)))
        if done.rowcount == 0:
            raise MissingResource(noun(kind), name)

    def list_in_status(self, kind: str, statuses: Iterable[str]) -> list[Resource]:
        wanted = [statuses] if isinstance(statuses, str) else list(statuses)
        if not wanted:
            return []
        stmt = (sa.select(resources).where(resources.c.kind == kind, resources.c.status.in_(wanted))
                .order_by(resources.c.created, resources.c.id))
        with self._tx() as conn:
            return [_row_to_resource(r) for r in conn.execute(stmt)]

    def list(self, kind: str, query: ListQuery | None = None) -> Page:
        q = query or ListQuery()
        if q.sort_by not in SORT_COLUMNS:
            raise ValidationError(f"Invalid SortBy {q.sort_by!r}: use one of {sorted(SORT_COLUMNS)}.")
        col = SORT_COLUMNS[q.sort_by]
        limit = max(1, int(q.max_results or 100))
        stmt = sa.select(resources).where(*self._filters(kind, q))
        if q.descending:
            stmt = stmt.order_by(col.desc(), resources.c.id.desc())
        else:
            stmt = stmt.order_by(col.asc(), resources.c.id.asc())
        cursor = _decode_token(q.next_token, q.sort_by, q.descending) if q.next_token else None
        batch = limit + 1 if not q.doc_equals else max(4 * (limit + 1), 200)
        items: list[Resource] = []
        last_key = None
        has_more = False
        with self._tx() as conn:
            while True:
                page_stmt = stmt if cursor is None else stmt.where(_after(col, cursor, q.descending))
                rows = conn.execute(page_stmt.limit(batch)).all()
                for row in rows:
                    cursor = (getattr(row, col.key), row.id)
                    res = _row_to_resource(row)
                    if any(res.doc.get(k) != v for k, v in q.doc_equals.items()):
                        continue
                    if len(items) == limit:
                        has_more = True
                        break
                    items.append(res)
                    last_key = cursor
                if has_more or len(rows) < batch:
                    break
        token = _encode_token(q.sort_by, q.descending, last_key) if has_more else None
        return Page(items=items, next_token=token)

    @staticmethod
    def _filters(kind: str, q: ListQuery) -> list:
        c = resources.c
        where = [c.kind == kind]
        if q.name_contains:
            where.append(c.name_key.contains(q.name_contains.lower(), autoescape=True))
        if q.status_equals is not None:
            where.append(c.status == q.status_equals)
        if q.parent is not None:
            where.append(c.parent == q.parent)
        if q.created_after is not None:
            where.append(c.created > q.created_after)
        if q.created_before is not None:
            where.append(c.created < q.created_before)
        if q.modified_after is not None:
            where.append(c.modified > q.modified_after)
        if q.modified_before is not None:
            where.append(c.modified < q.modified_before)
        return where

    # --- Search (see .search): filters and sorts over the search index, in one read transaction ---
    def search(self, kind: str, query: SearchQuery) -> Page:
        with self._tx() as conn:
            return run_search(conn, kind, query, _row_to_resource)


def _after(col: sa.Column, cursor: tuple, descending: bool):
    value, row_id = cursor
    if descending:
        return sa.or_(col < value, sa.and_(col == value, resources.c.id < row_id))
    return sa.or_(col > value, sa.and_(col == value, resources.c.id > row_id))


def _encode_token(sort_by: str, descending: bool, key: tuple) -> str:
    raw = json.dumps({"s": sort_by, "d": descending, "k": key[0], "i": key[1]}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_token(token: str, sort_by: str, descending: bool) -> tuple:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key = (data["k"], int(data["i"]))
        ok = data["s"] == sort_by and bool(data["d"]) == bool(descending)
    except (ValueError, KeyError, TypeError):
        ok = False
    if not ok:
        raise ValidationError("The next token is invalid for this request.")
    return key
