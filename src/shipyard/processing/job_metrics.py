"""Publish a processing job's CloudWatch metrics files, as SageMaker's platform does when the job ends.

A Model Monitor container (Shipyard's analyzer, or a bring-your-own one) writes the metrics it wants in
CloudWatch to ``/opt/ml/output/metrics/cloudwatch/*.jsonl`` when ``publish_cloudwatch_metrics`` is
``Enabled``: one JSON document a line, ``{"Namespace": ..., "MetricData": [...]}``, MetricData in
PutMetricData's shape (MetricName, Timestamp, Dimensions, Value or StatisticValues, Unit). The container never
calls CloudWatch itself; the platform does, after the program ends. Here the executor does it with the job's
own key (``job.json``'s ``aws_env``; its scope allows PutMetricData), batched by AWS's limit of 1,000
metric data per call.

boto3 is imported only when a file exists, so a job that writes none pays nothing on its way out. Publishing
is best effort: a failure is written to the job's log and never changes the job's outcome (on AWS too, a
monitoring execution's status does not depend on CloudWatch).
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

METRICS_FOLDER = "output/metrics/cloudwatch"   # under the job's /opt/ml
DEFAULT_NAMESPACE = "aws/sagemaker/Endpoints/data-metrics"  # AWS's default for a real-time endpoint's data
MAX_PER_CALL = 1000                            # PutMetricData's limit on MetricData items per request
_FIELDS = ("MetricName", "Timestamp", "Dimensions", "Value", "Values", "Counts", "StatisticValues", "Unit",
           "StorageResolution")


def metrics_files(opt_ml: Path) -> list[Path]:
    """The job's metrics files (``*.jsonl`` under ``/opt/ml/output/metrics/cloudwatch``), in name order."""
    folder = opt_ml / METRICS_FOLDER
    try:
        return sorted(p for p in folder.glob("*.jsonl") if p.is_file())
    except OSError:
        return []


def _timestamp(value: Any) -> Any:
    """An ISO-8601 string (what containers write) as a datetime botocore serializes in any protocol."""
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00")
        try:
            stamp = _dt.datetime.fromisoformat(text)
        except ValueError:
            return value  # botocore's own parsing (and its error) decides
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=_dt.timezone.utc)
    if isinstance(value, (int, float)):
        return _dt.datetime.fromtimestamp(value, _dt.timezone.utc)
    return value


def _datum(item: dict) -> dict:
    """One MetricData item with PutMetricData's fields only (a container may add its own keys)."""
    out = {k: item[k] for k in _FIELDS if k in item}
    if "Timestamp" in out:
        out["Timestamp"] = _timestamp(out["Timestamp"])
    return out


def batches(files: list[Path], log: Callable[[str], None]) -> Iterator[tuple[str, list[dict]]]:
    """(Namespace, up to :data:`MAX_PER_CALL` metric data) per PutMetricData call, over every file's lines;
    a line that is not a JSON object with MetricData is skipped with a note in the log."""
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as e:
            log(f"note: cannot read the CloudWatch metrics file {path.name}: {e}")
            continue
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
            except ValueError:
                doc = None
            data = doc.get("MetricData") if isinstance(doc, dict) else None
            if not isinstance(data, list):
                log(f"note: {path.name} line {number} is not a JSON object with a MetricData list: skipped")
                continue
            namespace = str(doc.get("Namespace") or DEFAULT_NAMESPACE)
            items = [_datum(x) for x in data if isinstance(x, dict) and x.get("MetricName")]
            for start in range(0, len(items), MAX_PER_CALL):
                yield namespace, items[start:start + MAX_PER_CALL]


def _client(aws_env: dict[str, str], region: str):
    import boto3
    from botocore.config import Config

    # A few quick retries only: the job is over and waits on this; a server that is down loses the metrics
    # (logged), not the job.
    return boto3.session.Session().client(
        "cloudwatch", endpoint_url=aws_env["AWS_ENDPOINT_URL"], region_name=aws_env.get("AWS_REGION") or region,
        aws_access_key_id=aws_env["AWS_ACCESS_KEY_ID"], aws_secret_access_key=aws_env.get("AWS_SECRET_ACCESS_KEY"),
        aws_session_token=aws_env.get("AWS_SESSION_TOKEN"),
        config=Config(connect_timeout=5, read_timeout=30, retries={"max_attempts": 3, "mode": "standard"}))


def publish(opt_ml: Path, aws_env: dict[str, str], region: str, log: Callable[[str], None],
            client: Any = None) -> int:
    """Send every metrics file's data with PutMetricData; the number of metric data sent. Never raises:
    whatever goes wrong is logged (``client`` is for tests; by default one on the job's key)."""
    files = metrics_files(opt_ml)
    if not files:
        return 0
    sent = 0
    try:
        if client is None:
            if not (aws_env.get("AWS_ENDPOINT_URL") and aws_env.get("AWS_ACCESS_KEY_ID")):
                log("note: the job has no key of its own (job.json from an older server): "
                    "its CloudWatch metrics are not published")
                return 0
            client = _client(aws_env, region)
        for namespace, data in batches(files, log):
            client.put_metric_data(Namespace=namespace, MetricData=data)
            sent += len(data)
    except Exception as e:  # noqa: BLE001 - best effort: the job's outcome stands
        log(f"warning: publishing the job's CloudWatch metrics failed after {sent} metric data: "
            f"{type(e).__name__}: {e}")
        return sent
    log(f"published {sent} CloudWatch metric data from {len(files)} file(s)")
    return sent
