"""Log events (the CloudWatch Logs subset SageMaker clients read) and metric series, for ``SqlMetaStore``.

Each stream keeps a summary row in ``log_streams`` whose ``last_seq`` hands out per-stream sequence
numbers under the row lock, so appends from several threads or processes keep their order. Tokens are
CloudWatch-like: ``f/<seq>`` reads events after ``seq``, ``b/<seq>`` the events before it; when there is
nothing new, the same forward token comes back (clients poll until the token stops changing).
A stream that does not exist reads as empty.
"""

from __future__ import annotations

import base64
import time

import sqlalchemy as sa

from ...errors import ValidationError
from ..base import LogEvent, LogStream
from .dialects import insert_ignore
from .schema import log_events, log_streams, metrics

MAX_LOG_LIMIT = 10_000


def _message_bytes(conn: sa.Connection):
    """A message's size in bytes (UTF-8), as ``stored_bytes`` counts it: SQLite's length() counts characters
    of text, but bytes of a blob."""
    if conn.dialect.name == "sqlite":
        return sa.func.length(sa.cast(log_events.c.message, sa.LargeBinary))
    return sa.func.octet_length(log_events.c.message)


def _parse_log_token(token: str) -> tuple[str, int]:
    try:
        direction, _, seq = token.partition("/")
        if direction in ("f", "b"):
            return direction, int(seq)
    except ValueError:
        pass
    raise ValidationError(f"The specified nextToken is invalid: {token!r}.")


