"""``shipyard experiments compare EXPERIMENT``: the experiment's runs side by side.

Kept out of :mod:`shipyard.cli`; :func:`add_experiments_commands` hangs the command under ``experiments``. Like
every client command it speaks boto3 only (so it works against AWS too): ListTrialComponents and
DescribeTrialComponent for the table (:mod:`shipyard.experiments.compare` picks the parameters that differ and
each metric's best or last value), and the sagemaker-metrics service's BatchGetMetrics for ``--plot FILE.png``,
which draws every metric's curve per run (one panel per metric) in one PNG with matplotlib.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, Callable

from .experiments.compare import RunSummary, comparison


def _cli() -> Any:
    from . import cli

    return cli


def runs_of(sm: Any, experiment: str) -> list[RunSummary]:
    names: list[str] = []
    for page in sm.get_paginator("list_trial_components").paginate(ExperimentName=experiment):
        names.extend(s["TrialComponentName"] for s in page["TrialComponentSummaries"])
    runs = [RunSummary.of(sm.describe_trial_component(TrialComponentName=n)) for n in names]
    return sorted(runs, key=lambda r: r.name)


def curves(metrics_client: Any, runs: list[RunSummary]) -> dict[str, dict[str, tuple[list[int], list[float]]]]:
    """metric -> run -> (steps, values), read with BatchGetMetrics (the average per step)."""
    out: dict[str, dict[str, tuple[list[int], list[float]]]] = {}
    for r in runs:
        names = sorted(r.metrics)
        for start in range(0, len(names), 100):  # the service takes up to 100 queries per call
            chunk = names[start:start + 100]
            answer = metrics_client.batch_get_metrics(MetricQueries=[
                {"MetricName": m, "ResourceArn": r.arn, "MetricStat": "Avg", "Period": "IterationNumber",
                 "XAxisType": "IterationNumber"} for m in chunk])
            for m, result in zip(chunk, answer["MetricQueryResults"]):
                if result.get("Status") == "Complete" and result["XAxisValues"]:
                    out.setdefault(m, {})[r.name] = (list(result["XAxisValues"]), list(result["MetricValues"]))
    return out


def plot(series: dict[str, dict[str, tuple[list[int], list[float]]]], path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed
    import matplotlib.pyplot as plt

    metrics = sorted(series) or ["(no metrics)"]
    fig, axes = plt.subplots(len(metrics), 1, figsize=(8, 3 * len(metrics)), squeeze=False)
    for ax, metric in zip(axes[:, 0], metrics):
        for run, (xs, ys) in sorted(series.get(metric, {}).items()):
            ax.plot(xs, ys, marker=".", label=run)
        ax.set_title(metric)
        ax.set_xlabel("step")
        if series.get(metric):
            ax.legend(fontsize="small")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def cmd_compare(args: argparse.Namespace) -> int:
    session = _cli()._session(args)
    runs = runs_of(session.sagemaker_client, args.experiment)
    headers, rows = comparison(runs, mode="last" if args.last else "best")
    if args.json:
        print(json.dumps({"Headers": headers, "Rows": rows}, indent=2))
    else:
        print(_cli().table(headers, rows) if rows else f"experiment {args.experiment} has no runs")
    if args.plot:
        plot(curves(session.client("sagemaker-metrics"), runs), args.plot, args.experiment)
        print(f"wrote {args.plot}")
    return 0


def add_experiments_commands(sub: Any, client_opts: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``experiments compare`` to the ``shipyard`` parser's subcommands."""
    exps = sub.add_parser("experiments", help="SageMaker experiments").add_subparsers(dest="action",
                                                                                      metavar="ACTION")
    exps.required = True
    p = exps.add_parser("compare", help="the experiment's runs: parameters that differ, best value per metric")
    p.add_argument("experiment")
    p.add_argument("--last", action="store_true", help="each metric's last value rather than its best")
    p.add_argument("--plot", metavar="FILE.png", help="also draw every metric's curve per run into this PNG")
    client_opts(p)
    p.set_defaults(func=cmd_compare)
