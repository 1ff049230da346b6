""""SageMaker Model Package State Change" events: what the registry tells the world when a package is created or
its approval changes.

Each event has AWS EventBridge's shape (``detail-type``, ``source`` "aws.sagemaker", ``detail`` = the package's
description) and goes two ways:

- appended to the store's logs, group :data:`LOG_GROUP`, stream :data:`LOG_STREAM`, one JSON line each, so
  ``shipyard registry watch`` (and anyone with CloudWatch Logs' FilterLogEvents) can follow them;
- POSTed as JSON to each URL of the ``webhooks`` setting (``SHIPYARD_WEBHOOKS``) from a background thread, with
  a timeout per try and a bounded number of retries: a slow or dead receiver never delays the API call.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone
from typing import Any

from ..context import Services
from ..metastore.base import LogEvent

LOG_GROUP = "/shipyard/events"
LOG_STREAM = "model-package-state-change"
DETAIL_TYPE = "SageMaker Model Package State Change"
WEBHOOK_TIMEOUT_S = 5.0
WEBHOOK_TRIES = 3
WEBHOOK_BACKOFF_S = 0.5  # doubled after each failed try

log = logging.getLogger(__name__)


def _json_value(value: Any) -> Any:
    """Timestamps (floats of epoch seconds in the store, datetimes elsewhere) as EventBridge writes them."""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def build_event(services: Services, description: dict) -> dict:
    """The EventBridge event for one package description."""
    now = time.time()
    detail = _json_value(description)
    for key in ("CreationTime", "LastModifiedTime"):  # EventBridge's SageMaker events carry epoch milliseconds
        if isinstance(detail.get(key), (int, float)):
            detail[key] = int(detail[key] * 1000)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": DETAIL_TYPE,
        "source": "aws.sagemaker",
        "account": services.account,
        "time": datetime.fromtimestamp(now, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": services.region,
        "resources": [description["ModelPackageArn"]],
        "detail": detail,
    }


def publish(services: Services, description: dict) -> dict:
    """Record the event in the store's logs and hand it to the webhooks (in the background). Returns it."""
    return emit(services, LOG_STREAM, build_event(services, description))


def emit(services: Services, stream: str, event: dict) -> dict:
    """Append ``event`` as one JSON line to :data:`LOG_GROUP`'s ``stream`` and POST it to the ``webhooks``
    setting's URLs from a background thread. Every Shipyard event (registry, Model Monitor) goes out this way, so
    a webhook receiver and ``FilterLogEvents`` see them all in one shape."""
    body = json.dumps(event, sort_keys=True)
    services.meta.append_logs(LOG_GROUP, stream, [LogEvent(timestamp=time.time(), message=body)])
    urls = list(services.settings.webhooks)
    if urls:
        threading.Thread(target=deliver, args=(urls, body.encode()), name="shipyard-webhooks",
                         daemon=True).start()
    return event


def deliver(urls: list[str], body: bytes, timeout: float = WEBHOOK_TIMEOUT_S, tries: int = WEBHOOK_TRIES,
            backoff: float = WEBHOOK_BACKOFF_S) -> dict[str, bool]:
    """POST ``body`` to each URL: up to ``tries`` tries each (a 2xx ends them), ``timeout`` seconds per try.
    Returns URL -> delivered; a failure is logged, never raised (the event is in the logs regardless)."""
    results: dict[str, bool] = {}
    for url in urls:
        results[url] = False
        wait = backoff
        for attempt in range(1, tries + 1):
            request = urllib.request.Request(url, data=body, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "shipyard-webhooks"})
            try:
                with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's URL
                    if 200 <= response.status < 300:
                        results[url] = True
                        break
            except (urllib.error.URLError, OSError, ValueError) as e:
                log.warning("webhook %s: try %d of %d failed: %s", url, attempt, tries, e)
            if attempt < tries:
                time.sleep(wait)
                wait *= 2
    return results
