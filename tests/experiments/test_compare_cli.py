"""``shipyard experiments compare`` (shipyard.cli_experiments) against a real server, in-process over boto3:
only the parameters that differ, each metric's best (or last) value, and ``--plot`` drawing every run's curves
(read back with BatchGetMetrics) into one PNG."""

from __future__ import annotations

import argparse
import json
import time
import uuid

import pytest

from shipyard import cli
from shipyard.cli_experiments import add_experiments_commands
from shipyard.experiments.compare import direction

pytestmark = [pytest.mark.timeout(120)]

LOSSES = {"a": [0.9, 0.4, 0.6], "b": [0.8, 0.7, 0.3]}
ACCS = {"a": [0.5, 0.9, 0.7], "b": [0.6, 0.65, 0.8]}


def run(server, monkeypatch, *argv: str) -> int:
    for k, v in server.env().items():
        monkeypatch.setenv(k, v)
    parser = argparse.ArgumentParser()
    add_experiments_commands(parser.add_subparsers(dest="command"), cli._client_opts)
    args = parser.parse_args(list(argv))
    return args.func(args)


@pytest.fixture(scope="module")
def experiment(server):
    sm, metrics = server.client("sagemaker"), server.client("sagemaker-metrics")
    exp = f"cmp-{uuid.uuid4().hex[:8]}"
    sm.create_experiment(ExperimentName=exp)
    sm.create_trial(TrialName=f"{exp}-group", ExperimentName=exp)
    now = time.time()
    for run_name, lr in (("a", 0.1), ("b", 0.01)):
        tc = f"{exp}-{run_name}"
        sm.create_trial_component(TrialComponentName=tc, Status={"PrimaryStatus": "Completed"}, Parameters={
            "lr": {"NumberValue": lr}, "epochs": {"NumberValue": 3}, "opt": {"StringValue": "adam"}})
        sm.associate_trial_component(TrialComponentName=tc, TrialName=f"{exp}-group")
        data = [{"MetricName": m, "Value": v, "Step": i, "Timestamp": now - 10 + i}
                for m, series in (("loss", LOSSES[run_name]), ("acc", ACCS[run_name])) for i, v in enumerate(series)]
        assert not metrics.batch_put_metrics(TrialComponentName=tc, MetricData=data).get("Errors")
    return exp


def test_direction_reads_the_metric_name():
    assert [direction(n) for n in ("train:loss", "validation:rmse", "val_acc", "auc", "lr")] == [
        "min", "min", "max", "max", "last"]


def test_table_shows_differing_parameters_and_best_values(server, monkeypatch, capsys, experiment):
    assert run(server, monkeypatch, "experiments", "compare", experiment, "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Headers"] == ["RUN", "STATUS", "lr", "acc (max)", "loss (min)"]
    assert out["Rows"] == [[f"{experiment}-a", "Completed", 0.1, "0.9", "0.4"],
                           [f"{experiment}-b", "Completed", 0.01, "0.8", "0.3"]]
    assert run(server, monkeypatch, "experiments", "compare", experiment, "--last", "--json") == 0
    out = json.loads(capsys.readouterr().out)
    assert out["Headers"][-2:] == ["acc (last)", "loss (last)"]
    assert [r[-2:] for r in out["Rows"]] == [["0.7", "0.6"], ["0.8", "0.3"]]
    assert run(server, monkeypatch, "experiments", "compare", experiment) == 0
    table = capsys.readouterr().out
    assert "loss (min)" in table and "epochs" not in table and "opt" not in table


def test_plot_draws_every_run_curve(server, monkeypatch, capsys, experiment, tmp_path):
    from shipyard.cli_experiments import curves, runs_of

    got = curves(server.client("sagemaker-metrics"), runs_of(server.client("sagemaker"), experiment))
    assert got["loss"][f"{experiment}-b"] == ([0, 1, 2], LOSSES["b"])
    assert got["acc"][f"{experiment}-a"] == ([0, 1, 2], ACCS["a"])
    path = tmp_path / "curves.png"
    assert run(server, monkeypatch, "experiments", "compare", experiment, "--plot", str(path)) == 0
    import matplotlib.image

    image = matplotlib.image.imread(str(path))
    assert image.shape[0] > 300 and image.shape[1] > 300  # two panels, one per metric
    assert len({tuple(px) for px in image.reshape(-1, image.shape[-1])[::97]}) > 3  # curves, not a blank page
