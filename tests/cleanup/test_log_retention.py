"""CloudWatch Logs retention through boto3's ``logs`` client: PutRetentionPolicy / DeleteRetentionPolicy,
``retentionInDays`` in DescribeLogGroups, expired events hidden from reads at once and deleted by the sweep;
CreateLogGroup, DeleteLogStream and DeleteLogGroup.

Events are aged the test-only way: appended straight into the server's database with old timestamps (the
server itself stamps events as it ships them)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from shipyard.metastore.base import LogEvent
from shipyard.metastore.sql.store import SqlMetaStore

DAY = 86400.0
GROUP = "/aws/sagemaker/ProcessingJobs"


def _messages(logs, stream: str, group: str = GROUP) -> list[str]:
    got = logs.get_log_events(logGroupName=group, logStreamName=stream, startFromHead=True)["events"]
    return [e["message"] for e in got]


def _filtered(logs, group: str = GROUP) -> list[str]:
    return sorted(e["message"] for e in logs.filter_log_events(logGroupName=group)["events"])


def _code(exc: pytest.ExceptionInfo) -> str:
    return exc.value.response["Error"]["Code"]


def _group(logs, name: str) -> dict | None:
    found = [g for g in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] if g["logGroupName"] == name]
    return found[0] if found else None


def test_retention_hides_then_sweeps_expired_events(server_factory):
    srv = server_factory()
    logs = srv.client("logs")
    store = SqlMetaStore(srv.settings.database_url)
    try:
        now = time.time()
        store.append_logs(GROUP, "job-a/algo-1", [LogEvent(now - 3 * DAY, "a old"), LogEvent(now - 60, "a new")])
        store.append_logs(GROUP, "job-b/algo-1", [LogEvent(now - 2 * DAY, "b old")])
        assert "retentionInDays" not in _group(logs, GROUP)
        assert _filtered(logs) == ["a new", "a old", "b old"]

        with pytest.raises(ClientError) as bad:
            logs.put_retention_policy(logGroupName=GROUP, retentionInDays=2)
        assert _code(bad) == "InvalidParameterException" and "1, 3, 5, 7" in bad.value.response["Error"]["Message"]
        with pytest.raises(ClientError) as missing:
            logs.put_retention_policy(logGroupName="/no/such/group", retentionInDays=1)
        assert _code(missing) == "ResourceNotFoundException"

        created = _group(logs, GROUP)["creationTime"]
        logs.put_retention_policy(logGroupName=GROUP, retentionInDays=1)
        assert _group(logs, GROUP)["retentionInDays"] == 1
        assert _group(logs, GROUP)["creationTime"] == created  # a policy does not make the group new
        assert _messages(logs, "job-a/algo-1") == ["a new"]
        assert _messages(logs, "job-b/algo-1") == []
        assert _filtered(logs) == ["a new"]

        # the sweep (woken by the put) deletes them from storage; the streams stay, as in CloudWatch
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and store.get_logs(GROUP, "job-b/algo-1")[0]:
            time.sleep(0.1)
        assert store.get_logs(GROUP, "job-b/algo-1")[0] == []
        assert [e.message for e in store.get_logs(GROUP, "job-a/algo-1")[0]] == ["a new"]
        streams = {s["logStreamName"]: s for s in logs.describe_log_streams(logGroupName=GROUP)["logStreams"]}
        assert set(streams) == {"job-a/algo-1", "job-b/algo-1"}
        assert streams["job-b/algo-1"]["storedBytes"] == 0 and streams["job-a/algo-1"]["storedBytes"] == len("a new")

        # an event that expired after the sweep ran is hidden from reads all the same
        store.append_logs(GROUP, "job-a/algo-1", [LogEvent(now - 5 * DAY, "late old")])
        assert _messages(logs, "job-a/algo-1") == ["a new"] and _filtered(logs) == ["a new"]

        logs.delete_retention_policy(logGroupName=GROUP)
        assert "retentionInDays" not in _group(logs, GROUP)
        assert _messages(logs, "job-a/algo-1") == ["a new", "late old"]
    finally:
        store.close()


def test_create_and_delete_groups_and_streams(server_factory):
    srv = server_factory()
    logs = srv.client("logs")
    store = SqlMetaStore(srv.settings.database_url)
    try:
        logs.create_log_group(logGroupName="/my/app")
        assert _group(logs, "/my/app") is not None  # a group with no stream yet
        with pytest.raises(ClientError) as dup:
            logs.create_log_group(logGroupName="/my/app")
        assert _code(dup) == "ResourceAlreadyExistsException"
        logs.put_retention_policy(logGroupName="/my/app", retentionInDays=7)
        assert _group(logs, "/my/app")["retentionInDays"] == 7

        store.append_logs("/my/app", "one", [LogEvent(time.time(), "1")])
        store.append_logs("/my/app", "two", [LogEvent(time.time(), "2")])
        logs.delete_log_stream(logGroupName="/my/app", logStreamName="one")
        assert [s["logStreamName"] for s in logs.describe_log_streams(logGroupName="/my/app")["logStreams"]] == ["two"]
        with pytest.raises(ClientError) as gone:
            logs.delete_log_stream(logGroupName="/my/app", logStreamName="one")
        assert _code(gone) == "ResourceNotFoundException"
        with pytest.raises(ClientError) as no_group:
            logs.get_log_events(logGroupName="/my/app", logStreamName="one")
        assert _code(no_group) == "ResourceNotFoundException"

        logs.delete_log_group(logGroupName="/my/app")
        assert _group(logs, "/my/app") is None
        assert store.get_logs("/my/app", "two")[0] == []
        with pytest.raises(ClientError) as again:
            logs.delete_log_group(logGroupName="/my/app")
        assert _code(again) == "ResourceNotFoundException"
        # a new stream of that name starts a group without the old policy
        store.append_logs("/my/app", "three", [LogEvent(time.time() - 30 * DAY, "old but kept")])
        assert "retentionInDays" not in _group(logs, "/my/app")
        assert _messages(logs, "three", "/my/app") == ["old but kept"]
    finally:
        store.close()
