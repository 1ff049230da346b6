"""The CloudWatch Logs subset through a real server, reading what the metadata store holds."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from shipyard.metastore import LogEvent, open_metastore

GROUP = "/aws/sagemaker/TrainingJobs"


def _code(call):
    with pytest.raises(ClientError) as info:
        call()
    return info.value.response["Error"]["Code"], info.value.response["Error"]["Message"]


@pytest.fixture(scope="module")
def logs_server(tmp_path_factory):
    from shipyard.testing.server import ShipyardProcess

    proc = ShipyardProcess(tmp_path_factory.mktemp("logs-home"))
    proc.start()
    try:
        yield proc
    finally:
        proc.stop(kill_children=True)


def test_empty_store(logs_server):
    logs = logs_server.client("logs")
    assert logs.describe_log_groups()["logGroups"] == []
    assert _code(lambda: logs.describe_log_streams(logGroupName=GROUP)) == \
        ("ResourceNotFoundException", "The specified log group does not exist.")
    assert _code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName="job/algo-1"))[0] == \
        "ResourceNotFoundException"


def test_streams_events_and_filters(logs_server):
    store = open_metastore(logs_server.settings.database_url)
    try:
        base = 1_700_000_000.0
        store.append_logs(GROUP, "job-a/algo-1-1", [LogEvent(base + i, f"a line {i}") for i in range(25)])
        store.append_logs(GROUP, "job-a/algo-2-1", [LogEvent(base + 100, "second host ready")])
        store.append_logs(GROUP, "job-b/algo-1-1", [LogEvent(base + 50, "other job error: boom")])
    finally:
        store.close()
    logs = logs_server.client("logs")

    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/sagemaker/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [GROUP]
    assert logs.describe_log_groups(logGroupNamePrefix="/nope")["logGroups"] == []

    streams = logs.describe_log_streams(logGroupName=GROUP, logStreamNamePrefix="job-a/")["logStreams"]
    assert [s["logStreamName"] for s in streams] == ["job-a/algo-1-1", "job-a/algo-2-1"]
    assert streams[0]["firstEventTimestamp"] == int(base * 1000)
    assert streams[0]["lastEventTimestamp"] == int((base + 24) * 1000)
    newest = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True,
                                       limit=1)
    assert newest["logStreams"][0]["logStreamName"] == "job-a/algo-2-1" and newest["nextToken"]
    rest = logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime", descending=True,
                                     nextToken=newest["nextToken"])
    assert [s["logStreamName"] for s in rest["logStreams"]] == ["job-b/algo-1-1", "job-a/algo-1-1"]
    assert _code(lambda: logs.describe_log_streams(logGroupName=GROUP, orderBy="LastEventTime",
                                                   logStreamNamePrefix="job"))[0] == "InvalidParameterException"

    # Page forward 10 at a time until the token stops changing, as the SDK's log tailer does.
    seen, token = [], None
    for _ in range(10):
        kw = {"nextToken": token} if token else {"startFromHead": True}
        page = logs.get_log_events(logGroupName=GROUP, logStreamName="job-a/algo-1-1", limit=10, **kw)
        seen += [e["message"] for e in page["events"]]
        if page["nextForwardToken"] == token:
            break
        token = page["nextForwardToken"]
    assert seen == [f"a line {i}" for i in range(25)]

    window = logs.get_log_events(logGroupName=GROUP, logStreamName="job-a/algo-1-1", startFromHead=True,
                                 startTime=int((base + 5) * 1000), endTime=int((base + 8) * 1000))
    assert [e["message"] for e in window["events"]] == ["a line 5", "a line 6", "a line 7"]
    assert window["events"][0]["timestamp"] == int((base + 5) * 1000)
    assert _code(lambda: logs.get_log_events(logGroupName=GROUP, logStreamName="job-a/none"))[1] == \
        "The specified log stream does not exist."

    found = logs.filter_log_events(logGroupName=GROUP, filterPattern="error")["events"]
    assert [(e["logStreamName"], e["message"]) for e in found] == [("job-b/algo-1-1", "other job error: boom")]
    everything = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="job-a/", limit=20)
    assert len(everything["events"]) == 20 and everything["nextToken"]
    tail = logs.filter_log_events(logGroupName=GROUP, logStreamNamePrefix="job-a/", limit=20,
                                  nextToken=everything["nextToken"])
    assert [e["message"] for e in tail["events"]] == [f"a line {i}" for i in range(20, 25)] + ["second host ready"]
