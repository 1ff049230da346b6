"""Script mode, as the SageMaker training toolkit runs a framework job's entry point.

The code comes from ``sagemaker_submit_directory`` (``sourcedir.tar.gz`` in S3, or a local path/``file://``
URL, which the SDK's local mode uses), unpacked into ``code/``. A ``requirements.txt`` is installed with
``pip install --target code/.deps`` run in ``code/`` (relative paths in it are relative to the code, as
with the toolkit; the folder is added to ``PYTHONPATH``), so the job's packages never touch the
server's environment. Launch rules: ``*.sh`` -> ``./entry args`` run by ``/bin/sh`` (the entry point and the
arguments are passed as arguments, never pasted into the shell's command text); a code folder with
``setup.py`` -> ``python -m <module> args``; otherwise ``python <entry> args``. The entry point must name a
file inside the code folder (:func:`shipyard.domain.paths.safe_join`), or, with ``setup.py``, a module name.

``python`` is the framework image's environment (:func:`interpreter`, see :mod:`shipyard.environments`): a
venv with the framework at the image's version and AWS's toolkits, built on first use; requirements are
installed with that interpreter's pip.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from ..domain.paths import safe_join
from ..errors import ArchiveRefused, UnsafePath
from ..io.archives import safe_extract
from ..objectstore.base import ObjectStore
from .packing import fetch_to_file


class ScriptError(Exception):
    """The user's code could not be prepared (missing entry point, pip failure); the message says why."""


def entry_point(hyperparameters: dict[str, str], environment: dict[str, str]) -> tuple[str, str]:
    """(entry point, submit directory) from the framework hyperparameters or the SAGEMAKER_* variables."""
    from ..runners.contract import decode_value

    entry = hyperparameters.get("sagemaker_program")
    entry = decode_value(entry) if entry is not None else environment.get("SAGEMAKER_PROGRAM", "")
    submit = hyperparameters.get("sagemaker_submit_directory")
    submit = decode_value(submit) if submit is not None else environment.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    return str(entry or ""), str(submit or "")


RUN_KINDS = ("training", "transform", "endpoints", "processing")  # the folders under <home>/runs


def home_of(job_dir: Path) -> Path | None:
    """The Shipyard home a job folder lies in (``<home>/runs/training/<job>[/attempt-N/<host>]``), if any.
    A ``runs`` folder counts only when a run kind follows it: a job may itself be named ``runs``."""
    path = Path(job_dir).resolve()
    for parent in path.parents:
        if parent.name == "runs" and path.relative_to(parent).parts[0] in RUN_KINDS:
            return parent.parent
    return None


def interpreter(image: str, job_dir: Path, log=print) -> str:
    """The Python that runs the job's code: the image's environment (built on first use, the steps logged
    into the job's log), or the server's own where the image has none or it cannot be built."""
    from ..environments import EnvironmentError_, ensure_for_image

    try:
        return ensure_for_image(image, home_of(job_dir), log).python
    except EnvironmentError_ as e:  # SHIPYARD_ENVIRONMENTS=strict
        raise ScriptError(f"The environment of image {image} could not be built: {e}") from None


