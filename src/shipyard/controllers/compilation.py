"""The compilation-job controller: fetch the model, run the compiler through the runner, upload the result.

Every tick it looks at the jobs that are STARTING, INPROGRESS or STOPPING:

- a STARTING job gets its folder (``<home>/runs/compilation/<job>/``), its model artifact downloaded and
  unpacked into ``model/``, and the compiler started through the runner (``python -m shipyard.compile.job
  --model-dir ... --out out/``; ``SHIPYARD_NEO_COMPILER`` replaces ``python -m shipyard.compile.job``, so tests
  and operators can put another compiler in); it becomes INPROGRESS with ``CompilationStartTime``;
- an INPROGRESS job is polled; one past ``MaxRuntimeInSeconds`` is stopped and fails saying so;
- STOPPING (StopCompilationJob) stops the compiler and records STOPPED;
- when the compiler ends: exit 0 with ``out/model.onnx`` -> everything in ``out/`` is packed into
  ``<S3OutputLocation>/<model>-<target>.tar.gz`` (``ModelArtifacts``, its sha256 in ``ModelDigests``) and the
  job is COMPLETED; otherwise FAILED with the one-line reason of ``out/failure`` (else the log's last line).
  The compiler's output goes to the job's stream (its name) in ``/aws/sagemaker/CompilationJobs``.

All state is in the document (the runner's handle id, a ``handle`` marker file in the folder for a crash
between starting and saving), so a restarted server resumes following the same compiler process.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
import shutil
import sys
import tarfile
import time
from pathlib import Path

from ..context import Services
from ..errors import ConflictError, MissingResource
from ..io.archives import safe_extract
from ..metastore.base import LogEvent
from ..objectstore.base import parse_s3_uri
from ..resources import compilation_job as cj
from ..runners.base import JobSpec
from ..runners.sandbox import Sandbox, isolation_enabled
from .base import Controller

log = logging.getLogger("shipyard.controllers.compilation")

COMPILER_ENV = "SHIPYARD_NEO_COMPILER"
LOG_FILE = "compile.log"
LOG_GROUP = "/aws/sagemaker/CompilationJobs"
HANDLE_FILE = "handle"
OUTPUTS = ("model.onnx", "compilation.json", "failure")
STOP_GRACE = 5.0


def compiler_command() -> list[str]:
    """The compiler's command prefix (its arguments follow)."""
    custom = os.environ.get(COMPILER_ENV, "").strip()
    return shlex.split(custom) if custom else [sys.executable, "-m", "shipyard.compile.job"]


