"""What a training job does for Debugger and the profiler, around its program (called by the executor).

Before the program starts: ``/opt/ml/input/config/debughookconfig.json`` (the job's ``DebugHookConfig``, its
``LocalPath`` defaulted to ``/opt/ml/output/tensors``) and ``profilerconfig.json``, as AWS's containers find
them; ``SHIPYARD_DEBUGHOOKCONFIG`` / ``SHIPYARD_DEBUG_LOCAL_PATH`` point :class:`~.hook.Hook` at the job's
folder when the program runs without the ``/opt/ml`` mount.

While it runs: the tensor folder is uploaded to ``<DebugHookConfig.S3OutputPath>/<job>/debug-output/`` every
couple of seconds (new and changed files only: whole steps, see :mod:`.writer`), so rules read it as it grows;
the system monitor (:class:`~.profiler.SystemSampler`) writes under the job's folder and goes to
``<ProfilerConfig.S3OutputPath>/<job>/profiler-output/`` the same way. At the end: a last upload and
``training_job_end.ts``, which tells the rules no step will follow.

When is it on? The hook when ``DebugHookConfig`` asks for something (collections, hook parameters) or a rule
needs tensors; the monitor when ``ProfilerConfig`` gives an interval, profiling parameters, or a profiler rule
runs. The SageMaker SDK adds an empty ``DebugHookConfig`` and ``ProfilerConfig`` to every estimator: such a
plain job writes nothing extra and pays nothing. Only the first host (algo-1) uploads.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from .profiler import SystemSampler

END_FILE = "training_job_end.ts"  # smdebug's end-of-trial marker (writer.END_FILE; not imported: no numpy here)

DEFAULT_LOCAL_PATH = "/opt/ml/output/tensors"
SYNC_INTERVAL = 2.0


def hook_active(req: dict) -> bool:
    hook = req.get("DebugHookConfig") or {}
    return bool(hook.get("S3OutputPath")) and bool(
        hook.get("CollectionConfigurations") or hook.get("HookParameters") or req.get("DebugRuleConfigurations"))


def profiler_active(req: dict) -> bool:
    prof = req.get("ProfilerConfig") or {}
    if not prof.get("S3OutputPath") or prof.get("DisableProfiler"):
        return False
    return bool(prof.get("ProfilingIntervalInMilliseconds") or prof.get("ProfilingParameters")
                or req.get("ProfilerRuleConfigurations"))


def tensors_uri(req: dict) -> str:
    """Where a job's tensors go (what ``estimator.latest_job_debugger_artifacts_path()`` says)."""
    return (req["DebugHookConfig"]["S3OutputPath"].rstrip("/") + f"/{req['TrainingJobName']}/debug-output")


def profiler_uri(req: dict) -> str:
    return (req["ProfilerConfig"]["S3OutputPath"].rstrip("/") + f"/{req['TrainingJobName']}/profiler-output")


class FolderSync:
    """Uploads the new and changed files of a folder to an S3 prefix (dotfiles, being written, skipped)."""

    def __init__(self, store, local: Path, uri: str):
        from ..objectstore.base import parse_s3_uri

        self.store, self.local = store, local
        self.bucket, prefix = parse_s3_uri(uri)
        self.prefix = prefix.rstrip("/") + "/"
        self._sent: dict[str, tuple[int, int]] = {}

    def sync(self) -> int:
        if not self.local.is_dir():
            return 0
        sent = 0
        for path in sorted(p for p in self.local.rglob("*") if p.is_file()):
            rel = path.relative_to(self.local).as_posix()
            if any(part.startswith(".") for part in rel.split("/")):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            mark = (st.st_size, st.st_mtime_ns)
            if self._sent.get(rel) == mark:
                continue
            self.store.put_object(self.bucket, self.prefix + rel, path.read_bytes())
            self._sent[rel] = mark
            sent += 1
        return sent

    def put(self, name: str, body: bytes) -> None:
        self.store.put_object(self.bucket, self.prefix + name, body)


