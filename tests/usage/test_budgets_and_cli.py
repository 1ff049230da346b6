"""Budgets (the check the create paths call) and the ``shipyard usage`` CLI over a home's store.

The intervals are written to the home's real SQLite store as the meter writes them; the CLI runs in-process
(``shipyard.cli.main``) and its printed table and CSV are read back."""

from __future__ import annotations

import csv
import io
import time
from types import SimpleNamespace

import pytest

from shipyard import cli
from shipyard.errors import ResourceLimitExceeded, ValidationError
from shipyard.metastore import open_metastore
from shipyard.usage import budgets, store
from shipyard.usage.intervals import Interval
from shipyard.usage.report import parse_time

H = 3600.0


def put(meta, name, rname, start, end, count=1, itype="ml.m5.large", tags=None, kind="TrainingJob"):
    store.create(meta, Interval(name=name, resource_arn=f"arn:{rname}", resource_kind=kind, resource_name=rname,
                                part="", instance_type=itype, count=count, start=start, end=end, last_seen=end or start,
                                tags=tags or {}))


@pytest.fixture
def home(tmp_path):
    meta = open_metastore(f"sqlite:///{tmp_path / 'shipyard.db'}")
    now = time.time()
    (tmp_path / "prices.json").write_text('{"ml.m5.large": 1.0, "ml.g5.xlarge": 10.0}')
    put(meta, "a", "train-a", now - 2 * H, now - H, count=2, tags={"team": "vision"})        # 2 instance-hours, $2
    put(meta, "b", "train-b", now - 3 * H, now - 2.5 * H, itype="ml.g5.xlarge", tags={"team": "nlp"})  # $5
    put(meta, "c", "ep", now - 10 * 86400, None, kind="Endpoint")   # running for ten days
    meta.close()
    return tmp_path


def services(meta, home):
    return SimpleNamespace(meta=meta, settings=SimpleNamespace(home=home))


def test_a_spent_budget_refuses_work_with_its_tag_only(home):
    meta = open_metastore(f"sqlite:///{home / 'shipyard.db'}")
    try:
        budgets.put(meta, budgets.make("team=vision", 1.5, "total"))
        budgets.put(meta, budgets.make("team=nlp", 100.0, "total"))
        with pytest.raises(ResourceLimitExceeded) as e:
            budgets.check_budget(services(meta, home), [{"Key": "team", "Value": "vision"}])
        message = str(e.value)
        assert "'team=vision'" in message and "$2.00 spent in total of a $1.50 limit" in message
        budgets.check_budget(services(meta, home), [{"Key": "team", "Value": "nlp"}])  # $5 of $100: fine
        budgets.check_budget(services(meta, home), [])  # untagged work is not under any budget
        budgets.put(meta, budgets.make("team=vision", 3.0, "total"))  # raised: allowed again
        budgets.check_budget(services(meta, home), [{"Key": "team", "Value": "vision"}])
        budgets.put(meta, budgets.make("team", 6.0, "total", name="any-team"))  # any value of the key: $7 spent
        with pytest.raises(ResourceLimitExceeded, match="any-team"):
            budgets.check_budget(services(meta, home), [{"Key": "team", "Value": "new"}])
    finally:
        meta.close()


def test_budget_arguments_are_checked():
    with pytest.raises(ValidationError, match="no key"):
        budgets.make("=x", 1.0)
    with pytest.raises(ValidationError, match="non-negative"):
        budgets.make("a=b", -1.0)
    with pytest.raises(ValidationError, match="period"):
        budgets.make("a=b", 1.0, "fortnight")


def test_periods_start_on_utc_boundaries():
    t = 1765283696.0  # 2025-12-09 12:34:56 UTC, a Tuesday
    assert budgets.period_start("day", t) == 1765238400.0
    assert budgets.period_start("week", t) == 1765152000.0   # Monday the 8th
    assert budgets.period_start("month", t) == 1764547200.0  # December 1st
    assert budgets.period_start("total", t) is None


def test_times_read_as_durations_dates_and_iso():
    now = 1765283696.0
    assert parse_time("7d", now) == now - 7 * 86400
    assert parse_time("90m", now) == now - 5400
    assert parse_time("2025-12-01", now) == 1764547200.0
    assert parse_time("2025-12-01T01:00:00Z", now) == 1764550800.0
    with pytest.raises(ValidationError, match="Cannot read the time"):
        parse_time("last tuesday", now)


def test_cli_report_table_and_csv(home, capsys):
    assert cli.main(["usage", "--home", str(home), "--since", "1d", "--csv"]) == 0
    rows = {r["resource"]: r for r in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(rows) == {"TrainingJob/train-a", "TrainingJob/train-b", "Endpoint/ep"}
    assert float(rows["TrainingJob/train-a"]["instance_seconds"]) == pytest.approx(2 * H, abs=1)
    assert float(rows["TrainingJob/train-a"]["cost_usd"]) == pytest.approx(2.0, abs=1e-3)
    assert float(rows["TrainingJob/train-b"]["cost_usd"]) == pytest.approx(5.0, abs=1e-3)
    assert float(rows["Endpoint/ep"]["instance_seconds"]) == pytest.approx(86400, abs=60)  # cut by --since 1d
    assert rows["Endpoint/ep"]["running"] == "yes"

    assert cli.main(["usage", "--home", str(home), "--since", "1d", "--by", "tag:team"]) == 0
    out = capsys.readouterr().out
    lines = {line.split()[0]: line.split() for line in out.splitlines()[2:]}
    assert lines["team=nlp"][-1] == "5.0000" and lines["team=vision"][-1] == "2.0000"
    assert "(no" in out and "TOTAL" in out

    assert cli.main(["usage", "--home", str(home), "--since", "1d", "--by", "instance-type", "--tag",
                     "team=vision", "--json"]) == 0
    assert "ml.m5.large" in capsys.readouterr().out


def test_cli_budgets(home, capsys):
    assert cli.main(["usage", "budget", "set", "--home", str(home), "--tag", "team=vision", "--limit-usd", "1"]) == 0
    assert "team=vision" in capsys.readouterr().out
    assert cli.main(["usage", "budget", "list", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "team=vision" in out and "EXCEEDED" in out and "2.0000" in out
    assert cli.main(["usage", "budget", "delete", "--home", str(home), "team=vision"]) == 0
    assert cli.main(["usage", "budget", "delete", "--home", str(home), "team=vision"]) == 1
    assert "no budget named" in capsys.readouterr().err


def test_cli_says_what_to_fix(tmp_path, capsys):
    assert cli.main(["usage", "--home", str(tmp_path / "nothing")]) == 2
    assert "no Shipyard state" in capsys.readouterr().err
    (tmp_path / "shipyard.db").touch()
    assert cli.main(["usage", "--home", str(tmp_path), "--by", "colour"]) == 1
    assert "unknown grouping" in capsys.readouterr().err
