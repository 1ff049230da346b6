"""``shipyard tuning ...``: list, describe, rank and stop hyperparameter tuning jobs from the command line.

Kept out of :mod:`shipyard.cli` so that module stays small; :func:`add_tuning_commands` hangs these commands
under ``tuning``. Like every client command they speak boto3 only (so they work against AWS too) and print
a table, or JSON with ``--json``. ``leaderboard --plot`` draws with matplotlib (the ``plot`` extra), imported
only then, on the Agg backend so it needs no display.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Callable

# A user error is a ValueError: shipyard.cli prints it as one line and exits 1 (this module may be imported
# while shipyard.cli runs as __main__, so its CliError class would not be the one that is caught).


def _cli() -> Any:
    from . import cli

    return cli


def _seconds(start: Any, end: Any) -> float | None:
    if start is None or end is None:
        return None
    to_s = (lambda v: v.timestamp() if hasattr(v, "timestamp") else float(v))
    return to_s(end) - to_s(start)


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.1f}s"
    seconds = int(round(seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s"


def _counters(c: dict | None) -> tuple[int, int, int, int]:
    c = c or {}
    return (int(c.get("Completed", 0)), int(c.get("InProgress", 0)),
            int(c.get("NonRetryableError", 0)) + int(c.get("RetryableError", 0)), int(c.get("Stopped", 0)))


def _maximize(desc: dict) -> bool:
    config = desc.get("HyperParameterTuningJobConfig") or {}
    return (config.get("HyperParameterTuningJobObjective") or {}).get("Type") == "Maximize"


# -- commands -------------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace) -> int:
    cli = _cli()
    sm = cli._session(args).sagemaker_client
    jobs = cli._paginate(sm, "list_hyper_parameter_tuning_jobs", "HyperParameterTuningJobSummaries",
                         SortBy="CreationTime", SortOrder="Descending")
    if args.json:
        cli._print_json(jobs)
        return 0
    rows = []
    for j in jobs:
        done, running, failed, stopped = _counters(j.get("TrainingJobStatusCounters"))
        rows.append([j["HyperParameterTuningJobName"], j.get("HyperParameterTuningJobStatus"), j.get("Strategy"),
                     done, running, failed, stopped, j.get("CreationTime"),
                     _duration(_seconds(j.get("CreationTime"), j.get("HyperParameterTuningEndTime")))])
    print(cli.table(["NAME", "STATUS", "STRATEGY", "COMPLETED", "RUNNING", "FAILED", "STOPPED", "CREATED",
                     "DURATION"], rows))
    return 0


def describe_lines(desc: dict) -> list[tuple[str, str]]:
    """The few facts people look for first, as (label, text) pairs."""
    cli = _cli()
    config = desc.get("HyperParameterTuningJobConfig") or {}
    objective = config.get("HyperParameterTuningJobObjective") or {}
    limits = config.get("ResourceLimits") or {}
    done, running, failed, stopped = _counters(desc.get("TrainingJobStatusCounters"))
    lines = [("Name", desc.get("HyperParameterTuningJobName", "")),
             ("Status", desc.get("HyperParameterTuningJobStatus", "")),
             ("Strategy", config.get("Strategy", "")),
             ("Objective", f"{objective.get('Type', '?')} {objective.get('MetricName', '?')}"),
             ("Training jobs", f"{done} completed, {running} in progress, {failed} failed, {stopped} stopped "
                               f"(at most {limits.get('MaxNumberOfTrainingJobs', '-')}, "
                               f"{limits.get('MaxParallelTrainingJobs', '-')} at a time)"),
             ("Early stopping", config.get("TrainingJobEarlyStoppingType", "Off"))]
    best = desc.get("BestTrainingJob")
    if best:
        metric = best.get("FinalHyperParameterTuningJobObjectiveMetric") or {}
        lines.append(("Best training job", f"{best.get('TrainingJobName')} "
                                           f"({metric.get('MetricName')} = {cli._fmt(metric.get('Value'))})"))
        tuned = best.get("TunedHyperParameters") or {}
        lines.append(("Best hyperparameters", " ".join(f"{k}={v}" for k, v in sorted(tuned.items()))))
    lines.append(("Created", cli._fmt(desc.get("CreationTime"))))
    if desc.get("HyperParameterTuningEndTime"):
        lines.append(("Ended", cli._fmt(desc.get("HyperParameterTuningEndTime"))))
        lines.append(("Duration", _duration(_seconds(desc.get("CreationTime"),
                                                      desc.get("HyperParameterTuningEndTime")))))
    if desc.get("FailureReason"):
        lines.append(("Failure reason", desc["FailureReason"]))
    return lines


def cmd_describe(args: argparse.Namespace) -> int:
    cli = _cli()
    desc = cli._session(args).sagemaker_client.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=args.name)
    if args.json:
        cli._print_json(desc)
        return 0
    lines = describe_lines(desc)
    width = max(len(label) for label, _ in lines)
    for label, text in lines:
        print(f"{label.ljust(width)}  {text}")
    return 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    from .sdk.analytics import HyperparameterTuningJobAnalytics, leaderboard

    cli = _cli()
    if args.top is not None and args.top < 1:
        raise ValueError("--top must be at least 1")
    analytics = HyperparameterTuningJobAnalytics(args.name, cli._session(args))
    desc = analytics.description()
    rows = analytics.rows()
    maximize = _maximize(desc)
    ranked = leaderboard(rows, maximize)[: args.top]
    if args.plot:
        plot_objective(rows, maximize, args.plot, desc)
        print(f"wrote {args.plot}", file=sys.stderr)
    if args.json:
        cli._print_json([{"Rank": i + 1, **r} for i, r in enumerate(ranked)])
        return 0
    tuned = sorted({k for s in analytics.training_job_summaries() for k in (s.get("TunedHyperParameters") or {})})
    metric = ((desc.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective")
              or {}).get("MetricName", "OBJECTIVE")
    headers = ["RANK", "TRAINING JOB", "STATUS", metric.upper(), *tuned, "DURATION"]
    table_rows = [[i + 1, r["TrainingJobName"], r["TrainingJobStatus"], r["FinalObjectiveValue"],
                   *[r.get(k) for k in tuned], _duration(r.get("TrainingElapsedTimeSeconds"))]
                  for i, r in enumerate(ranked)]
    print(cli.table(headers, table_rows))
    return 0


def plot_objective(rows: list[dict], maximize: bool, path: str, desc: dict) -> None:
    """Objective of every job against its launch index, with the running best as a step line."""
    from .sdk.analytics import running_best

    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ValueError("--plot needs matplotlib: pip install 'shipyard[plot]'") from None
    values = [r.get("FinalObjectiveValue") for r in rows]
    xs = [i + 1 for i, v in enumerate(values) if v is not None]
    ys = [v for v in values if v is not None]
    best = running_best(values, maximize)
    objective = (desc.get("HyperParameterTuningJobConfig") or {}).get("HyperParameterTuningJobObjective") or {}
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    try:
        ax.scatter(xs, ys, s=18, color="tab:blue", label="training job")
        bx = [i + 1 for i, b in enumerate(best) if b is not None]
        ax.step(bx, [b for b in best if b is not None], where="post", color="tab:orange",
                label=f"best so far ({'max' if maximize else 'min'})")
        ax.set_xlabel("training job (launch order)")
        ax.set_ylabel(objective.get("MetricName", "objective"))
        ax.set_title(f"{desc.get('HyperParameterTuningJobName', '')} "
                     f"({(desc.get('HyperParameterTuningJobConfig') or {}).get('Strategy', '')})")
        ax.grid(alpha=0.3)
        ax.legend(loc="best")
        fig.tight_layout()
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)


def cmd_stop(args: argparse.Namespace) -> int:
    cli = _cli()
    cli._session(args).sagemaker_client.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=args.name)
    if args.json:
        print(json.dumps({"HyperParameterTuningJobName": args.name, "Stopping": True}))
    else:
        print(f"stopping {args.name}")
    return 0


# -- parser ---------------------------------------------------------------------------------------------------
def add_tuning_commands(sub: Any, client_opts: Callable[[argparse.ArgumentParser], None]) -> None:
    """Add ``tuning list|describe|leaderboard|stop`` to the ``shipyard`` parser's subcommands."""
    tuning = sub.add_parser("tuning", help="hyperparameter tuning jobs").add_subparsers(dest="action",
                                                                                      metavar="ACTION")
    tuning.required = True
    p = tuning.add_parser("list", help="list tuning jobs")
    client_opts(p)
    p.set_defaults(func=cmd_list)
    p = tuning.add_parser("describe", help="describe a tuning job (its best training job first)")
    p.add_argument("name")
    client_opts(p)
    p.set_defaults(func=cmd_describe)
    p = tuning.add_parser("leaderboard", help="a tuning job's training jobs, best objective first")
    p.add_argument("name")
    p.add_argument("--top", type=int, default=None, help="show only the N best")
    p.add_argument("--plot", metavar="OUT.png", default=None,
                   help="also draw objective vs job index with the running best (needs matplotlib)")
    client_opts(p)
    p.set_defaults(func=cmd_leaderboard)
    p = tuning.add_parser("stop", help="stop a tuning job and its running training jobs")
    p.add_argument("name")
    client_opts(p)
    p.set_defaults(func=cmd_stop)
