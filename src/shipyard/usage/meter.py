"""The meter: open, extend and close usage intervals so that they follow what runs (one pass = one tick).

A pass compares what runs now (:class:`~.observe.Observer`) with the open intervals in the store:

- still running with the same instance type and count: the interval is extended (``LastSeen``, tags);
- running with another count (an endpoint scaled from 1 to 3): the interval closes now and a new one opens
  now, so a scale-out and back shows three segments;
- running with no open interval: one opens, at the job's own start time (else now);
- open but no longer running: it closes at the job's own end time; for an endpoint or notebook, which has none,
  at now if the meter saw it on its last pass, else at ``LastSeen`` (it stopped while the server was down);
- a job that ended since the last pass and was never seen running (shorter than a tick) gets its closed
  interval from its own times.

Every step is idempotent and keyed by names in the store (a job's interval is named after the job), so a pass
interrupted by a crash is simply done again by the next server: an interval whose job still runs continues.
"""

from __future__ import annotations

import logging

from ..metastore.base import MetaStore
from . import store
from .intervals import Interval
from .observe import BY_AWS_KIND, Observation, Observer

log = logging.getLogger("shipyard.usage")


def _new(obs: Observation, start: float, now: float) -> Interval:
    job = obs.meta_kind in {k.meta_kind for k in BY_AWS_KIND.values()}
    name = store.interval_name(obs.meta_kind, obs.name, obs.part, None if job else start)
    return Interval(name=name, resource_arn=obs.arn, resource_kind=obs.aws_kind, resource_name=obs.name,
                    part=obs.part, instance_type=obs.instance_type, count=obs.count, start=start, end=obs.end,
                    last_seen=now, tags=dict(obs.tags), user=obs.user)


class Meter:
    """One meter per server process. ``stale`` seconds without a sighting mean the server was not watching."""

    def __init__(self, meta: MetaStore, stale: float = 15.0, lookback: float = 3600.0):
        self.meta = meta
        self.observer = Observer(meta)
        self.stale = stale
        self._since: float | None = None  # ended jobs are scanned from here (first pass: ``lookback`` back)
        self.lookback = lookback

    def pass_once(self, now: float) -> None:
        since = now - self.lookback if self._since is None else self._since
        running = self.observer.running()
        ended = list(self.observer.ended_jobs(since))
        opened = {(iv.resource_arn, iv.part): iv for iv in store.open_intervals(self.meta)}
        for obs in running:
            self._follow(obs, opened.pop(obs.key, None), now)
        for obs in ended:
            self._finish(obs, opened.pop(obs.key, None), now)
        for iv in opened.values():
            self._vanished(iv, now)
        self._since = now - 2 * self.stale  # overlap: a job saved just before ``now`` is seen next pass too

    def _follow(self, obs: Observation, iv: Interval | None, now: float) -> None:
        if iv is not None and iv.instance_type == obs.instance_type and iv.count == obs.count:
            before = (iv.tags, iv.user, iv.start)
            iv.tags, iv.user = dict(obs.tags), obs.user or iv.user
            if obs.start is not None:
                iv.start = obs.start  # a job's own start time, should it be recorded late
            # A write per running resource per tick is wasted on the store: LastSeen only has to stay well within
            # ``stale`` of now (a third of it), unless something else about the interval changed.
            if (iv.tags, iv.user, iv.start) != before or now - iv.last_seen >= self.stale / 3:
                iv.last_seen = now
                store.save(self.meta, iv)
            return
        start = now
        if iv is not None:  # scaled: this segment ends, the next begins
            iv.end, iv.last_seen = now, now
            store.save(self.meta, iv)
        elif obs.start is not None:
            start = obs.start
        store.create(self.meta, _new(obs, start, now))

    def _finish(self, obs: Observation, iv: Interval | None, now: float) -> None:
        """A job ended: close its interval at its own end, or record it whole if the meter never saw it."""
        end = obs.end if obs.end is not None else now
        if iv is not None:
            iv.end, iv.last_seen = max(end, iv.start), now
            if obs.start is not None:
                iv.start = min(obs.start, iv.end)
            iv.tags = dict(obs.tags)
            store.save(self.meta, iv)
            return
        if obs.start is None:
            return
        fresh = _new(obs, obs.start, now)
        fresh.end = max(end, obs.start)
        if not store.exists(self.meta, fresh.name):
            store.create(self.meta, fresh)

    def _vanished(self, iv: Interval, now: float) -> None:
        """An open interval whose resource no longer runs (an endpoint deleted, a notebook stopped, a job that
        the ended-jobs scan did not cover)."""
        end = self.observer.job_end(iv.resource_kind, iv.resource_name) if iv.resource_kind in BY_AWS_KIND else None
        if end is None:
            end = now if now - iv.last_seen <= self.stale else iv.last_seen
        iv.end, iv.last_seen = max(end, iv.start), now
        store.save(self.meta, iv)
        log.info("usage interval %s closed at %.3f", iv.name, iv.end)
