"""What every controller of host-based jobs (training, processing) does the same way.

A job of either kind runs as one executor per host (``algo-N``), each started through the runner from a host
folder that holds ``job.json``; the handles live in the job's document, so a restarted server follows them
again. The kinds differ in what they report (SecondaryStatus and metrics for training; ExitMessage for
processing) and how they finish; they share:

- the settings every such controller reads (the stop grace, job isolation) and the job keys, pruned at start;
- ``job_dir`` (``<home>/runs/<run kind>/<job>``) and :meth:`launch_host`: follow a host a crash left started
  (its ``handle`` marker file), else write ``job.json`` 0600 and start the executor;
- :meth:`attach` (the runner's handle of a host, cached) and :meth:`stop_all`;
- :meth:`manifest_reads`: where a manifest input's entries live, read once with the server's store to scope
  the job's key;
- :meth:`sandbox`: what the program may see and use, from its instance type and network setting;
- :meth:`save`: compare-and-set on the version, merging a change the API made meanwhile (a stop); a final
  status revokes the job's key and tells :mod:`shipyard.resources.job_events`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Iterable

from ..domain import job_keys
from ..domain.job_file import write_private
from ..domain.training_state import Host
from ..errors import ConflictError, MissingResource
from ..resources import job_events
from ..runners.base import JobSpec
from ..runners.sandbox import Sandbox, isolation_enabled
from .base import Controller

log = logging.getLogger("shipyard.controllers.job_hosts")

HANDLE_FILE = "handle"  # in a host folder: the runner handle started there (written right after the start)
FINAL = ("Completed", "Failed", "Stopped")


class HostJobController(Controller):
    """The base of the training and processing controllers (see the module docstring)."""

    run_kind = ""                       # the folder under <home>/runs
    active: frozenset[str] = frozenset()  # the kind's statuses that still need the controller
    stop_grace_setting = ""             # the settings.extra key of the SIGTERM -> SIGKILL grace ...
    stop_grace_env = ""                 # ... its environment variable ...
    default_stop_grace = 30.0           # ... and its default

    def __init__(self, services: Any):
        super().__init__(services)
        self._handles: dict[str, Any] = {}
        settings = services.settings
        extra = getattr(settings, "extra", {}) or {}
        self.stop_grace = float(extra.get(self.stop_grace_setting) or os.environ.get(self.stop_grace_env)
                                or self.default_stop_grace)
        # Each job holds a key of its own (never the server's), revoked when it ends; on start, keys of jobs
        # that ended while the server was down are revoked here.
        self.keys = job_keys.for_home(settings.home)
        # The program sees only its own job folder of the home, where the host allows (training/isolation.py);
        # SHIPYARD_JOB_ISOLATION=off turns that off.
        self.isolate = isolation_enabled(extra.get("job_isolation"))
        self.keys.prune(self._key_in_use)

    def _key_in_use(self, kind: str, name: str) -> bool:
        if kind != self.kind:
            return True  # another kind's controller decides
        try:
            return self.services.meta.get(self.kind, name).status in self.active
        except MissingResource:
            return False

    def job_dir(self, name: str) -> Path:
        return Path(self.services.settings.home) / "runs" / self.run_kind / name

    def shutdown(self) -> None:
        self._handles.clear()

    # --- hosts ---
    def attach(self, host: Host) -> Any:
        """The runner's handle of one host (cached), or None when the runner no longer knows it."""
        handle = self._handles.get(host.handle)
        if handle is None:
            handle = self.services.runner.attach(host.handle)
            if handle is not None:
                self._handles[host.handle] = handle
        return handle

    def stop_all(self, handles: Iterable[Any], grace: float) -> None:
        for h in handles:
            if h is not None:
                try:
                    h.stop(grace)
                except Exception:  # noqa: BLE001 - a host already gone needs no stop
                    log.debug("stopping a host failed", exc_info=True)

    def launch_host(self, hdir: Path, job_text: Callable[[], str], spec: Callable[[str], JobSpec]) -> Any:
        """Start one host's executor in ``hdir`` (made if missing) and return its handle. A host that was
        started before a crash lost the document update (its ``handle`` marker names a live handle) is followed
        instead of started twice. ``job_text()`` is ``job.json`` (written 0600: it holds the job's key);
        ``spec(text)`` the runner's job spec."""
        hdir.mkdir(parents=True, exist_ok=True)
        handle = None
        marker = hdir / HANDLE_FILE
        if marker.exists():  # started before a crash that lost the document update: follow that one
            handle = self.services.runner.attach(marker.read_text().strip())
        if handle is None:
            text = job_text()
            write_private(hdir, text)  # 0600: it holds the job's credentials
            handle = self.services.runner.start(spec(text))
            marker.write_text(handle.id)
        self._handles[handle.id] = handle
        return handle

    def forget(self, hosts: Iterable[Host]) -> None:
        for h in hosts:
            self._handles.pop(h.handle, None)

    # --- the job's key and sandbox ---
    def manifest_reads(self, sources: Iterable[tuple[str, str]]) -> list[str]:
        """What a job's manifest inputs point at besides the manifest itself, for ``(S3DataType, S3Uri)`` pairs:
        the objects may lie anywhere the manifest says (see :func:`job_keys.manifest_reads`), so the server reads
        each manifest once, with its own store, to scope the job's key."""
        reads: list[str] = []
        for data_type, uri in sources:
            bucket, _, key = job_keys.s3_prefix(uri or "").partition("/")
            if data_type == "S3Prefix" or not bucket or not key:
                continue
            try:
                body = self.services.objects.get_bytes(bucket, key)
            except Exception:  # noqa: BLE001 - the executor reports an unreadable manifest as the job's failure
                continue
            reads.extend(p for p in job_keys.manifest_reads(data_type, body) if p not in reads)
        return reads

    def sandbox(self, per, *, network: bool, volume_gb: int, instance_type: str) -> Sandbox:
        """What the job's program may see and use: its folder at /opt/ml, the home hidden (the environments
        shown read-only), no network under network isolation, its instance type's memory and CPU share,
        VolumeSizeInGB watched. The executor applies it to the program (it downloads and uploads outside)."""
        from ..environments.builder import root_for

        home = self.services.settings.home
        return Sandbox(opt_ml="{workdir}", hide=[str(home)], read_only=[str(root_for(home))], network=network,
                       memory_mb=per.memory_mb, cpus=per.cpus, volume_gb=volume_gb, instance_type=instance_type,
                       applies_to="program")

    # --- saving ---
    def on_conflict(self, current: Any, changes: dict, status: str | None) -> None:
        """A save lost the race to the API (``current`` is the job now): adjust ``changes`` before retrying."""

    def save(self, r: Any, changes: dict, status: str | None = None) -> None:
        """Compare-and-set on the version; if the API changed the job meanwhile (a stop), merge and retry. A
        final status revokes the job's key and tells the job's recorders (experiments, lineage)."""
        if not changes and status is None:
            return
        if status in FINAL:
            self.keys.revoke(self.kind, r.name)  # the job's key dies with it
        meta = self.services.meta
        current = r
        for _ in range(5):
            try:
                saved = meta.update(self.kind, current.name, changes, status=status, expect_version=current.version)
                break
            except ConflictError:
                current = meta.get(self.kind, current.name)
                self.on_conflict(current, changes, status)
        else:
            saved = meta.update(self.kind, current.name, changes, status=status)
        if status in FINAL:
            job_events.job_finished(self.services, self.kind, saved)  # experiments and lineage record the outcome
