"""``smspark-submit`` on one machine: the entrypoint of SageMaker's Spark processing images, for Shipyard.

    python -m shipyard.processing.spark_submit [--class C] [--jars J] [--py-files P] [--files F]
        [--local-spark-event-logs-dir D] [--spark-event-logs-s3-uri S3] [-v] APP [APP_ARGS...]

The SageMaker SDK's ``PySparkProcessor`` / ``SparkJarProcessor`` start a processing job of the
``sagemaker-spark-processing`` image whose ``ContainerEntrypoint`` is ``smspark-submit`` with these options and
the application under ``/opt/ml/processing/input/code/``; ``ContainerArguments`` follow as the application's
arguments. AWS's program (aws/sagemaker-spark-container, ``smspark/cli.py`` and ``job.py``) writes the user's
EMR-style ``configuration.json`` into Hadoop/Spark files, starts YARN across the job's hosts and runs
``spark-submit --master yarn`` on the primary. This one does the same on one machine, with the ``pyspark``
package's own ``spark-submit`` in local mode:

- the master is ``local[N]``, N the job's CPUs (its instance type's vCPUs, at most this machine's cores); the
  driver's memory is half the instance's memory (at most half this machine's, at least 1 GiB);
- ``/opt/ml/processing/input/conf/configuration.json`` becomes ``--conf`` pairs, environment variables and a
  private ``SPARK_CONF_DIR`` (:mod:`.spark_config` says which classification goes where);
- ``--jars``/``--py-files``/``--files`` may name folders (expanded to their files, as AWS's does) and S3 URIs
  (downloaded with the job's own credentials: local Spark has no S3 file system);
- ``--local-spark-event-logs-dir`` turns Spark's event log on there (the SDK uploads that folder as a
  ``Continuous`` output for its history server); ``--spark-event-logs-s3-uri`` uploads the log at the end;
- the driver binds to loopback (a job with network isolation has nothing else) and the live UI is off unless
  the configuration turns it on (``spark.ui.enabled``).

Multi-instance jobs (``InstanceCount > 1``): the application runs in local mode on the primary host (the first
of the sorted ``hosts`` in resourceconfig.json, ``algo-1``); the other hosts log that and exit 0, so the job
still completes as one. Spark reads its data through the processing inputs or its own I/O, so nothing is lost;
only the parallelism of the other hosts is (a Spark standalone cluster across them is left for later).

spark-submit's output passes through, and its exit status is this program's. When it fails and the
application did not write ``/opt/ml/output/message`` itself, the last error line of its output goes there,
which becomes the job's ``ExitMessage``. Where the job has no real ``/opt/ml`` (a runner without a mount
namespace), paths under it resolve to ``$SAGEMAKER_BASE_DIR`` or the job folder the program starts in.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Callable, Deque, TextIO
from urllib.parse import urlparse

from .spark_config import ConfigurationError, parse, settings

OPT_ML = Path("/opt/ml")
CONFIGURATION = "processing/input/conf/configuration.json"
RESOURCE_CONFIGS = ("config/resourceconfig.json", "input/config/resourceconfig.json")
PROCESSING_JOB_CONFIG = "config/processingjobconfig.json"
MESSAGE_FILE = "output/message"
MIN_DRIVER_MB = 1024
TAIL_LINES = 200
STOP_GRACE = 20.0
FAILED = 1  # the exit status when spark-submit cannot be started (bad options, configuration, no Java)
JAVA_HINT = ("Spark needs a Java runtime (17 or later) on the machine that runs the job: install Debian's "
             "default-jre-headless, e.g. `python scripts/spark_setup.py`, or set JAVA_HOME.")
PYSPARK_HINT = "Spark jobs need the pyspark package in the server's Python: pip install 'shipyard[spark]'."


class SubmitError(RuntimeError):
    """The application cannot be submitted; the message (the job's ExitMessage) says why and what to do."""


def _log(message: str) -> None:
    print(f"smspark-submit: {message}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- the job's view


@dataclass
class JobView:
    """What this program knows of its job: where ``/opt/ml`` is, which host it is, what the instance is."""

    opt_ml: Path
    current_host: str = "algo-1"
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])
    instance_type: str = ""

    def path(self, container_path: str | Path) -> Path:
        """A path the job was given (``/opt/ml/...``) as this process sees it."""
        p = Path(container_path)
        if self.opt_ml != OPT_ML and (p == OPT_ML or OPT_ML in p.parents):
            return self.opt_ml / p.relative_to(OPT_ML)
        return p

    @property
    def primary(self) -> str:
        """The host that runs the application (AWS's smspark: the first of the sorted hosts)."""
        return sorted(self.hosts)[0] if self.hosts else self.current_host


