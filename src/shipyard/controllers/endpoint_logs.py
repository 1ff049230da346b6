"""Ship each model-server instance's log file into CloudWatch Logs, as SageMaker does for endpoints.

SageMaker writes a container's output to log group ``/aws/sagemaker/Endpoints/<endpoint>``, stream
``<variant>/<instance-id>``; ``sagemaker.Session().wait_for_endpoint(name, live_logging=True)`` reads it with
FilterLogEvents (prefix ``AllTraffic/``) while the endpoint is Creating, and ``shipyard logs`` / boto3's
``logs`` client read it later.

Instances write ``<home>/runs/endpoints/<endpoint>/<variant>/instance-<id>.log`` (see
:func:`shipyard.serving.deploy.start_instance`). This controller finds those files by path rather than
through the endpoint's ``_instances`` record, so the start-up lines of an instance that failed its health
check (and was never recorded as serving) are shipped too. It tails each file from an offset kept in the
endpoint document (``_log_offsets``, one key per ``<variant>/<instance>``; written alone, so it never
competes with the hosting controller's own keys), reading whole lines with
:func:`shipyard.controllers.joblog.read_new_lines`. After a server restart it resumes from those offsets.

It is its own controller (kind ``endpoint-logs``, never woken, it runs on its tick) so log shipping can
never delay a deployment step of the hosting controller.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ..domain.endpoint_state import EndpointState
from ..errors import MissingResource
from ..metastore.base import LogEvent, Resource
from .base import Controller
from .joblog import read_new_lines

if TYPE_CHECKING:
    from ..context import Services

log = logging.getLogger("shipyard.controllers.endpoint_logs")

ENDPOINT = "endpoint"
GROUP_PREFIX = "/aws/sagemaker/Endpoints/"
STATUSES = ("Creating", "Updating", "InService", "SystemUpdating", "Deleting", "Failed", "RollingBack")
MAX_READ = 1 << 20     # bytes per file per tick
STALE_SLACK = 5.0      # seconds: files older than the endpoint itself belong to an earlier one of that name


def log_group(endpoint: str) -> str:
    return GROUP_PREFIX + endpoint


def instance_logs(home: Path, endpoint: str) -> dict[str, Path]:
    """``{"<variant>/<instance-id>": log path}`` for every instance log of ``endpoint`` under ``home``."""
    root = Path(home) / "runs" / "endpoints" / endpoint
    out: dict[str, Path] = {}
    try:
        variants = [d for d in root.iterdir() if d.is_dir()]
    except OSError:
        return out
    for vdir in variants:
        try:
            files = list(vdir.glob("instance-*.log"))
        except OSError:
            continue
        for f in files:
            out[f"{vdir.name}/{f.stem.removeprefix('instance-')}"] = f
    return out


class EndpointLogController(Controller):
    kind = "endpoint-logs"
    tick = 1.0

    def __init__(self, services: Services):
        super().__init__(services)
        self.services: Services = services

    def reconcile_all(self) -> None:
        for r in self.services.meta.list_in_status(ENDPOINT, STATUSES):
            try:
                self.ship(r)
            except MissingResource:
                pass  # deleted meanwhile
            except Exception:  # noqa: BLE001 - one endpoint's trouble must not stop the others
                log.exception("shipping the logs of endpoint %s failed; retrying next tick", r.name)

    def ship(self, r: Resource) -> int:
        """Ship new lines of every instance log of endpoint ``r``; returns how many lines were shipped."""
        offsets = EndpointState.from_doc(r.doc).log_offsets
        changed: dict[str, int] = {}
        shipped = 0
        meta = self.services.meta
        for stream, path in sorted(instance_logs(self.services.settings.home, r.name).items()):
            offset = int(offsets.get(stream, 0))
            try:
                st = path.stat()
            except OSError:
                continue
            if st.st_size <= offset:
                continue
            if stream not in offsets and st.st_mtime < r.created - STALE_SLACK:
                offsets[stream] = changed[stream] = st.st_size  # an earlier endpoint's file: skip it
                continue
            lines, new_offset = read_new_lines(path, offset, final=False, max_bytes=MAX_READ)
            if new_offset == offset:
                continue
            now = time.time()
            if lines:
                meta.append_logs(log_group(r.name), stream, [LogEvent(timestamp=now, message=line) for line in lines])
                shipped += len(lines)
            changed[stream] = new_offset
        if changed:
            meta.update(ENDPOINT, r.name, EndpointState(log_offsets={**offsets, **changed}).to_changes(["log_offsets"]))
        return shipped
