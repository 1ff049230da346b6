"""`shipyard monitor ...`: Model Monitor from the command line.

- ``list``: the monitoring schedules (status, endpoint, last execution's status);
- ``executions SCHEDULE``: a schedule's executions, newest first;
- ``watch``: follow the "SageMaker Model Monitor Execution State Change" events the server appends to the log
  group ``/shipyard/events`` (:mod:`shipyard.resources.monitoring_events`), as ``shipyard registry watch``
  follows the registry's; ``--schedule`` keeps one schedule's;
- ``report SCHEDULE [--out report.html]``: a self-contained HTML report (:mod:`shipyard.monitor.report`) of the
  latest execution that produced statistics: per feature the baseline's distribution beside it, and its
  violations.

Everything goes through boto3 (SageMaker, S3, CloudWatch Logs), so it works against any Shipyard server, and
the report's documents are read where the execution's processing job says they are: the ``baseline`` input
(the baseline's statistics.json) and the first output (the execution's statistics.json and
constraint_violations.json).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from . import cli_events
from .monitor.report import render_report

DETAIL_TYPE = "SageMaker Model Monitor Execution State Change"  # resources/monitoring_events.DETAIL_TYPE
LOG_STREAM = "monitoring-execution-state-change"  # resources/monitoring_events.LOG_STREAM
ENDED = ("Completed", "CompletedWithViolations", "Failed", "Stopped")


def _cli() -> Any:
    from . import cli

    return cli


# ------------------------------------------------------------------ reading what a report needs
def split_s3(uri: str) -> tuple[str, str]:
    rest = uri[len("s3://"):] if uri.startswith("s3://") else uri
    bucket, _, key = rest.partition("/")
    return bucket, key


def statistics_uri(uri: str) -> str:
    """A baseline input names the statistics.json file or its folder."""
    uri = uri.rstrip("/")
    return uri if uri.endswith(".json") else f"{uri}/statistics.json"


def execution_documents(job: dict[str, Any]) -> dict[str, str]:
    """``{"baseline", "statistics", "violations", "output"}`` S3 URIs from an execution's processing job."""
    out: dict[str, str] = {}
    for i in job.get("ProcessingInputs") or []:
        if i.get("InputName") == "baseline" and (i.get("S3Input") or {}).get("S3Uri"):
            out["baseline"] = statistics_uri(i["S3Input"]["S3Uri"])
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    if outputs and (outputs[0].get("S3Output") or {}).get("S3Uri"):
        folder = outputs[0]["S3Output"]["S3Uri"].rstrip("/")
        out.update(output=folder, statistics=f"{folder}/statistics.json",
                   violations=f"{folder}/constraint_violations.json")
    return out