def opt_ml_root(environ: dict[str, str] | os._Environ[str] = os.environ, cwd: Path | None = None) -> Path:
    """``/opt/ml`` when the job sees it (its sandbox mounts it), else ``$SAGEMAKER_BASE_DIR``, else the working
    folder when it is a job's folder (the processing executor starts the program there)."""
    if any((OPT_ML / name).exists() for name in ("config", "processing")):
        return OPT_ML
    base = environ.get("SAGEMAKER_BASE_DIR")
    if base:
        return Path(base)
    here = Path(cwd or os.getcwd())
    return here if (here / PROCESSING_JOB_CONFIG).exists() else OPT_ML


def read_job(root: Path) -> JobView:
    """The job's hosts and instance type from resourceconfig.json / processingjobconfig.json (defaults: one
    host, ``algo-1``, unknown type, as AWS's program assumes when they are missing)."""
    view = JobView(opt_ml=root)
    for rel in RESOURCE_CONFIGS:
        cfg = _read_json(root / rel)
        if isinstance(cfg, dict):
            view.current_host = str(cfg.get("current_host") or view.current_host)
            view.hosts = [str(h) for h in cfg.get("hosts") or [view.current_host]]
            view.instance_type = str(cfg.get("current_instance_type") or "")
            break
    job = _read_json(root / PROCESSING_JOB_CONFIG)
    if isinstance(job, dict) and not view.instance_type:
        cluster = (job.get("ProcessingResources") or {}).get("ClusterConfig") or {}
        view.instance_type = str(cluster.get("InstanceType") or "")
    return view


