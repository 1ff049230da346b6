"""Applying a plan (order, exact S3 keys, already-gone and failing deletions) and the confirmation question,
with recording stand-ins for the boto3 clients (the real server run is in test_cleanup_cli.py)."""

from __future__ import annotations

import argparse
import io

import pytest
from botocore.exceptions import ClientError

from shipyard import cli, cli_cleanup
from shipyard.cleanup import plan as P
from shipyard.cleanup.apply import Applier


def _error(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Op")


class Recorder:
    """Records every call; ``fail`` maps a call name to the error it raises."""

    def __init__(self, calls: list, fail: dict | None = None):
        self.calls, self.fail = calls, fail or {}

    def __getattr__(self, op: str):
        def call(**kwargs):
            if op == "describe_endpoint":  # deleted endpoints are gone at once
                raise _error("ValidationException", f"Could not find endpoint {kwargs['EndpointName']}.")
            self.calls.append((op, kwargs))
            if op in self.fail:
                raise self.fail[op]
            return {}
        return call


def _plan() -> P.Plan:
    return P.Plan([
        P.Candidate("endpoint", "ep", "idle"),
        P.Candidate("endpoint-config", "cfg", "unused"),
        P.Candidate("model", "m", "unused"),
        P.Candidate("notebook-instance", "nb", "stopped"),
        P.Candidate("s3-prefix", "s3://b/job/", "orphan", keys=tuple(f"job/output/{i}" for i in range(1001)),
                    bucket="b"),
        P.Candidate("log-stream", "g:s", "expired", group="g", stream="s"),
    ])


def test_apply_deletes_in_order_and_exactly_the_listed_keys():
    calls: list = []
    said: list[str] = []
    failures = Applier(Recorder(calls), Recorder(calls), Recorder(calls), say=said.append).apply(_plan())
    assert failures == []
    assert [op for op, _ in calls] == ["delete_endpoint", "delete_endpoint_config", "delete_model",
                                       "delete_notebook_instance", "delete_objects", "delete_objects",
                                       "delete_log_stream"]
    batches = [kw["Delete"]["Objects"] for op, kw in calls if op == "delete_objects"]
    assert [len(b) for b in batches] == [1000, 1]
    assert [o["Key"] for b in batches for o in b] == [f"job/output/{i}" for i in range(1001)]
    assert calls[-1][1] == {"logGroupName": "g", "logStreamName": "s"}
    assert said[0] == "deleted endpoint ep" and said[-1] == "deleted log-stream g:s"


def test_apply_goes_on_past_a_failure_and_counts_already_gone_as_done():
    calls: list = []
    said: list[str] = []
    sm = Recorder(calls, {"delete_model": _error("ValidationException", "Could not find model m."),
                          "delete_notebook_instance": _error("ValidationException", "Status InService: stop it.")})
    failures = Applier(sm, Recorder(calls), Recorder(calls), say=said.append).apply(_plan())
    assert failures == ["notebook-instance nb: An error occurred (ValidationException) when calling the Op "
                        "operation: Status InService: stop it."]
    assert "model m: already gone" in said
    assert [op for op, _ in calls][-1] == "delete_log_stream"  # the rest still ran


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(yes=kw.get("yes", False))


def test_confirmation(monkeypatch):
    assert cli_cleanup._confirmed(_args(yes=True), 3) is True
    monkeypatch.setattr("sys.stdin", io.StringIO(""))  # not a terminal
    with pytest.raises(cli.CliError, match="refusing to delete without confirmation") as refused:
        cli_cleanup._confirmed(_args(), 3)
    assert refused.value.exit_code == 2

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.setattr("sys.stdin", Tty())
    asked: list[str] = []
    for answer, expected in (("y", True), ("YES", True), ("", False), ("n", False), ("maybe", False)):
        monkeypatch.setattr("builtins.input", lambda prompt, a=answer: asked.append(prompt) or a)
        assert cli_cleanup._confirmed(_args(), 3) is expected
    assert asked[0] == "Delete these 3? [y/N] "