def latest_analyzed(sm: Any, schedule: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(the newest execution that completed, its processing job), or (None, None)."""
    page = sm.list_monitoring_executions(MonitoringScheduleName=schedule, SortBy="ScheduledTime",
                                         SortOrder="Descending", MaxResults=100)
    for ex in page.get("MonitoringExecutionSummaries") or []:
        if ex.get("MonitoringExecutionStatus") in ("Completed", "CompletedWithViolations") and \
                ex.get("ProcessingJobArn"):
            job = sm.describe_processing_job(ProcessingJobName=ex["ProcessingJobArn"].rsplit("/", 1)[-1])
            return ex, job
    return None, None


def read_json(s3: Any, uri: str | None) -> dict[str, Any] | None:
    """A JSON document from S3 (None when absent or not JSON: a report still shows what there is)."""
    if not uri:
        return None
    bucket, key = split_s3(uri)
    try:
        return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
    except Exception:  # noqa: BLE001 - NoSuchKey, an unreadable body: the report says "none yet"
        return None


def build_report(sm: Any, s3: Any, schedule: str) -> str:
    desc = sm.describe_monitoring_schedule(MonitoringScheduleName=schedule)
    ex, job = latest_analyzed(sm, schedule)
    docs = execution_documents(job or {})
    violations_doc = read_json(s3, docs.get("violations")) or {}
    violations = [v for v in violations_doc.get("violations") or [] if isinstance(v, dict)]
    facts = {"Schedule": desc["MonitoringScheduleName"], "Status": desc.get("MonitoringScheduleStatus"),
             "Endpoint": desc.get("EndpointName"), "Monitoring type": desc.get("MonitoringType"),
             "Execution": (ex or {}).get("MonitoringExecutionStatus"),
             "Scheduled time": str((ex or {}).get("ScheduledTime") or ""),
             "Processing job": (ex or {}).get("ProcessingJobArn"), "Baseline statistics": docs.get("baseline"),
             "Execution output": docs.get("output")}
    return render_report(f"Model Monitor report: {schedule}", facts, read_json(s3, docs.get("baseline")),
                         read_json(s3, docs.get("statistics")), violations)


# ------------------------------------------------------------------ following events
# ------------------------------------------------------------------ commands
def cmd_list(args: argparse.Namespace) -> int:
    cli = _cli()
    sm = cli._session(args).sagemaker_client
    schedules = sm.list_monitoring_schedules(MaxResults=100, SortBy="CreationTime",
                                             SortOrder="Descending")["MonitoringScheduleSummaries"]
    rows = []
    for s in schedules:
        last = sm.describe_monitoring_schedule(MonitoringScheduleName=s["MonitoringScheduleName"]).get(
            "LastMonitoringExecutionSummary") or {}
        rows.append({**s, "LastExecutionStatus": last.get("MonitoringExecutionStatus")})
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(cli.table(["NAME", "STATUS", "TYPE", "ENDPOINT", "LAST EXECUTION", "CREATED"],
                    [[r["MonitoringScheduleName"], r["MonitoringScheduleStatus"], r.get("MonitoringType"),
                      r.get("EndpointName"), r.get("LastExecutionStatus"), r.get("CreationTime")] for r in rows]))
    return 0


def cmd_executions(args: argparse.Namespace) -> int:
    cli = _cli()
    sm = cli._session(args).sagemaker_client
    rows = sm.list_monitoring_executions(MonitoringScheduleName=args.schedule, SortBy="ScheduledTime",
                                         SortOrder="Descending", MaxResults=100)["MonitoringExecutionSummaries"]
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    print(cli.table(["SCHEDULED", "STATUS", "PROCESSING JOB", "FAILURE"],
                    [[r["ScheduledTime"], r["MonitoringExecutionStatus"],
                      (r.get("ProcessingJobArn") or "").rsplit("/", 1)[-1], r.get("FailureReason")] for r in rows]))
    return 0


def event_line(event: dict[str, Any]) -> str:
    d = event.get("detail") or {}
    retrain = f"  retrain: {d['RetrainPipelineExecutionArn']}" if d.get("RetrainPipelineExecutionArn") else ""
    checks = sorted({str(v.get("constraint_check_type")) for v in d.get("Violations") or []})
    found = f"  {d.get('ViolationCount', 0)} violation(s) {', '.join(checks)}" if d.get("ViolationCount") else ""
    return (f"{event.get('time', '')}  {d.get('MonitoringScheduleName', '')}  {d.get('EndpointName', '')}  "
            f"{d.get('MonitoringExecutionStatus', '')}{found}{retrain}")


def cmd_watch(args: argparse.Namespace) -> int:
    return cli_events.print_events(_cli()._session(args).logs_client, args, DETAIL_TYPE, LOG_STREAM,
                                   "MonitoringScheduleName", args.schedule, event_line)


def cmd_report(args: argparse.Namespace) -> int:
    session = _cli()._session(args)
    text = build_report(session.sagemaker_client, session.s3_client, args.schedule)
    out = Path(args.out)
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}")
    return 0


def add_monitor_commands(sub: Any, client_opts: Callable[..., None]) -> None:
    """Register `shipyard monitor` and its subcommands."""
    mon = sub.add_parser("monitor", help="Model Monitor: schedules, executions, events, reports").add_subparsers(
        dest="action", metavar="ACTION")
    mon.required = True
    p = mon.add_parser("list", help="list monitoring schedules with their last execution's status")
    client_opts(p)
    p.set_defaults(func=cmd_list)
    p = mon.add_parser("executions", help="list a schedule's executions, newest first")
    p.add_argument("schedule")
    client_opts(p)
    p.set_defaults(func=cmd_executions)
    p = mon.add_parser("watch", help="print monitoring executions' state-change events (violations, retrains)")
    p.add_argument("--schedule", help="only this schedule's events")
    cli_events.add_follow_options(p)
    client_opts(p)
    p.set_defaults(func=cmd_watch)
    p = mon.add_parser("report", help="write an HTML report: baseline vs latest distribution per feature, "
                                      "and the violations")
    p.add_argument("schedule")
    p.add_argument("--out", default="report.html", help="the HTML file to write (default report.html)")
    client_opts(p, json_flag=False)
    p.set_defaults(func=cmd_report)