def prepare_code(store: ObjectStore, submit_dir: str, code_dir: Path, log=print, python: str = sys.executable) -> None:
    """Fetch and unpack the user's code into ``code_dir``; install its requirements."""
    code_dir.mkdir(parents=True, exist_ok=True)
    if submit_dir:
        local = Path(submit_dir[len("file://"):] if submit_dir.startswith("file://") else submit_dir)
        if not submit_dir.startswith("s3://") and local.is_dir():
            import shutil

            shutil.copytree(local, code_dir, dirs_exist_ok=True)
        else:
            archive = fetch_to_file(store, submit_dir, code_dir.parent / "sourcedir.tar.gz")
            try:
                safe_extract(archive, code_dir, what=f"sagemaker_submit_directory archive {submit_dir}")
            except ArchiveRefused as e:
                raise ScriptError(e.message) from None
            archive.unlink(missing_ok=True)
    requirements = code_dir / "requirements.txt"
    if requirements.exists():
        log(f"Installing requirements from {requirements}")
        proc = subprocess.run([python, "-m", "pip", "install", "--disable-pip-version-check", "-q",
                               "--target", str(code_dir / ".deps"), "-r", str(requirements)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=str(code_dir))
        sys.stdout.write(proc.stdout)
        if proc.returncode != 0:
            tail = "\n".join(proc.stdout.strip().splitlines()[-5:])
            raise ScriptError(f"InstallRequirementsError: pip install -r requirements.txt failed with exit "
                              f"code {proc.returncode}:\n{tail}")


def python_path(code_dir: Path, existing: str = "") -> str:
    parts = [str(code_dir)]
    if (code_dir / ".deps").is_dir():
        parts.append(str(code_dir / ".deps"))
    if existing:
        parts.append(existing)
    return ":".join(parts)


# A module name for ``python -m`` (a code folder with setup.py): dotted identifiers, nothing else.
_MODULE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
# ``sh -c`` runs "$0" with "$@": the entry point and the arguments reach the shell as values, never as code.
_RUN_AS_SCRIPT = '"$0" "$@"'


def command(entry: str, code_dir: Path, args: list[str], python: str = sys.executable) -> list[str]:
    """The argv that runs ``entry`` (never a command line a shell parses: names and arguments stay values)."""
    if not entry:
        raise ScriptError("No entry point: set the 'sagemaker_program' hyperparameter (or SAGEMAKER_PROGRAM).")
    if (code_dir / "setup.py").exists() and not entry.endswith((".py", ".sh")):
        if not _MODULE.fullmatch(entry):
            raise ScriptError(f"The entry point {entry!r} (sagemaker_program) is not a module name or a file "
                              "name in the code folder.")
        return [python, "-m", entry, *args]
    try:
        path = safe_join(code_dir, entry, what="entry point (sagemaker_program)")
    except UnsafePath as e:
        raise ScriptError(e.message) from None
    if entry.startswith("-"):
        raise ScriptError(f"The entry point {entry!r} (sagemaker_program) must not start with '-'.")
    if not path.exists():
        raise ScriptError(f"The entry point {entry!r} was not found in the code folder "
                          f"(sagemaker_submit_directory); files there: "
                          f"{', '.join(sorted(p.name for p in code_dir.iterdir())[:20]) or 'none'}.")
    if entry.endswith(".sh"):  # as the toolkit does: made executable, run as ./entry (its #! line decides)
        path.chmod(path.stat().st_mode | 0o111)
        return ["/bin/sh", "-c", _RUN_AS_SCRIPT, "./" + entry, *args]
    return [python, entry, *args]


# --- TensorFlow: what SageMaker's TensorFlow training container does around the entry point ---------------
# (sagemaker-tensorflow-training's training.py). The executor calls :func:`tensorflow_launch` for a job of a
# tensorflow-training image, after :func:`command`.

# The parameter server of one host: a tf.distribute.Server for the "ps" task, kept on the CPU as the container
# does. Run with the job's interpreter (it has TensorFlow; Shipyard need not be importable there).
_TF_PS_SERVER = """
import json, os
import tensorflow as tf
cfg = json.loads(os.environ["SHIPYARD_TF_PS_CONFIG"])
server = tf.distribute.Server(tf.train.ClusterSpec(cfg["cluster"]), job_name="ps",
                              task_index=cfg["task"]["index"],
                              config=tf.compat.v1.ConfigProto(device_count={"GPU": 0}))
print("parameter server", cfg["task"]["index"], "serving", server.target, flush=True)
server.join()
"""

# The launcher of a parameter-server job on each host (standard library only): start this host's parameter
# server, run the entry point as master (algo-1) or worker, then, on a worker, wait until the master is down
# (as the container's _wait_until_master_is_down), stop the parameter server and exit with the entry point's
# status. argv: <ps config json> <master host:port> <is master 0/1> -- <entry point command...>
_TF_PS_LAUNCHER = """
import os, socket, subprocess, sys, time
ps_config, master, is_master, sep, *cmd = sys.argv[1:]
ps = subprocess.Popen([sys.executable, "-c", os.environ.pop("SHIPYARD_TF_PS_SERVER")],
                      env={**os.environ, "SHIPYARD_TF_PS_CONFIG": ps_config})
try:
    rc = subprocess.call(cmd)
    host, _, port = master.rpartition(":")
    while is_master != "1":
        try:
            socket.create_connection((host, int(port)), timeout=2).close()
        except OSError:
            print("master", master, "is down, stopping the parameter server", flush=True)
            break
        print("master", master, "is still up, waiting for it to exit", flush=True)
        time.sleep(2)
finally:
    ps.terminate()
    try:
        ps.wait(10)
    except subprocess.TimeoutExpired:
        ps.kill()
sys.exit(rc)
"""


def tensorflow_model_dir(cmd: list[str], model_dir: Path, base: Path) -> list[str]:
    """The entry point's ``--model_dir`` made a local folder. The SDK's ``TensorFlow`` estimator passes the
    ``s3://<output>/<job>/model`` URI, which TensorFlow 2 cannot write without tensorflow-io (the container
    configures TF's S3 file system instead): an ``s3://`` value becomes ``SM_MODEL_DIR`` (what is written there
    ends up in model.tar.gz, as with the SDK's own MPI default ``/opt/ml/model``), and an ``/opt/ml/...`` value
    the same folder of the job's stand-in for ``/opt/ml``."""
    out = list(cmd)
    for i, arg in enumerate(out[:-1]):
        if arg not in ("--model_dir", "--model-dir"):
            continue
        value = out[i + 1]
        if value.startswith("s3://"):
            out[i + 1] = str(model_dir)
        elif value == "/opt/ml" or value.startswith("/opt/ml/"):
            out[i + 1] = str(base / value[len("/opt/ml"):].lstrip("/"))
    return out


def tensorflow_launch(cmd: list[str], framework: dict, layout, hosts: list[str], current_host: str,
                      addresses: dict[str, str], base_port: int, python: str = sys.executable
                      ) -> tuple[list[str], dict[str, str]]:
    """(command, extra environment) of a TensorFlow job: a local ``--model_dir``, ``TF_CONFIG`` for
    ``distribution={"multi_worker_mirrored_strategy"|"parameter_server": {"enabled": True}}``, and with
    parameter servers a launcher that starts this host's ``ps`` task beside the entry point."""
    import json

    from ..runners import contract

    cmd = tensorflow_model_dir(cmd, layout.model, layout.base)
    env = contract.tensorflow_environment(framework, hosts, current_host, addresses, base_port)
    if contract.tensorflow_distribution(framework, len(hosts)) != "parameter_server":
        return cmd, env
    hosts = sorted(hosts)
    ps_config = contract.tensorflow_tf_config("parameter_server", hosts, current_host, addresses, base_port,
                                              ps_task=True)
    master = ps_config["cluster"]["master"][0]
    env["SHIPYARD_TF_PS_SERVER"] = _TF_PS_SERVER
    return [python, "-c", _TF_PS_LAUNCHER, json.dumps(ps_config), master,
            "1" if current_host == hosts[0] else "0", "--", *cmd], env