def _read_json(path: Path) -> object:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def machine_cpus() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def machine_memory_mb() -> int:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        return int(pages * size // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return 0


def job_cpus(instance_type: str, available: int) -> int:
    """Spark's local threads: the instance type's vCPUs, at most ``available``; ``available`` if unknown."""
    if instance_type:
        from ..instance_types import instance_resources

        try:
            return max(1, min(available, int(instance_resources(instance_type).cpus)))
        except (ValueError, KeyError):
            pass
    return available


def driver_memory_mb(instance_type: str, machine_mb: int) -> int:
    """Half the instance's memory (the rest is Python workers and the OS), at most half the machine's."""
    want = 0
    if instance_type:
        from ..instance_types import instance_resources

        try:
            want = instance_resources(instance_type).memory_mb // 2
        except (ValueError, KeyError):
            want = 0
    if machine_mb:
        want = min(want, machine_mb // 2) if want else machine_mb // 2
    return max(MIN_DRIVER_MB, want)


# ------------------------------------------------------------------------------------------- files and S3 URIs


def s3_fetcher(dest: Path) -> Callable[[str], list[Path]]:
    """Downloads ``s3://bucket/key`` (an object, or every object under a prefix) into ``dest`` with the job's
    own AWS_* variables (its key and the server's endpoint); returns the local files."""
    counter = [0]

    def fetch(uri: str) -> list[Path]:
        import boto3
        from botocore.config import Config

        parsed = urlparse(uri)
        bucket, key = parsed.netloc, parsed.path.lstrip("/")
        client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
        counter[0] += 1
        folder = dest / str(counter[0])
        out: list[Path] = []
        try:
            keys = [key] if key and not key.endswith("/") and _exists(client, bucket, key) else [
                obj["Key"] for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key)
                for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
            for k in keys:
                local = folder / (Path(k).name if len(keys) == 1 else k[len(key):].lstrip("/"))
                local.parent.mkdir(parents=True, exist_ok=True)
                client.download_file(bucket, k, str(local))
                out.append(local)
        except Exception as e:  # noqa: BLE001 - any client error becomes the job's message
            raise SubmitError(f"could not download {uri}: {e}") from e
        if not out:
            raise SubmitError(f"{uri} names no object (nothing under that prefix)")
        return out

    return fetch


def _exists(client, bucket: str, key: str) -> bool:
    try:
        client.head_object(Bucket=bucket, Key=key)
        return True
    except Exception:  # noqa: BLE001 - a 404 (or 403 on a prefix): treat it as a prefix
        return False


def expand_files(value: str, view: JobView, fetch: Callable[[str], list[Path]], option: str) -> str:
    """A comma-separated ``--jars``/``--py-files``/``--files`` value as spark-submit wants it: local files only,
    a folder replaced by its files (recursively, as AWS's does), S3 URIs downloaded."""
    out: list[str] = []
    for item in (v.strip() for v in value.split(",")):
        if not item:
            continue
        parsed = urlparse(item)
        if parsed.scheme in ("s3", "s3a"):
            out.extend(str(p) for p in fetch(item))
            continue
        if parsed.scheme not in ("", "file"):
            raise SubmitError(f"{option} {item}: only local paths and s3:// URIs can be used here")
        path = view.path(parsed.path if parsed.scheme == "file" else item)
        if not path.is_absolute():
            raise SubmitError(f"{option} {item}: give an absolute path to a file or a folder")
        if path.is_dir():
            files = sorted(str(p) for p in path.rglob("*") if p.is_file())
            if not files:
                raise SubmitError(f"{option} {item}: the folder holds no file")
            out.extend(files)
        elif path.is_file():
            out.append(str(path))
        else:
            raise SubmitError(f"{option} {item}: no such file or folder")
    return ",".join(out)


def upload_folder(folder: Path, uri: str) -> None:
    import boto3
    from botocore.config import Config

    parsed = urlparse(uri)
    prefix = parsed.path.strip("/")
    client = boto3.client("s3", config=Config(s3={"addressing_style": "path"}))
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        key = "/".join(x for x in (prefix, str(path.relative_to(folder))) if x)
        client.upload_file(str(path), parsed.netloc, key)


# ------------------------------------------------------------------------------------------------- the command


def spark_home() -> Path:
    """The pyspark package's Spark (``bin/spark-submit`` and the jars), or ``$SPARK_HOME``."""
    try:
        from pyspark.find_spark_home import _find_spark_home
    except ImportError as e:
        home = os.environ.get("SPARK_HOME")
        if home and (Path(home) / "bin" / "spark-submit").exists():
            return Path(home)
        raise SubmitError(PYSPARK_HINT) from e
    return Path(_find_spark_home())


def java_binary(environ: dict[str, str] | os._Environ[str] = os.environ) -> str | None:
    home = environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


@dataclass
class Submission:
    """A spark-submit command line, its environment, the files of its SPARK_CONF_DIR and notes for the log."""

    command: list[str]
    env: dict[str, str]
    files: dict[str, str]
    notes: list[str]


def build(opts: argparse.Namespace, view: JobView, work: Path, spark: Path,
          fetch: Callable[[str], list[Path]], cpus: int, memory_mb: int) -> Submission:
    """The spark-submit call for parsed smspark-submit options."""
    conf = {
        "spark.driver.host": "127.0.0.1",
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.driver.memory": f"{memory_mb}m",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(work / "spark-warehouse"),
    }
    env = {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_HOME": str(spark),
           "PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    notes: list[str] = []
    files: dict[str, str] = {}
    event_dir = opts.local_spark_event_logs_dir
    if event_dir or opts.spark_event_logs_s3_uri:
        local = view.path(event_dir) if event_dir else work / "spark-events"
        local.mkdir(parents=True, exist_ok=True)
        # uncompressed, as Spark 3's default: a history server of any Spark version reads it
        conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": local.resolve().as_uri(),
                     "spark.eventLog.compress": "false"})
    cfg_path = view.path(OPT_ML / CONFIGURATION)
    if cfg_path.exists():
        try:
            document = json.loads(cfg_path.read_text())
        except ValueError as e:
            raise SubmitError(f"{OPT_ML / CONFIGURATION} is not JSON ({e})") from e
        try:
            wanted = settings(parse(document))
        except ConfigurationError as e:
            raise SubmitError(f"{OPT_ML / CONFIGURATION}: {e}") from e
        conf.update(wanted.conf)
        env.update(wanted.env)
        files.update(wanted.files)
        notes.extend(wanted.notes)
        notes.extend(f"configuration {item}; ignored" for item in wanted.ignored)
    cmd = [str(spark / "bin" / "spark-submit"), "--master", f"local[{cpus}]"]
    for key, value in conf.items():
        cmd += ["--conf", f"{key}={value}"]
    if opts.class_:
        cmd += ["--class", opts.class_]
    for option, value in (("--jars", opts.jars), ("--py-files", opts.py_files), ("--files", opts.files)):
        if value:
            cmd += [option, expand_files(value, view, fetch, option)]
    if opts.verbose:
        cmd.append("--verbose")
    cmd.append(str(view.path(opts.app)))
    cmd.extend(opts.app_arguments)
    return Submission(cmd, env, files, notes)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="smspark-submit", description=__doc__.split("\n\n")[0])
    p.add_argument("--class", dest="class_", help="the application's main class (a JAR application)")
    p.add_argument("--jars", help="comma-separated jars, folders or S3 URIs for the driver and executors")
    p.add_argument("--py-files", help="comma-separated .py/.zip/.egg files, folders or S3 URIs for PYTHONPATH")
    p.add_argument("--files", help="comma-separated files, folders or S3 URIs for the working directory")
    p.add_argument("--spark-event-logs-s3-uri", help="upload Spark's event log here when the job ends")
    p.add_argument("--local-spark-event-logs-dir", help="write Spark's event log to this folder")
    p.add_argument("-v", "--verbose", action="store_true", help="spark-submit --verbose")
    p.add_argument("app", help="the application: a .py file or a JAR")
    p.add_argument("app_arguments", nargs=argparse.REMAINDER, help="passed to the application as they are")
    return p