class CompilationController(Controller):
    kind = cj.KIND
    tick = 0.5

    def __init__(self, services: Services):
        super().__init__(services)
        self._handles: dict[str, object] = {}
        # the compiler loads the user's model (pickles, TorchScript, SavedModels run code): it runs in the job
        # sandbox, seeing its own folder only, the server's home hidden, and no network (it needs none)
        self.isolate = isolation_enabled((getattr(services.settings, "extra", {}) or {}).get("job_isolation"))

    def job_dir(self, name: str) -> Path:
        return Path(self.services.settings.home) / "runs" / "compilation" / name

    def reconcile_all(self) -> None:
        for r in self.services.meta.list_in_status(cj.KIND, cj.ACTIVE):
            try:
                self.reconcile(r)
            except MissingResource:
                pass  # deleted meanwhile
            except Exception as e:  # noqa: BLE001 - one job's trouble must not stop the others
                log.exception("compilation job %s failed in the controller", r.name)
                try:
                    self._fail(r, f"InternalServerError: {e}")
                except Exception:  # noqa: BLE001
                    log.exception("could not record the failure of compilation job %s", r.name)

    def reconcile(self, r) -> None:
        state = cj.CompilationState.from_doc(r.doc)
        handle = self._attach(state.handle) if state.handle else None
        if not state.handle:
            if r.status == "STOPPING":
                cj.finish(self.services, r, "STOPPED", {})
                return
            self._start(r)
            return
        rc = handle.poll() if handle is not None else None  # type: ignore[attr-defined]
        now = time.time()
        if handle is not None and rc is None:
            max_run = float((r.doc.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or cj.DEFAULT_MAX_RUNTIME)
            if r.status == "STOPPING" and not state.stop_sent:
                handle.stop(STOP_GRACE)  # type: ignore[attr-defined]
                self.services.meta.update(cj.KIND, r.name, state.changes(stop_sent=now))
            elif r.status == "INPROGRESS" and now > state.started + max_run and not state.stop_sent:
                handle.stop(STOP_GRACE)  # type: ignore[attr-defined]
                self.services.meta.update(cj.KIND, r.name, {**state.changes(stop_sent=now), "FailureReason": (
                    f"MaxRuntimeExceeded: the compilation ran longer than its MaxRuntimeInSeconds ({max_run:g} s).")})
            return
        self._handles.pop(state.handle, None)
        self._finish(r, state, rc, lost=handle is None)

    # --- starting ---
    def _start(self, r) -> None:
        doc = r.doc
        jdir = self.job_dir(r.name)
        marker = jdir / HANDLE_FILE
        handle = self.services.runner.attach(marker.read_text().strip()) if marker.exists() else None
        if handle is None:
            if jdir.exists():
                shutil.rmtree(jdir)
            (jdir / "out").mkdir(parents=True)
            try:
                self._fetch_model(doc["InputConfig"]["S3Uri"], jdir)
            except Exception as e:  # noqa: BLE001 - the user sees why the model could not be read
                self._fail(r, f"ClientError: could not read the model artifact {doc['InputConfig']['S3Uri']}: "
                              f"{getattr(e, 'message', None) or e}")
                return
            handle = self.services.runner.start(self._spec(r, jdir))
            marker.write_text(handle.id)
        self._handles[handle.id] = handle
        now = time.time()
        changes = {**cj.CompilationState(handle=handle.id, dir=str(jdir), started=now).changes(),
                   "CompilationStartTime": now}
        try:
            self.services.meta.update(cj.KIND, r.name, changes, status="INPROGRESS", expect_status={"STARTING"})
        except ConflictError:  # stopped meanwhile: it stays STOPPING and the next tick stops the compiler
            self.services.meta.update(cj.KIND, r.name, changes)
        log.info("compilation job %s started (%s)", r.name, handle.id)

    def _fetch_model(self, uri: str, jdir: Path) -> None:
        bucket, key = parse_s3_uri(uri)
        archive = jdir / "model.tar.gz"
        self.services.objects.download_file(bucket, key, archive)
        safe_extract(archive, jdir / "model", what="the model artifact")
        archive.unlink()

    def _spec(self, r, jdir: Path) -> JobSpec:
        inputs, output = r.doc["InputConfig"], r.doc["OutputConfig"]
        args = [*compiler_command(), "--model-dir", "{workdir}/model",
                "--framework", inputs["Framework"],
                "--data-input-config", inputs.get("DataInputConfig") or "{}",
                "--target", cj.target_arg(output), "--out", "{workdir}/out"]
        if output.get("CompilerOptions"):
            args += ["--compiler-options", output["CompilerOptions"]]
        return JobSpec(name=f"{cj.KIND}/{r.name}", command=args, env={"SHIPYARD_COMPILATION_JOB": r.name},
                       workdir=str(jdir), log_path=str(jdir / LOG_FILE), cpus=1.0,
                       inputs={"model": str(jdir / "model")}, sync_back=[f"out/{f}" for f in OUTPUTS],
                       sandbox=Sandbox(opt_ml="{workdir}", hide=[str(self.services.settings.home)], network=False,
                                       applies_to="command") if self.isolate else None)

    def _attach(self, handle_id: str):
        handle = self._handles.get(handle_id)
        if handle is None:
            handle = self.services.runner.attach(handle_id)
            if handle is not None:
                self._handles[handle_id] = handle
        return handle

    # --- finishing ---
    def _finish(self, r, state: cj.CompilationState, rc: int | None, lost: bool) -> None:
        jdir = Path(state.dir or self.job_dir(r.name))
        out = jdir / "out"
        self._save_log(r.name, jdir)
        if r.status == "STOPPING":
            cj.finish(self.services, r, "STOPPED", {})
            return
        if r.doc.get("FailureReason"):  # ran past its MaxRuntimeInSeconds
            cj.finish(self.services, r, "FAILED", {})
            return
        # a compiler whose handle was lost (the runner forgot it across a restart) succeeded when it left its
        # report (written last) and no failure
        finished = rc == 0 or (lost and (out / "compilation.json").is_file() and not (out / "failure").exists())
        if finished and (out / "model.onnx").is_file():
            uri = cj.artifact_uri(r.doc)
            digest = self._upload(out, uri)
            cj.finish(self.services, r, "COMPLETED", {
                "ModelArtifacts": {"S3ModelArtifacts": uri}, "ModelDigests": {"ArtifactDigest": f"sha256:{digest}"}})
            log.info("compilation job %s completed: %s", r.name, uri)
            return
        self._fail(r, _failure(jdir, out, rc, lost))

    def _save_log(self, name: str, jdir: Path) -> None:
        """The compiler's output -> the job's stream in /aws/sagemaker/CompilationJobs (once, when it ends)."""
        try:
            lines = (jdir / LOG_FILE).read_text(errors="replace").splitlines()
        except OSError:
            return
        now = time.time()
        events = [LogEvent(timestamp=now, message=ln) for ln in lines[-10000:] if ln.strip()]
        if events:
            self.services.meta.append_logs(LOG_GROUP, name, events)

    def _upload(self, out: Path, uri: str) -> str:
        """Pack ``out/`` (model.onnx, compilation.json, ...) as a tar.gz at ``uri``; its sha256."""
        archive = out.parent / "compiled.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for item in sorted(out.iterdir()):
                if item.name != "failure":
                    tar.add(item, arcname=item.name)
        h = hashlib.sha256()
        with open(archive, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        bucket, key = parse_s3_uri(uri)
        self.services.objects.upload_file(archive, bucket, key, content_type="application/x-gzip")
        archive.unlink()
        return h.hexdigest()

    def _fail(self, r, reason: str) -> None:
        cj.finish(self.services, self.services.meta.get(cj.KIND, r.name), "FAILED", {"FailureReason": reason[:1024]})
        log.info("compilation job %s failed: %s", r.name, reason)


def _failure(jdir: Path, out: Path, rc: int | None, lost: bool) -> str:
    """Why the compiler failed: its ``failure`` file, else the log's last line, else the exit code."""
    failure = out / "failure"
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
        if text:
            return text.splitlines()[0] if ":" in text.splitlines()[0] else f"ClientError: {text.splitlines()[0]}"
    if lost:
        return ("InternalServerError: the compiler process was lost (it was killed, or its host restarted while "
                "the server was down).")
    tail = ""
    try:
        lines = [ln for ln in (jdir / LOG_FILE).read_text(errors="replace").splitlines() if ln.strip()]
        tail = lines[-1].strip() if lines else ""
    except OSError:
        pass
    if rc == 0:
        return "ClientError: the compiler wrote no model.onnx." + (f" Last log line: {tail}" if tail else "")
    return f"ClientError: the compiler exited with code {rc}" + (f": {tail}" if tail else ".")

