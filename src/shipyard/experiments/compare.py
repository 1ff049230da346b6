"""Comparing an experiment's runs: the parameters that differ and one value per metric.

Pure over DescribeTrialComponent answers, so the CLI (:mod:`shipyard.cli_experiments`) and tests share it. A
metric's "best" value is its minimum for names that read as a loss or an error, its maximum for names that read
as a score, and its last value otherwise (or always, with ``mode="last"``): what people asked MLflow's compare
view for (mlflow#3763, #6348) instead of every parameter and every step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_LOWER_IS_BETTER = ("loss", "error", "err", "mse", "rmse", "mae", "mape", "perplexity")
_HIGHER_IS_BETTER = ("acc", "auc", "f1", "precision", "recall", "r2", "score", "map", "ndcg")


@dataclass
class RunSummary:
    """One run (trial component) of the experiment, as the comparison sees it."""

    name: str
    arn: str
    status: str
    parameters: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> DescribeTrialComponent summary

    @classmethod
    def of(cls, describe: dict[str, Any]) -> RunSummary:
        params = {k: v.get("NumberValue", v.get("StringValue")) for k, v in (describe.get("Parameters") or {}).items()}
        metrics = {m["MetricName"]: m for m in describe.get("Metrics") or []}
        return cls(name=describe["TrialComponentName"], arn=describe["TrialComponentArn"],
                   status=(describe.get("Status") or {}).get("PrimaryStatus", ""), parameters=params,
                   metrics=metrics)


def direction(metric: str) -> str:
    """``min``, ``max`` or ``last``: which value of the metric is its best."""
    lowered = metric.lower()
    if any(word in lowered for word in _LOWER_IS_BETTER):
        return "min"
    if any(word in lowered for word in _HIGHER_IS_BETTER):
        return "max"
    return "last"


def differing_parameters(runs: list[RunSummary]) -> list[str]:
    """Parameters whose value is not the same in every run (missing counts as a value)."""
    names = sorted({p for r in runs for p in r.parameters})
    return [p for p in names if len({repr(r.parameters.get(p)) for r in runs}) > 1]


def metric_value(summary: dict[str, Any], how: str) -> float | None:
    return summary.get({"min": "Min", "max": "Max", "last": "Last"}[how])


def comparison(runs: list[RunSummary], mode: str = "best") -> tuple[list[str], list[list[Any]]]:
    """The table: RUN, STATUS, each differing parameter, then each metric as ``name (min|max|last)``."""
    params = differing_parameters(runs)
    metrics = sorted({m for r in runs for m in r.metrics})
    hows = {m: direction(m) if mode == "best" else "last" for m in metrics}
    headers = ["RUN", "STATUS", *params, *(f"{m} ({hows[m]})" for m in metrics)]
    rows = []
    for r in runs:
        row: list[Any] = [r.name, r.status, *(r.parameters.get(p, "") for p in params)]
        for m in metrics:
            value = metric_value(r.metrics[m], hows[m]) if m in r.metrics else None
            row.append("" if value is None else f"{value:.6g}")
        rows.append(row)
    return headers, rows