# ----------------------------------------------------------------------------------------------------- running


def _last_error(lines: Deque[str]) -> str:
    """The line that says what went wrong: a Python exception's last line, else an ERROR/Exception line."""
    for pattern in (r"^[\w.]+(Error|Exception)(: .*)?$", r"\b(ERROR|Exception|Error)\b"):
        for line in reversed(lines):
            if re.search(pattern, line.strip()):
                return line.strip()[:1000]
    return ""


def _pump(stream: IO[bytes], out: TextIO, tail: Deque[str]) -> None:
    """Copies one of spark-submit's streams to ours line by line, keeping the last lines."""
    sink = out.buffer
    for raw in iter(stream.readline, b""):
        sink.write(raw)
        sink.flush()
        tail.append(raw.decode("utf-8", "replace").rstrip("\n"))


@dataclass
class Outcome:
    status: int
    last_error: str  # what went wrong, from the end of its output ("" when nothing looked like an error)
    stopped: bool = False  # this program was told to stop (StopProcessingJob, MaxRuntimeInSeconds)


def run(submission: Submission, conf_dir: Path) -> Outcome:
    """Runs spark-submit; its output passes through (the tail of both streams is kept for the failure message)."""
    env = dict(os.environ)
    env.update(submission.env)
    if submission.files:
        conf_dir.mkdir(parents=True, exist_ok=True)
        for name, text in submission.files.items():
            (conf_dir / name).write_text(text)
        env["SPARK_CONF_DIR"] = str(conf_dir)
    tail: Deque[str] = collections.deque(maxlen=TAIL_LINES)
    proc = subprocess.Popen(submission.command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    stopped = threading.Event()

    def forward(signum, _frame) -> None:
        stopped.set()
        _log(f"signal {signum}: stopping spark-submit")
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGTERM, signal.SIGINT)}
    # Both streams are read: the Python driver's traceback reaches the JVM's stdout (PythonRunner redirects it)
    readers = [threading.Thread(target=_pump, args=(stream, out, tail), name=f"spark-{name}", daemon=True)
               for name, stream, out in (("stdout", proc.stdout, sys.stdout), ("stderr", proc.stderr, sys.stderr))]
    for reader in readers:
        reader.start()
    try:
        rc = proc.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    for reader in readers:
        reader.join(timeout=STOP_GRACE)
    # killed by a signal: the shell's 128+N
    return Outcome(128 - rc if rc < 0 else rc, _last_error(tail), stopped.is_set())


_SECRET = re.compile(r"(secret|password|credential|token|access\.key)", re.IGNORECASE)


def shown(command: list[str]) -> list[str]:
    """The command for the log, with the values of secret-looking ``--conf`` keys masked."""
    out = []
    for word in command:
        key, eq, _ = word.partition("=")
        out.append(f"{key}=****" if eq and _SECRET.search(key) else word)
    return out


def _write_message(view: JobView, text: str) -> None:
    """The job's ExitMessage, unless the application wrote one."""
    path = view.path(OPT_ML / MESSAGE_FILE)
    try:
        if path.exists() and path.read_text().strip():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text[:1024])
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    opts = parser().parse_args(argv)
    view = read_job(opt_ml_root())
    if view.current_host != view.primary:
        _log(f"{view.current_host}: Shipyard runs the Spark application in local mode on the primary host "
             f"{view.primary} only; this host has nothing to do.")
        return 0
    work = Path(tempfile.mkdtemp(prefix="smspark-"))
    try:
        try:
            if java_binary() is None:
                raise SubmitError(f"no `java` found. {JAVA_HINT}")
            spark = spark_home()
            cpus = job_cpus(view.instance_type, machine_cpus())
            submission = build(opts, view, work, spark, s3_fetcher(work / "deps"), cpus,
                               driver_memory_mb(view.instance_type, machine_memory_mb()))
        except SubmitError as e:
            _log(str(e))
            _write_message(view, f"smspark-submit: {e}")
            return FAILED
        for note in submission.notes:
            _log(note)
        _log(f"running {' '.join(shown(submission.command))}")
        outcome = run(submission, work / "conf")
        rc = outcome.status
        if rc != 0 and not outcome.stopped:
            _write_message(view, f"spark-submit exited with status {rc}"
                           + (f": {outcome.last_error}" if outcome.last_error else ""))
        if opts.spark_event_logs_s3_uri:
            events = view.path(opts.local_spark_event_logs_dir) if opts.local_spark_event_logs_dir else (
                work / "spark-events")
            try:
                upload_folder(events, opts.spark_event_logs_s3_uri)
            except Exception as e:  # noqa: BLE001 - the application's outcome stands; the log says what failed
                _log(f"could not upload the event log to {opts.spark_event_logs_s3_uri}: {e}")
        return rc
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
