"""The rule program: ``python -m shipyard.debugger.rule_job --rule NAME [--tensors URI] [--profiler URI]
[--param key=value ...]``, run as a processing job beside a training job (Shipyard's stand-in for AWS's
Debugger rule container, see :mod:`shipyard.processing.program`).

It follows the job's tensors (or system metrics, for a profiler rule) as they are uploaded, evaluating each
new step, until the rule's condition is met or ``training_job_end.ts`` says the job's output is complete.
Condition met: ``/opt/ml/output/message`` reads ``RuleEvaluationConditionMet: Evaluation of the rule ... at
step N resulted in the condition being met`` (the processing job's ExitMessage, which the rule controller
turns into ``IssuesFound`` and, with a StopTraining action, a stopped training job); otherwise the job
completes with ``NoIssuesFound``. Either way ``/opt/ml/processing/output/rule/`` holds the rule's findings
as JSON (ProfilerReport: its report, JSON and HTML), uploaded to the rule's ``rule-output/`` folder.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from pathlib import Path

CONDITION_MET = "RuleEvaluationConditionMet"
OUTPUT = "processing/output/rule"


MAX_OUTAGE = 300.0  # seconds of failed reads (the server restarting) before the rule gives up


class Outage:
    """Consecutive failures reading the job's output: logged once, fatal after MAX_OUTAGE seconds."""

    def __init__(self, log):
        self.log, self.since = log, None

    def failed(self, e: Exception) -> None:
        if self.since is None:
            self.since = time.monotonic()
            self.log(f"reading the job's output failed ({type(e).__name__}: {e}); retrying")
        elif time.monotonic() - self.since > MAX_OUTAGE:
            raise e

    def ok(self) -> None:
        self.since = None


def opt_ml_root() -> Path:
    """``/opt/ml`` when the job sees it (its sandbox mounts it), else the working folder (the executor starts
    programs in the job's folder)."""
    if Path("/opt/ml/config/processingjobconfig.json").exists():
        return Path("/opt/ml")
    return Path(os.getcwd())


def _system_series(source) -> dict:
    from .profiler import read_system_metrics

    lines: list[str] = []
    for key in source.list("system/incremental/"):
        if key.endswith(".json"):
            try:
                lines += source.read(key).decode("utf-8", "replace").splitlines()
            except OSError:
                continue
    return read_system_metrics(lines)


def run(rule_name: str, tensors: str, profiler: str, params: dict[str, str], root: Path, poll: float,
        log=print) -> int:
    from .rules import RULES, ProfilerReport
    from .trial import Trial, open_source

    cls = RULES.get(rule_name)
    out = root / OUTPUT
    out.mkdir(parents=True, exist_ok=True)
    if cls is None:
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output" / "message").write_text(f"ClientError: {rule_name!r} is not a built-in rule.")
        return 1
    rule = cls(params)
    finding = None
    outage = Outage(log)
    if cls.profiler:
        source = open_source(profiler)
        log(f"rule {rule_name}: following the system metrics under {profiler}")
        series: dict = {}
        for _ in range(10_000_000):  # bounded by the job's MaxRuntimeInSeconds, really
            try:
                ended = source.exists("training_job_end.ts")
                series = _system_series(source)
            except Exception as e:  # noqa: BLE001 - the server restarting: retried (MAX_OUTAGE)
                outage.failed(e)
                time.sleep(poll)
                continue
            outage.ok()
            finding = rule.evaluate_metrics(series)  # type: ignore[attr-defined]
            if finding or ended:
                break
            time.sleep(poll)
        if isinstance(rule, ProfilerReport):
            report = rule.report(series)
            (out / "profiler-output").mkdir(parents=True, exist_ok=True)
            (out / "profiler-output" / "profiler-report.json").write_text(json.dumps(report, indent=1))
            rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{v['datapoints']}</td><td>{v['mean']:.1f}</td>"
                           f"<td>{v['p95']:.1f}</td><td>{v['max']:.1f}</td></tr>" for k, v in report["system"].items())
            rules = "".join(f"<li>{html.escape(k)}: {'triggered' if v['triggered'] else 'not triggered'} "
                            f"{html.escape(v['message'])}</li>" for k, v in report["rules"].items())
            (out / "profiler-output" / "profiler-report.html").write_text(
                "<!doctype html><title>Profiler report</title><h1>Profiler report</h1>"
                f"<h2>Rules</h2><ul>{rules}</ul><h2>System metrics</h2><table><tr><th>metric</th>"
                f"<th>datapoints</th><th>mean</th><th>p95</th><th>max</th></tr>{rows}</table>")
    else:
        trial = Trial(tensors)
        log(f"rule {rule_name}: following the tensors under {tensors}")
        for _ in range(10_000_000):
            try:
                ended = trial.ended()  # before the refresh: the steps read next are then all there are
                trial.refresh()
                finding = rule.evaluate(trial)
            except Exception as e:  # noqa: BLE001 - the server restarting: retried (MAX_OUTAGE)
                outage.failed(e)
                time.sleep(poll)
                continue
            outage.ok()
            if finding or ended:
                break
            time.sleep(poll)
    result = {"rule": rule_name, "parameters": rule.p, "condition_met": finding is not None,
              "step": finding.step if finding else None, "message": finding.message if finding else ""}
    (out / f"{rule_name}.json").write_text(json.dumps(result, indent=1, default=str))
    if finding:
        (root / "output").mkdir(parents=True, exist_ok=True)
        (root / "output" / "message").write_text(f"{CONDITION_MET}: {finding.message}")
        log(f"{CONDITION_MET}: {finding.message}")
    else:
        log(f"rule {rule_name}: no issues found")
    return 0


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m shipyard.debugger.rule_job")
    ap.add_argument("--rule", required=True)
    ap.add_argument("--tensors", default="")
    ap.add_argument("--profiler", default="")
    ap.add_argument("--param", action="append", default=[])
    ap.add_argument("--poll", type=float, default=float(os.environ.get("SHIPYARD_RULE_POLL_SECONDS") or 1.0))
    args = ap.parse_args(argv)
    params = dict(p.split("=", 1) for p in args.param if "=" in p)
    return run(args.rule, args.tensors, args.profiler, params, opt_ml_root(), args.poll,
               log=lambda m: print(m, flush=True))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