class LogsAndMetrics:
    """Log and metric methods of the SQL store (mixed into ``SqlMetaStore``; uses its ``_tx``)."""

    def append_logs(self, group: str, stream: str, events: list[LogEvent]) -> None:
        if not events:
            return
        now = time.time()
        key = (log_streams.c.log_group == group) & (log_streams.c.log_stream == stream)
        with self._tx(write=True) as conn:
            insert_ignore(conn, log_streams, {"log_group": group, "log_stream": stream, "created": now,
                                              "first_event": 0.0, "last_event": 0.0, "last_ingestion": 0.0,
                                              "stored_bytes": 0, "last_seq": 0}, ["log_group", "log_stream"])
            summary = conn.execute(sa.select(log_streams).where(key).with_for_update()).one()
            seq = summary.last_seq
            rows = []
            for ev in events:
                seq += 1
                rows.append({"log_group": group, "log_stream": stream, "seq": seq, "timestamp": float(ev.timestamp),
                             "ingestion": float(ev.ingestion_time or now), "message": ev.message})
            conn.execute(log_events.insert(), rows)
            stamps = [r["timestamp"] for r in rows]
            first = min(stamps) if summary.last_seq == 0 else min(summary.first_event, *stamps)
            conn.execute(log_streams.update().where(key).values(
                last_seq=seq, first_event=first, last_event=max(summary.last_event, *stamps),
                last_ingestion=max(r["ingestion"] for r in rows),
                stored_bytes=summary.stored_bytes + sum(len(r["message"].encode()) for r in rows)))

    def get_logs(self, group: str, stream: str, start_from_head: bool = True, next_token: str | None = None,
                 limit: int = 10000, start_time: float | None = None,
                 end_time: float | None = None) -> tuple[list[LogEvent], str, str]:
        limit = min(max(1, int(limit or MAX_LOG_LIMIT)), MAX_LOG_LIMIT)
        c = log_events.c
        stmt = sa.select(c.seq, c.timestamp, c.ingestion, c.message).where(c.log_group == group,
                                                                           c.log_stream == stream)
        if start_time is not None:
            stmt = stmt.where(c.timestamp >= start_time)
        if end_time is not None:
            stmt = stmt.where(c.timestamp < end_time)
        direction, seq = _parse_log_token(next_token) if next_token else ("f" if start_from_head else "t", 0)
        with self._tx() as conn:
            if direction == "f":
                rows = conn.execute(stmt.where(c.seq > seq).order_by(c.seq.asc()).limit(limit)).all()
            else:
                if direction == "b":
                    stmt = stmt.where(c.seq < seq)
                rows = conn.execute(stmt.order_by(c.seq.desc()).limit(limit)).all()[::-1]
            if direction == "t" and not rows:
                last = conn.execute(sa.select(log_streams.c.last_seq).where(
                    log_streams.c.log_group == group, log_streams.c.log_stream == stream)).scalar()
                seq = last or 0
        events = [LogEvent(timestamp=r.timestamp, message=r.message, ingestion_time=r.ingestion) for r in rows]
        if rows:
            return events, f"f/{rows[-1].seq}", f"b/{rows[0].seq}"
        if direction == "b":
            return events, f"f/{max(seq - 1, 0)}", f"b/{seq}"
        return events, f"f/{seq}", f"b/{seq + 1}"

    def list_log_streams(self, group: str, prefix: str = "", limit: int = 50,
                         next_token: str | None = None, descending: bool = False,
                         order_by: str = "LogStreamName") -> tuple[list[LogStream], str | None]:
        c = log_streams.c
        cols = {"LogStreamName": c.log_stream, "LastEventTime": c.last_event}
        if order_by not in cols:
            raise ValidationError(f"Invalid orderBy {order_by!r}: use LogStreamName or LastEventTime.")
        limit = max(1, min(int(limit or 50), 50))
        offset = 0
        if next_token:
            try:
                offset = int(base64.urlsafe_b64decode(next_token.encode()).decode().removeprefix("o/"))
            except ValueError:
                raise ValidationError(f"The specified nextToken is invalid: {next_token!r}.") from None
        stmt = sa.select(log_streams).where(c.log_group == group)
        if prefix:
            stmt = stmt.where(c.log_stream.startswith(prefix, autoescape=True))
        order = [cols[order_by], c.log_stream]
        stmt = stmt.order_by(*[o.desc() if descending else o.asc() for o in order])
        with self._tx() as conn:
            rows = conn.execute(stmt.offset(offset).limit(limit + 1)).all()
        streams = [LogStream(group=r.log_group, stream=r.log_stream, first_event=r.first_event,
                             last_event=r.last_event, last_ingestion=r.last_ingestion,
                             stored_bytes=r.stored_bytes) for r in rows[:limit]]
        token = None
        if len(rows) > limit:
            token = base64.urlsafe_b64encode(f"o/{offset + limit}".encode()).decode()
        return streams, token

    def delete_logs_before(self, group: str, before: float) -> int:
        """Log retention: drop the group's events stamped before ``before``; each stream's summary follows
        (its first-event time and stored bytes; an emptied stream keeps its row, as CloudWatch keeps it)."""
        c = log_events.c
        old = (c.log_group == group) & (c.timestamp < before)
        with self._tx(write=True) as conn:
            gone = conn.execute(sa.select(c.log_stream, sa.func.count(), sa.func.sum(_message_bytes(conn)))
                                .where(old).group_by(c.log_stream)).all()
            if not gone:
                return 0
            conn.execute(log_events.delete().where(old))
            for stream, _, size in gone:
                key = (log_streams.c.log_group == group) & (log_streams.c.log_stream == stream)
                first = conn.execute(sa.select(sa.func.min(c.timestamp)).where(
                    c.log_group == group, c.log_stream == stream)).scalar()
                values: dict = {"stored_bytes": log_streams.c.stored_bytes - int(size or 0)}
                if first is not None:
                    values["first_event"] = first
                conn.execute(log_streams.update().where(key).values(**values))
        return sum(int(n) for _, n, _ in gone)

    def delete_log_streams(self, group: str, stream: str | None = None) -> int:
        """Remove one stream of ``group`` (every stream when ``stream`` is None) with its events; returns how
        many streams went (0 when there was none)."""
        ec, sc = log_events.c, log_streams.c
        ev_where = ec.log_group == group
        st_where = sc.log_group == group
        if stream is not None:
            ev_where = ev_where & (ec.log_stream == stream)
            st_where = st_where & (sc.log_stream == stream)
        with self._tx(write=True) as conn:
            conn.execute(log_events.delete().where(ev_where))
            return int(conn.execute(log_streams.delete().where(st_where)).rowcount or 0)

    def list_log_groups(self, prefix: str = "") -> list[str]:
        """Every log group holding at least one stream, sorted (an addition beyond the MetaStore interface)."""
        c = log_streams.c
        stmt = sa.select(c.log_group).distinct().order_by(c.log_group)
        if prefix:
            stmt = stmt.where(c.log_group.startswith(prefix, autoescape=True))
        with self._tx() as conn:
            return list(conn.execute(stmt).scalars())

    def append_metrics(self, job: str, points: list[tuple[str, float, float, int]]) -> None:
        if not points:
            return
        rows = [{"job": job, "name": name, "value": float(value), "timestamp": float(ts), "step": int(step or 0)}
                for name, value, ts, step in points]
        with self._tx(write=True) as conn:
            conn.execute(metrics.insert(), rows)

    def get_metrics(self, job: str, name: str | None = None) -> list[tuple[str, float, float, int]]:
        c = metrics.c
        stmt = sa.select(c.name, c.value, c.timestamp, c.step).where(c.job == job)
        if name is not None:
            stmt = stmt.where(c.name == name)
        with self._tx() as conn:
            return [(r.name, r.value, r.timestamp, r.step) for r in conn.execute(stmt.order_by(c.id))]
