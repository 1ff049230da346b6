"""The processing-job executor: ``python -m shipyard.processing.executor <host-dir>``, one process per host.

It does on one host (``algo-N``) what SageMaker's platform does around a processing container:

1. writes ``/opt/ml/config/processingjobconfig.json`` (the effective request) and ``resourceconfig.json``
   (``current_host``, ``hosts``);
2. stages each ``ProcessingInput`` at its ``LocalPath`` (:mod:`.inputs`) and pre-creates each output's;
3. runs ``AppSpecification`` (``ContainerEntrypoint`` + ``ContainerArguments`` with ``Environment``) as the
   image's program says (:mod:`.program`): on the host in the job's sandbox, where the host folder *is*
   ``/opt/ml`` so scripts that hard-code ``/opt/ml/processing/...`` work as written, with the image's Python
   environment first on ``PATH``; or, for a bring-your-own image, in a container (:mod:`.container`);
4. uploads the outputs (:mod:`.outputs`: ``Continuous`` ones while the program runs too, every one at the end)
   and publishes ``/opt/ml/output/metrics/cloudwatch/*.jsonl`` with PutMetricData (:mod:`.job_metrics`);
5. reports the outcome in ``status.json``, with ``/opt/ml/output/message`` as the exit message.

SIGTERM (StopProcessingJob) and ``MaxRuntimeInSeconds`` end the program as training's executor does: SIGTERM, a
grace period, SIGKILL. It reads only ``job.json`` and talks only to the server's S3 API with the job's own key
(:func:`shipyard.training.job_store.open_light_job_store`: no boto3 on the start-up path), so it survives a
server restart.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from ..training.status import StatusWriter
from ..training.supervision import ExitWaiter, SupervisedProgram, die_with_parent_hook, log_line, private_variable
from .job_file import ProcessingJobFile
from .outputs import OutputUploader

DEFAULT_STOP_GRACE = 30.0
DEFAULT_CONTINUOUS_INTERVAL = 5.0
MESSAGE_LIMIT = 1024
FAILURE_LIMIT = 1024
OPT_ML = "/opt/ml"
# The first word of an entry point that means "the image's Python" (python, python3, python3.11, /usr/bin/python3)
_PYTHON = re.compile(r"^(?:/usr(?:/local)?/bin/)?python(?:\d+(?:\.\d+)?)?$")


_log = log_line


def read_message(opt_ml: Path) -> str:
    """``/opt/ml/output/message`` (UTF-8, at most 1 KB), or ""."""
    try:
        return (opt_ml / "output" / "message").read_bytes()[:MESSAGE_LIMIT].decode("utf-8", "replace").strip()
    except OSError:
        return ""


class Executor(SupervisedProgram):
    def __init__(self, job_dir: Path, job: ProcessingJobFile):
        self.job_dir = job_dir
        self.job = job
        self.req = job.request
        self.name = self.req["ProcessingJobName"]
        self.status = StatusWriter(job_dir)
        self.hosts = list(job.hosts or ["algo-1"])
        self.host_index = int(job.host_index)
        self.current_host = self.hosts[self.host_index]
        # the stop handling (stop_reason, kill_at, grace, proc, stderr_tail): training.supervision
        self._init_supervision(float(job.stop_grace if job.stop_grace is not None else DEFAULT_STOP_GRACE))
        self._store = None
        self.sandbox: Any = None   # the job's runners.sandbox.Sandbox, once the program starts
        self.launch: Any = None    # its runners.sandbox.Launch (the cgroup an OOM kill is read from)
        self.uploader: OutputUploader | None = None

    @property
    def store(self):
        if self._store is None:
            from ..training.job_store import open_light_job_store

            self._store = open_light_job_store(self.job)
        return self._store

    # --- phases ---
    def run(self) -> int:
        if self.status.data.get("outcome"):
            return 0  # finished before (a second start of the same folder is a no-op)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        max_runtime = float((self.req.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        self.deadline = time.monotonic() + max_runtime
        self.status.set(executor_pid=os.getpid())
        self.status.transition("Starting", "Preparing the instances for processing")
        try:
            cmd, env = self.prepare()
        except Exception as e:  # noqa: BLE001 - becomes the job's FailureReason
            if self.stop_reason:
                return self.finish_stopped()
            return self.fail(self._reason_for(e))
        if self.stop_reason:
            return self.finish_stopped()
        return self.execute(cmd, env)

    def prepare(self) -> tuple[list[str], dict[str, str]]:
        from .inputs import stage_inputs

        config = self.job_dir / "config"
        config.mkdir(parents=True, exist_ok=True)
        (self.job_dir / "output").mkdir(parents=True, exist_ok=True)
        (self.job_dir / "processing").mkdir(parents=True, exist_ok=True)
        _write_json(config / "processingjobconfig.json", self.req)
        _write_json(config / "resourceconfig.json", {"current_host": self.current_host, "hosts": self.hosts,
                                                     "network_interface_name": "eth0"})
        self.status.transition("Downloading", "Downloading input data")
        stage_inputs(self.store, list(self.req.get("ProcessingInputs") or []), self.job_dir, self.host_index,
                     len(self.hosts), _log)
        outputs = list((self.req.get("ProcessingOutputConfig") or {}).get("Outputs") or [])
        uploader = self.uploader = OutputUploader(self.store, outputs, self.job_dir, _log)
        uploader.make_folders()
        env = {k: v for k, v in os.environ.items() if not private_variable(k)}
        env.update(self.job.aws_env)
        return self.command_for(self.job.program, env)

    def command_for(self, program: dict, env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
        """The program's command and environment, by program kind (see :mod:`.program`)."""
        app = self.req["AppSpecification"]
        environment = dict(self.req.get("Environment") or {})
        if program["kind"] == "container":
            from .container import container_launch

            self.job.isolate = False  # the container is the job's sandbox
            return container_launch(self.job, self.job_dir, env, environment, host=self.current_host,
                                    grace=self.grace, log=_log)
        if program["kind"] == "spark":  # smspark-submit -> shipyard.processing.spark_submit on this Python
            from .spark_image import command, version_note

            _log(version_note(program.get("image") or ""))
            cmd = command(list(app.get("ContainerEntrypoint") or []), list(app.get("ContainerArguments") or []))
            env.update(environment)
            env["PYTHONUNBUFFERED"] = "1"
            return cmd, env
        if program["kind"] == "analyzer":  # Model Monitor's analyzer image: shipyard.monitor.analyzer on this Python
            env.update(environment)
            env["PYTHONUNBUFFERED"] = "1"
            return [sys.executable, "-m", "shipyard.monitor.analyzer"], env
        if program["kind"] == "wrangler":  # Data Wrangler's image: shipyard.wrangle.job runs the staged .flow
            env.update(environment)
            env["PYTHONUNBUFFERED"] = "1"
            return [sys.executable, "-m", "shipyard.wrangle.job", *(app.get("ContainerArguments") or [])], env
        if program["kind"] == "debugrule":  # a Debugger rule beside a training job: shipyard.debugger.rule_job
            env.update(environment)
            env["PYTHONUNBUFFERED"] = "1"
            return [sys.executable, "-m", "shipyard.debugger.rule_job", *(app.get("ContainerArguments") or [])], env
        if program["kind"] != "script":
            raise ValueError(f"this Shipyard cannot run a {program['kind']!r} processing program")
        from ..environments import EnvironmentError_, ensure_for_image
        from ..training.script import home_of

        began = time.monotonic()
        try:
            python = ensure_for_image(program.get("image") or "", home_of(self.job_dir), _log).python
        except EnvironmentError_ as e:
            raise ValueError(f"The environment of image {program.get('image')} could not be built: {e}") from None
        self.deadline += time.monotonic() - began  # building the image's environment is not run time
        cmd = [*app.get("ContainerEntrypoint", []), *app.get("ContainerArguments", [])]
        if cmd and _PYTHON.match(cmd[0]):
            cmd[0] = python
        deps = self.job_dir / ".deps"  # where `pip install` in a job's script puts packages (never the image's)
        env["PATH"] = os.pathsep.join([os.path.dirname(python), env.get("PATH") or os.defpath])
        env["PIP_TARGET"] = str(deps)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(deps), env.get("PYTHONPATH", "")) if p)
        env.update(environment)
        env["PYTHONUNBUFFERED"] = "1"
        return cmd, env

    def _sandbox(self):
        if not self.job.isolate:
            return None
        from ..runners import sandbox

        given = os.environ.get(sandbox.ENV_VAR)
        return sandbox.Sandbox.from_json(given) if given else None

    def _isolated(self, cmd: list[str]) -> list[str]:
        self.sandbox = self._sandbox()
        if self.sandbox is None:
            if self.job.program.get("kind") != "container":  # a container mounts the folder at /opt/ml itself
                _log(f"note: job isolation is off: /opt/ml is not this job's folder ({self.job_dir}); "
                     "a script that hard-codes /opt/ml/processing/... paths will not find its files")
            return cmd
        from ..runners import sandbox

        self.launch = sandbox.wrap(cmd, self.sandbox, self.job_dir, attach=True)
        for note in self.launch.notes:
            _log(note)
        return self.launch.command

    def execute(self, cmd: list[str], env: dict[str, str]) -> int:
        self.status.transition("Processing", "Processing in progress")
        self.status.set(processing_start=time.time())
        launch = self._isolated(cmd)
        try:
            # its own process group (a stop reaches it once, through us); SIGKILL when we die
            group: dict[str, Any] = {"process_group": 0}
            self.proc = subprocess.Popen(launch, cwd=str(self.job_dir), env=env, stdin=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, preexec_fn=die_with_parent_hook(),
                                         pass_fds=self.launch.pass_fds if self.launch is not None else (), **group)
        except OSError as e:
            if self.launch is not None:
                self.launch.started(None)
                self.launch.finish()
            return self.fail(f"ClientError: cannot start the processing program {cmd[0]!r}: {e}")
        if self.launch is not None:
            self.launch.started(self.proc.pid)
        if self.stop_reason:
            self._on_term(signal.SIGTERM, None)
        tee = threading.Thread(target=self._tee_stderr, args=(self.proc.stderr,), daemon=True)
        tee.start()
        interval = self.job.continuous_interval
        assert self.uploader is not None  # made by prepare()
        continuous = self.uploader.start_continuous(DEFAULT_CONTINUOUS_INTERVAL if interval is None else interval)
        waiter = ExitWaiter(self.proc)
        while True:
            rc = waiter.wait(0.2)
            if rc is not None:
                break
            now = time.monotonic()
            if self.stop_reason is None and now >= self.deadline:
                self.stop_reason = "MaxRuntimeExceeded"
                self._on_term(signal.SIGTERM, None)
            if self.kill_at is not None and now >= self.kill_at:
                self._kill_program_group()
        self._kill_program_group()
        tee.join(timeout=5)
        if continuous is not None:
            continuous.set()
        self.status.set(processing_end=time.time(), exit_code=rc)
        out_of_memory = self.launch.finish() if self.launch is not None else False
        message = read_message(self.job_dir)
        if message:
            self.status.set(exit_message=message)
        upload_error = self._upload()
        self._publish_metrics()
        if self.stop_reason:
            return self.finish_stopped()
        if rc != 0 and out_of_memory:
            from ..runners.sandbox import out_of_memory_reason

            return self.fail(out_of_memory_reason(self.sandbox))
        if rc != 0:
            return self.fail(self._failure_reason(cmd, rc, message))
        if upload_error:
            return self.fail(upload_error)
        self.status.finish("Completed", "Completed", message="Processing job completed")
        return 0

    def _upload(self) -> str:
        """Every output's last pass; the failure reason when it fails, else ""."""
        if self.uploader is None:
            return ""
        self.status.transition("Uploading", "Uploading processing outputs")
        try:
            sent = self.uploader.upload()
        except Exception as e:  # noqa: BLE001
            return f"InternalServerError: uploading the processing outputs failed: {e}"
        _log(f"uploaded {sent} output file(s)")
        return ""

    def _publish_metrics(self) -> None:
        """The program's CloudWatch metrics files (Model Monitor's per-feature metrics), sent with the job's
        own key before it is revoked; best effort (:mod:`.job_metrics`)."""
        from .job_metrics import metrics_files, publish

        if metrics_files(self.job_dir):
            publish(self.job_dir, dict(self.job.aws_env or {}), self.job.region, _log)

    # --- outcomes ---
    def finish_stopped(self) -> int:
        self.status.finish("Stopped", "Stopped", stop_reason=self.stop_reason, message="Processing job stopped")
        return 0

    def fail(self, reason: str) -> int:
        self.status.finish("Failed", "Failed", failure_reason=reason[:FAILURE_LIMIT], message="Processing job failed")
        _log(reason)
        return 1

    def _reason_for(self, e: Exception) -> str:
        from ..errors import S3Error, ValidationError

        if isinstance(e, (S3Error, ValidationError, ValueError)):  # the job's inputs are at fault
            return f"ClientError: {getattr(e, 'message', None) or e}"
        return f"InternalServerError: {type(e).__name__}: {e}"

    def _failure_reason(self, cmd: list[str], rc: int, message: str) -> str:
        exit_text = f"killed by signal {-rc}" if rc < 0 else f"exit code {rc}"
        if message:
            return f"AlgorithmError: {message} ({exit_text})"[:FAILURE_LIMIT]
        lines = [ln for ln in self.stderr_tail if ln.strip()]
        tail = "\n".join(lines[-6:]) if lines else "(no output on stderr)"
        reason = f"AlgorithmError: the processing program {' '.join(cmd)[:200]!r} ended with {exit_text}:\n{tail}"
        if len(reason) > FAILURE_LIMIT:  # keep the end: the error is on the last lines
            head = "AlgorithmError: ..."
            reason = head + reason[-(FAILURE_LIMIT - len(head)):]
        return reason


def _write_json(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m shipyard.processing.executor <host-dir>\n")
        return 2
    job_dir = Path(argv[0]).resolve()
    job = ProcessingJobFile.read(job_dir)
    from ..io import archives

    archives.configure(archives.Caps.from_json(job.archive_caps))
    return Executor(job_dir, job).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
