"""Schema migrations: an old (revision 0001) database keeps its rows through the upgrade to head, and
several processes opening a fresh database at the same moment all succeed (one migrates, the rest wait)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa

from shipyard.metastore import LogEvent
from shipyard.metastore.sql import migrate
from shipyard.metastore.sql.dialects import make_engine
from shipyard.metastore.sql.store import SqlMetaStore

BACKENDS = ["sqlite", "postgres"]


@pytest.fixture(params=BACKENDS)
def store_url(request):
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "pg_schema_url")


def test_revision_0001_data_survives_upgrade_to_head(store_url):
    engine, schema = make_engine(store_url)
    migrate.upgrade(engine, schema, revision="0001")
    assert migrate.current_revision(engine) == "0001"
    with engine.begin() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("metrics")}
        assert "step" not in cols  # really the old schema
        conn.execute(sa.text(
            "INSERT INTO resources (kind, name, name_key, arn, status, parent, created, modified, version, doc) "
            "VALUES ('training-job', 'Old-Job', 'old-job', 'arn:old', 'Completed', '', 100.0, 200.0, 3, "
            "'{\"TrainingJobName\": \"Old-Job\", \"HyperParameters\": {\"eta\": \"0.1\"}}')"))
        conn.execute(sa.text("INSERT INTO metrics (job, name, value, timestamp) VALUES ('Old-Job', 'loss', 0.25, 150.0)"))
        conn.execute(sa.text("INSERT INTO log_streams (log_group, log_stream, created, first_event, last_event, "
                             "last_ingestion, stored_bytes, last_seq) VALUES ('g', 's', 1.0, 1.0, 1.0, 1.0, 5, 1)"))
        conn.execute(sa.text("INSERT INTO log_events (log_group, log_stream, seq, timestamp, ingestion, message) "
                             "VALUES ('g', 's', 1, 1.0, 1.0, 'hello')"))
    engine.dispose()

    store = SqlMetaStore(store_url)  # opening upgrades to head
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision() != "0001"
        old = store.get("training-job", "OLD-JOB")
        assert (old.name, old.status, old.created, old.modified, old.version) == ("Old-Job", "Completed", 100.0, 200.0, 3)
        assert old.doc == {"TrainingJobName": "Old-Job", "HyperParameters": {"eta": "0.1"}}
        assert store.get_metrics("Old-Job") == [("loss", 0.25, 150.0, 0)]  # the new column's default
        store.append_metrics("Old-Job", [("loss", 0.2, 151.0, 7)])
        assert store.get_metrics("Old-Job", "loss")[-1] == ("loss", 0.2, 151.0, 7)
        store.append_logs("g", "s", [LogEvent(2.0, "again")])
        assert [e.message for e in store.get_logs("g", "s")[0]] == ["hello", "again"]
        assert store.update("training-job", "old-job", {"x": 1}, expect_version=3).version == 4
    finally:
        store.close()


def test_reopening_a_current_database_is_a_no_op(store_url):
    SqlMetaStore(store_url).close()
    store = SqlMetaStore(store_url)
    try:
        assert migrate.current_revision(store.engine) == migrate.head_revision()
        with store.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
    finally:
        store.close()


_OPENER = """
import sys, time
from shipyard.metastore.sql.store import SqlMetaStore
url, i, start = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
time.sleep(max(0.0, start - time.time()))
s = SqlMetaStore(url)
s.create("model", f"m-{i}", f"arn:{i}", "Ready", {"i": i})
s.close()
"""


def test_processes_opening_a_fresh_database_at_once_all_succeed(store_url):
    count = 4
    start = time.time() + 2.0  # the interpreters start first, then all open together
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    procs = [subprocess.Popen([sys.executable, "-c", _OPENER, store_url, str(i), str(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env) for i in range(count)]
    outputs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=60)
            outputs.append((p.returncode, out.decode(errors="replace")))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=10)
    assert all(rc == 0 for rc, _ in outputs), outputs
    store = SqlMetaStore(store_url)
    try:
        assert sorted(r.name for r in store.list("model").items) == [f"m-{i}" for i in range(count)]
        assert migrate.current_revision(store.engine) == migrate.head_revision()
    finally:
        store.close()
