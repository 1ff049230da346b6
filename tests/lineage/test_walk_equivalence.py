"""The SQL store's one-query walk (a recursive CTE) and the interface's level-by-level default (``neighbours``
per level, what another backend inherits) cross the same edges, on a random graph with diamonds and cycles."""

from __future__ import annotations

import random

import pytest

from shipyard.metastore.base import Association, MetaStore
from shipyard.metastore.sql.store import SqlMetaStore

A = "arn:aws:sagemaker:us-east-1:123456789012:artifact/"


@pytest.fixture(scope="module")
def store():
    """Built once: every case only reads it."""
    s = SqlMetaStore("sqlite://")
    rng = random.Random(7)
    for _ in range(400):
        a, b = rng.randrange(120), rng.randrange(120)
        if a != b:
            s.add_association(Association(f"{A}{a}", f"{A}{b}", "ContributedTo"))
    yield s
    s.close()


@pytest.mark.parametrize("direction", ["Ascendants", "Descendants"])
@pytest.mark.parametrize("depth", [0, 1, 2, 3, 10])
def test_cte_walk_matches_level_by_level(store, direction, depth):
    for start in (f"{A}0", f"{A}17", f"{A}119"):
        fast = {(e.source_arn, e.destination_arn) for e in store.reachable_edges(start, direction, depth)}
        slow = {(e.source_arn, e.destination_arn) for e in MetaStore.reachable_edges(store, start, direction, depth)}
        assert fast == slow
    if depth == 10:
        assert fast  # the random graph is connected enough that a deep walk finds edges
