"""The training-job executor: ``python -m shipyard.training.executor <job-dir>``, one process per job.

It does on one host what SageMaker's platform does around a training container: Starting -> Downloading
(channels, script-mode code, checkpoints) -> Training (the program under the ``/opt/ml`` contract rooted at
the job folder) -> Uploading (model.tar.gz, output.tar.gz, checkpoints) -> an outcome in ``status.json``.
It reads only ``job.json`` (written by the controller) and talks only to the object store, through the
server's S3 API with the job's own key (:func:`open_job_store`), so it survives a server restart, could run
on another host, and holds no more access than the job's execution role.

SIGTERM (StopTrainingJob) and ``MaxRuntimeInSeconds`` both end the program the SageMaker way: SIGTERM, a
grace period, SIGKILL; ``model/`` is still uploaded and the outcome is Stopped. Signal handlers only set
flags; the main loop acts on them, so no lock is ever taken inside a handler.

Kept light to import (standard library plus our small modules): it sits on every job's start-up path.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from ..algorithms.env import ALGORITHM_IMAGE_VARIABLE
from ..runners import contract
from ..domain.job_file import TrainingJobFile
from .job_store import open_job_store
from .status import StatusWriter
from .supervision import ExitWaiter, SupervisedProgram, die_with_parent_hook, log_line, private_variable

DEFAULT_STOP_GRACE = 30.0
FAILURE_LIMIT = 1024


_log = log_line


class Executor(SupervisedProgram):
    def __init__(self, job_dir: Path, job: TrainingJobFile):
        self.job_dir = job_dir
        self.job = job
        self.req = job.request
        self.name = self.req["TrainingJobName"]
        self.status = StatusWriter(job_dir)
        self.layout = contract.Layout(job_dir)
        # the stop handling (stop_reason, kill_at, grace, proc, stderr_tail): supervision.SupervisedProgram
        self._init_supervision(float(job.stop_grace if job.stop_grace is not None else DEFAULT_STOP_GRACE))
        self._store = None
        # Several instances: this executor is one host of them (hosts sorted, algo-1 first).
        self.hosts: list[str] = job.host_names()
        self.host_index = int(job.host_index)
        self.current_host = self.hosts[self.host_index]
        self.sandbox = None  # the job's runners.sandbox.Sandbox, once the program starts
        self.launch = None   # its runners.sandbox.Launch (the cgroup an OOM kill is read from)
        self.debug = None    # its debugger.job_side.DebugOutputs (tensors, profiler), once prepared

    # --- plumbing ---
    @property
    def store(self):
        if self._store is None:
            self._store = open_job_store(self.job)
        return self._store

    def _checkpoint_local(self) -> Path:
        """``CheckpointConfig.LocalPath`` (under ``/opt/ml``, checked at CreateTrainingJob) in the job folder;
        a path outside ``/opt/ml`` raises UnsafePath (a ClientError), never a folder of the host."""
        from ..domain.paths import safe_join, under_opt_ml

        cfg = self.req.get("CheckpointConfig") or {}
        local = cfg.get("LocalPath") or "/opt/ml/checkpoints"
        return safe_join(self.job_dir, under_opt_ml(local, "CheckpointConfig.LocalPath"),
                         what="CheckpointConfig.LocalPath")

    # --- phases ---
    def run(self) -> int:
        if self.status.data.get("outcome"):
            return 0  # finished before (a second start of the same job folder is a no-op)
        signal.signal(signal.SIGTERM, self._on_term)
        signal.signal(signal.SIGINT, self._on_term)
        max_runtime = float((self.req.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") or 86400)
        self.deadline = time.monotonic() + max_runtime
        self.status.set(executor_pid=os.getpid())
        self.status.transition("Starting")
        try:
            self.layout.make()
            cmd, env, cwd, feeders = self.prepare()
        except Exception as e:  # noqa: BLE001 - becomes the job's FailureReason
            if self.stop_reason:
                return self.finish_stopped(upload=False)
            return self.fail(self._reason_for(e))
        if self.stop_reason:
            return self.finish_stopped(upload=False)
        return self.train(cmd, env, cwd, feeders)

    def prepare(self):
        from .channels import stage_channels

        req = self.req
        spec = req.get("AlgorithmSpecification") or {}
        hps = {k: str(v) for k, v in (req.get("HyperParameters") or {}).items()}
        channels = req.get("InputDataConfig") or []
        input_config = contract.input_data_config(channels, spec.get("TrainingInputMode", "File"))
        rc = req.get("ResourceConfig") or {}
        resources = contract.resource_config(self.hosts, self.current_host, rc.get("InstanceType", ""))
        contract.write_config(self.layout, hps, input_config, resources)

        self.status.transition("Downloading")
        ckpt = req.get("CheckpointConfig") or {}
        if ckpt.get("S3Uri"):
            from .packing import restore_checkpoints

            restore_checkpoints(self.store, ckpt["S3Uri"], self._checkpoint_local())
            # as on SageMaker: built-in algorithms checkpoint only when this file says the job asked for it
            (self.layout.config / "checkpointconfig.json").write_text(json.dumps(
                {"LocalPath": ckpt.get("LocalPath") or "/opt/ml/checkpoints", "S3Uri": ckpt["S3Uri"]}))
        program = self.job.program
        # A built-in algorithm only reads its channels: they may be hard links to the object store's files
        feeders = stage_channels(self.store, channels, self.layout.data, spec.get("TrainingInputMode", "File"),
                                 self.host_index, len(self.hosts), link=program["kind"] == "builtin")
        environment = dict(req.get("Environment") or {})
        # The program sees neither the server's own settings nor any credentials the executor inherited; it
        # gets AWS_* variables of the job's own key, scoped to the job (what an instance role gives a
        # container on AWS).
        env = {k: v for k, v in os.environ.items() if not private_variable(k)}
        env.update(self.job.aws_env)
        if self.host_index == 0:  # Debugger: its config files, the tensor folder and profiler (debugger.job_side)
            from ..debugger.job_side import DebugOutputs

            self.debug = DebugOutputs(req, self.job_dir, self.layout.config, lambda: self.store, _log,
                                      host=self.current_host)
            self.debug.prepare(env)
        _, framework = contract.split_hyperparameters(hps)
        num_gpus = contract.detect_gpus()
        procs = contract.processes_per_host(framework, num_gpus) if program["kind"] == "script" else 1
        addresses = self.job.host_addresses or {h: "127.0.0.1" for h in self.hosts}
        distributed = contract.distributed_environment(self.hosts, self.current_host, addresses,
                                                       int(self.job.master_port or 29500), procs)
        if program["kind"] == "container":  # a bring-your-own image: `train` under docker run
            from .container import container_launch

            # The container is the job's sandbox: the supervisor (a docker client) is not wrapped in another.
            self.job.isolate = False
            cmd, env = container_launch(self.job.to_dict(), self.job_dir, env, hps=hps, input_config=input_config,
                                        resources=resources, environment=environment, distributed=distributed,
                                        host=self.current_host, grace=self.grace, log=_log)
            return cmd, env, self.job_dir, feeders
        if program["kind"] == "script":
            from . import script

            entry, submit = script.entry_point(hps, environment)
            began = time.monotonic()
            python = script.interpreter(spec.get("TrainingImage") or "", self.job_dir, log=_log)
            self.deadline += time.monotonic() - began  # building the image's environment is not run time
            script.prepare_code(self.store, submit, self.layout.code, log=_log, python=python)
            user_hps, _ = contract.split_hyperparameters(hps)
            args = contract.cli_args(user_hps)
            cmd = script.command(entry, self.layout.code, args, python=python)
            if program.get("framework") == "tensorflow":  # the TensorFlow container: TF_CONFIG, ps, --model_dir
                cmd, tf_env = script.tensorflow_launch(cmd, framework, self.layout, self.hosts, self.current_host,
                                                       addresses, int(distributed["MASTER_PORT"]), python)
                distributed.update(tf_env)
            if procs > 1:
                cmd = contract.torchrun_command(cmd, self.hosts, self.current_host, distributed["MASTER_ADDR"],
                                                int(distributed["MASTER_PORT"]), procs)
            cwd = self.layout.code
            env["PYTHONPATH"] = script.python_path(self.layout.code, env.get("PYTHONPATH", ""))
            module_name = entry[:-3] if entry.endswith(".py") else entry
            sm = contract.sm_environment(self.layout, hyperparameters=hps, input_config=input_config,
                                         resources=resources, job_name=self.name, job_arn=self.job.arn,
                                         entry_point=entry, module_name=module_name,
                                         framework_module=program.get("framework", ""), user_args=args,
                                         num_gpus=num_gpus)
        else:
            cmd = [sys.executable, "-m", program["module"]]
            cwd = self.job_dir
            sm = contract.sm_environment(self.layout, hyperparameters=hps, input_config=input_config,
                                         resources=resources, job_name=self.name, job_arn=self.job.arn,
                                         framework_module=program["module"], num_gpus=num_gpus)
            # A built-in knows which image version it stands in for (its model format depends on it)
            sm[ALGORITHM_IMAGE_VARIABLE] = program.get("image", "")
        env.update(sm)
        env.update(distributed)
        env.update(environment)
        env["PYTHONUNBUFFERED"] = "1"
        return cmd, env, cwd, feeders

    def _sandbox(self):
        """The job's sandbox: what the runner handed over (``SHIPYARD_SANDBOX``), else the home hidden but for
        this job's folder (a job.json from before sandboxes); None when the job runs unsandboxed."""
        if not self.job.isolate:
            return None
        from ..runners import sandbox

        given = os.environ.get(sandbox.ENV_VAR)
        if given:
            return sandbox.Sandbox.from_json(given)
        from .script import home_of

        home = home_of(self.job_dir)
        if home is None:
            return None
        from ..environments.builder import root_for

        envs = root_for(home)
        return sandbox.Sandbox(opt_ml=str(self.job_dir), hide=[str(home)],
                               read_only=[str(envs)] if envs.is_dir() else [])

    def _isolated(self, cmd: list[str], cwd) -> list[str]:
        """The program's command inside the job's sandbox (``/opt/ml`` its folder, private ``/tmp``, the home
        hidden, network and memory limits as the job says), as far as the host allows; notes in the job's log."""
        self.sandbox = self._sandbox()
        if self.sandbox is None:
            return cmd
        from ..runners import sandbox

        self.launch = sandbox.wrap(cmd, self.sandbox, cwd, attach=True)  # train() calls launch.started(pid)
        for note in self.launch.notes:
            _log(note)
        return self.launch.command

    def _volume_exceeded(self) -> str:
        """The FailureReason when the job's folder has grown past its ``VolumeSizeInGB``, else ""."""
        limit = int(getattr(self.sandbox, "volume_gb", 0) or 0)
        if not limit:
            return ""
        used = _folder_bytes(self.job_dir)
        if used <= limit * 1024 ** 3:
            return ""
        return (f"ClientError: the training job wrote {used / 1024 ** 3:.2f} GB to its storage volume, more than "
                f"its ResourceConfig.VolumeSizeInGB of {limit} GB. Ask for a larger VolumeSizeInGB, or write "
                f"less under /opt/ml.")

    def train(self, cmd, env, cwd, feeders) -> int:
        self.status.transition("Training")
        self.status.set(training_start=time.time())
        for f in feeders:
            f.start()
        launch = self._isolated(cmd, cwd)  # failure reasons still name the program's own command
        try:
            # Its own process group (so a stop signalled to ours reaches it once, through us), and SIGKILL
            # when we die (so a killed executor leaves no orphan training program behind).
            self.proc = subprocess.Popen(launch, cwd=str(cwd), env=env, stdin=subprocess.DEVNULL,
                                         stderr=subprocess.PIPE, process_group=0,
                                         preexec_fn=die_with_parent_hook(),
                                         pass_fds=self.launch.pass_fds if self.launch is not None else ())
        except OSError as e:
            if self.launch is not None:
                self.launch.started(None)  # nothing started: just close the pipe
                self.launch.finish()
            return self.fail(f"AlgorithmError: cannot start the training program {cmd[0]!r}: {e}")
        if self.launch is not None:
            self.launch.started(self.proc.pid)  # into the job's cgroup (limits), then the launcher goes on
        if self.stop_reason:  # SIGTERM arrived while we were starting it
            self._on_term(signal.SIGTERM, None)
        tee = threading.Thread(target=self._tee_stderr, args=(self.proc.stderr,), daemon=True)
        tee.start()
        if self.debug is not None:
            self.debug.start()
        sync = self._start_checkpoint_sync()
        waiter = ExitWaiter(self.proc)
        volume_check, volume_reason = 0.0, ""
        while True:
            rc = waiter.wait(0.2)
            if rc is not None:
                break
            now = time.monotonic()
            if not volume_reason and now >= volume_check:  # a watched limit: checked every few seconds
                volume_check = now + _or(self.job.volume_check_interval, 2.0)
                volume_reason = self._volume_exceeded()
                if volume_reason and self.kill_at is None:
                    self.proc.send_signal(signal.SIGTERM)
                    self.kill_at = now + min(self.grace, 5.0)
            if self.stop_reason == "Stopped" and self.status.data.get("secondary") != "Stopping":
                self.status.transition("Stopping")  # recorded here: a signal handler must not take locks
            if self.stop_reason is None and now >= self.deadline:
                self.stop_reason = "MaxRuntimeExceeded"
                self._on_term(signal.SIGTERM, None)
            if self.kill_at is not None and now >= self.kill_at:
                self._kill_program_group()
        self._kill_program_group()  # whatever the program left running ends with it
        tee.join(timeout=5)
        if self.debug is not None:
            self.debug.finish()  # the last tensors and training_job_end.ts, whatever the outcome
        if sync is not None:
            sync.set()
        self.status.set(training_end=time.time(), exit_code=rc)
        out_of_memory = self.launch.finish() if self.launch is not None else False
        if self.stop_reason:
            return self.finish_stopped(upload=True)
        if volume_reason:
            return self.fail(volume_reason)
        if rc != 0 and out_of_memory:
            from ..runners.sandbox import out_of_memory_reason

            return self.fail(out_of_memory_reason(self.sandbox))
        if rc != 0:
            return self.fail(self._failure_reason(cmd, rc, feeders))
        return self.finish_completed()

    def _start_checkpoint_sync(self) -> threading.Event | None:
        uri = (self.req.get("CheckpointConfig") or {}).get("S3Uri")
        if not uri:
            return None
        from .packing import sync_checkpoints

        done = threading.Event()
        interval = _or(self.job.checkpoint_interval, 10.0)

        def loop():
            while not done.wait(interval):
                try:
                    sync_checkpoints(self.store, self._checkpoint_local(), uri)
                except Exception as e:  # noqa: BLE001 - retried next round and at the end
                    _log(f"checkpoint sync failed: {e}")

        threading.Thread(target=loop, name="checkpoint-sync", daemon=True).start()
        return done

    # --- outcomes ---
    def upload(self, include_output: bool = True, transition: bool = True) -> None:
        from . import packing

        out = self.req["OutputDataConfig"]
        if transition:
            self.status.transition("Uploading")
        ckpt = (self.req.get("CheckpointConfig") or {}).get("S3Uri")
        if ckpt:
            packing.sync_checkpoints(self.store, self._checkpoint_local(), ckpt)
        if len(self.hosts) > 1 and self.host_index > 0:  # a worker host: algo-1 merges our model/ into its own
            from .hosts import upload_model_part

            upload_model_part(self.store, self.layout.model, self._parts_uri(), self.current_host)
            return
        model_dir = self.layout.model
        if len(self.hosts) > 1:
            from .hosts import merge_model_parts

            model_dir = merge_model_parts(self.store, self.layout.model, self._parts_uri(), self.hosts, self.job_dir / "merged-model", log=_log,
                                          give_up=lambda: self.stop_reason is not None or
                                          time.monotonic() > self.deadline + self.grace)
        artifacts = packing.upload_model(self.store, model_dir, out["S3OutputPath"], self.name,
                                         out.get("CompressionType", "GZIP"))
        self.status.set(model_artifacts=artifacts)
        if include_output:
            data = packing.upload_output_data(self.store, self.layout.output_data, out["S3OutputPath"], self.name)
            if data:
                self.status.set(output_data=data)

    def _parts_uri(self) -> str:
        """Where worker hosts leave their model/ for algo-1 to merge (per attempt: a retry starts clean)."""
        from .packing import join_uri

        return join_uri(self.req["OutputDataConfig"]["S3OutputPath"], self.name, "output", ".shipyard-hosts",
                        f"attempt-{int(self.job.attempt)}")

    def finish_completed(self) -> int:
        try:
            self.upload()
        except Exception as e:  # noqa: BLE001
            return self.fail(f"InternalServerError: uploading the training results failed: {e}")
        (self.layout.output / "success").touch()
        self.wipe_volume()
        self.status.finish("Completed", "Completed")
        return 0

    def finish_stopped(self, upload: bool) -> int:
        if self.stop_reason == "Stopped":
            self.status.transition("Stopping")  # a stopped job uploads its model while Stopping
        if upload:
            try:
                self.upload(include_output=False, transition=self.stop_reason != "Stopped")
            except Exception as e:  # noqa: BLE001 - a stopped job stays stopped; say what went wrong
                _log(f"uploading the model of the stopped job failed: {e}")
        secondary = self.stop_reason if self.stop_reason == "MaxRuntimeExceeded" else "Stopped"
        self.wipe_volume()
        self.status.finish("Stopped", secondary, stop_reason=self.stop_reason)
        return 0

    def wipe_volume(self) -> None:
        """A job with ``VolumeKmsKeyId`` keeps no plaintext data at rest once it ends: its inputs, model, output
        data, code and checkpoints are deleted from the job folder after the uploads, before its final status (its
        results are in S3, encrypted under ``OutputDataConfig.KmsKeyId`` when given); the status, logs and failure
        file stay. While it runs the folder is plaintext on the host's disk: docs/kms.md says to put the home on
        an encrypted file system for that."""
        if not (self.req.get("ResourceConfig") or {}).get("VolumeKmsKeyId"):
            return
        layout = self.layout
        folders = [layout.data, layout.model, layout.output_data, layout.intermediate, layout.code,
                   layout.checkpoints]
        try:
            folders.append(self._checkpoint_local())
        except Exception:  # noqa: BLE001 - a refused LocalPath made no folder
            pass
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        _log("VolumeKmsKeyId: the job's data, model and checkpoints were deleted from its folder")

    def fail(self, reason: str) -> int:
        self.wipe_volume()
        self.status.finish("Failed", "Failed", failure_reason=reason[:FAILURE_LIMIT])
        _log(reason)
        return 1

    def _reason_for(self, e: Exception) -> str:
        from ..errors import S3Error, ValidationError
        from .script import ScriptError

        if isinstance(e, ScriptError):
            text = str(e)
            return text if text.startswith(("ClientError", "AlgorithmError")) else f"ClientError: {text}"
        if isinstance(e, (S3Error, ValidationError, ValueError)):  # the job's inputs are at fault
            return f"ClientError: {getattr(e, 'message', None) or e}"
        return f"InternalServerError: {type(e).__name__}: {e}"

    def _failure_reason(self, cmd: list[str], rc: int, feeders) -> str:
        failure = self.layout.output / "failure"
        try:
            text = failure.read_text(errors="replace").strip()
        except OSError:
            text = ""
        if text:
            return text if text.startswith(("ClientError", "AlgorithmError")) else f"AlgorithmError: {text}"
        lines = [ln for ln in self.stderr_tail if ln.strip()]
        message = "\n".join(lines[-6:]) if lines else "(no output on stderr)"
        for f in feeders:
            if f.error is not None:
                message += f"\nPipe-mode channel {f.base.name}: {f.error}"
        exit_text = f"killed by signal {-rc}" if rc < 0 else f"exit code: {rc}"
        reason = (f"AlgorithmError: ExecuteUserScriptError:\nExitCode {rc}\nErrorMessage \"{message}\"\n"
                  f"Command \"{' '.join(cmd)}\", {exit_text}")
        if len(reason) > FAILURE_LIMIT:  # keep the end: the error is on the last lines
            head = "AlgorithmError: ExecuteUserScriptError: ..."
            reason = head + reason[-(FAILURE_LIMIT - len(head)):]
        return reason


def _or(value: float | None, default: float) -> float:
    return float(default if value is None else value)


def _folder_bytes(root: Path) -> int:
    """Bytes the files under ``root`` take on disk (symbolic links not followed): the watched volume."""
    total, stack = 0, [str(root)]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except OSError:
            continue
        with entries:
            for e in entries:
                try:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(e.path)
                    elif e.is_file(follow_symlinks=False):
                        total += e.stat(follow_symlinks=False).st_blocks * 512
                except OSError:
                    continue
    return total


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m shipyard.training.executor <job-dir>\n")
        return 2
    job_dir = Path(argv[0]).resolve()
    job = TrainingJobFile.read(job_dir)
    from ..io import archives

    archives.configure(archives.Caps.from_json(job.archive_caps))  # the server's caps, not our environment
    return Executor(job_dir, job).run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