class DebugOutputs:
    """The executor's Debugger side for one job (see the module docstring)."""

    def __init__(self, req: dict, job_dir: Path, config_dir: Path, store_factory: Callable[[], object],
                 log: Callable[[str], None], host: str = "algo-1", interval: float = SYNC_INTERVAL):
        self.req, self.job_dir, self.config_dir = req, job_dir, config_dir
        self.store_factory, self.log, self.host, self.interval = store_factory, log, host, interval
        self.hook = hook_active(req)
        self.profiler = profiler_active(req)
        self._syncs: list[FolderSync] = []
        self._sampler: SystemSampler | None = None
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.hook or self.profiler

    def local_tensors(self) -> Path:
        from ..domain.paths import safe_join, under_opt_ml

        local = (self.req.get("DebugHookConfig") or {}).get("LocalPath") or DEFAULT_LOCAL_PATH
        return safe_join(self.job_dir, under_opt_ml(local, "DebugHookConfig.LocalPath"),
                         what="DebugHookConfig.LocalPath")

    def prepare(self, env: dict[str, str]) -> None:
        """Config files and the hook's variables (before the program starts)."""
        if self.hook:
            hook = dict(self.req["DebugHookConfig"])
            hook.setdefault("LocalPath", DEFAULT_LOCAL_PATH)
            local = self.local_tensors()
            local.mkdir(parents=True, exist_ok=True)
            path = self.config_dir / "debughookconfig.json"
            path.write_text(json.dumps(hook))
            env["SHIPYARD_DEBUGHOOKCONFIG"] = str(path)
            env["SHIPYARD_DEBUG_LOCAL_PATH"] = str(local)
            lib = self._hook_library()
            if lib:  # as AWS's containers come with smdebug: the hook importable from the image's Python too
                env["PYTHONPATH"] = ":".join(p for p in (env.get("PYTHONPATH", ""), lib) if p)
        if self.profiler:
            prof = self.req["ProfilerConfig"]
            config = {"ProfilingIntervalInMilliseconds": int(prof.get("ProfilingIntervalInMilliseconds") or 500),
                      "ProfilingParameters": dict(prof.get("ProfilingParameters") or {})}
            (self.config_dir / "profilerconfig.json").write_text(json.dumps(config))

    def _hook_library(self) -> str:
        """A folder holding only the ``shipyard`` package (for :mod:`shipyard.debugger.hook`), put last on the
        program's PYTHONPATH; "" when it cannot be made."""
        try:
            from ..environments import server_lib
            from ..environments.builder import root_for
            from ..training.script import home_of

            home = home_of(self.job_dir)
            return str(server_lib(root_for(home))) if home is not None else ""
        except Exception as e:  # noqa: BLE001 - the script may bring its own hook
            self.log(f"Debugger: the hook library is not available to the program: {e}")
            return ""

    def start(self) -> None:
        if not self.active:
            return
        store = self.store_factory()
        if self.hook:
            self._syncs.append(FolderSync(store, self.local_tensors(), tensors_uri(self.req)))
        if self.profiler:
            from .profiler import SystemSampler

            root = self.job_dir / ".shipyard-profiler"
            interval = int((self.req["ProfilerConfig"]).get("ProfilingIntervalInMilliseconds") or 500)
            self._sampler = SystemSampler(root, interval, host=self.host).start()
            self._syncs.append(FolderSync(store, root, profiler_uri(self.req)))
        self._thread = threading.Thread(target=self._loop, name="debug-sync", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self._sync_all()

    def _sync_all(self) -> None:
        for s in self._syncs:
            try:
                s.sync()
            except Exception as e:  # noqa: BLE001 - retried next round and at the end
                self.log(f"Debugger: uploading {s.local.name} failed: {e}")

    def finish(self) -> None:
        """A last upload, then ``training_job_end.ts`` (after the program ended, whatever its outcome)."""
        if not self.active:
            return
        self._done.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        if self._sampler is not None:
            self._sampler.stop()
        self._sync_all()
        import time

        for s in self._syncs:  # tensors and profiler output alike: rules stop waiting for more
            try:
                s.put(END_FILE, str(time.time()).encode())
            except Exception as e:  # noqa: BLE001
                self.log(f"Debugger: marking the end of {s.local.name} failed: {e}")
