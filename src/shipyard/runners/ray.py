"""The Ray runner: the same :class:`~.base.JobSpec` placed on a Ray cluster instead of a local subprocess.

Each piece of work becomes one *detached, named* Ray actor (``shipyard/<spec.name>``) that starts the command
as a subprocess on whichever node Ray places it, with the spec's CPU/GPU/memory request as the actor's
resources. Because the actor is detached and named, a restarted Shipyard server finds it again with
:meth:`RayRunner.attach`. The actor keeps the work's output and the files named in
``spec.extra["sync_back"]`` (e.g. the executor's ``status.json``); every :meth:`RayHandle.poll` pulls what is new
into ``spec.log_path`` and ``spec.workdir`` on the server's side, so logs and results live in Shipyard's stores,
not Ray's: replacing the Ray cluster loses nothing that was already reported (ray#35202).

Files the command needs are sent with the spec (``spec.extra["files"]``: relative path -> text) and written into
a node-local working folder, so a worker node needs no shared file system. The object store and metadata store
are reached by URL, as from any host.

A node that dies takes its actors with it: ``poll`` then reports ``-9`` and ``lost_reason`` names the node,
so the controller can fail or retry the job with a reason.

Ray is an optional extra (``pip install 'shipyard[ray]'``); this module is imported only when the Ray runner is
chosen.
"""

from __future__ import annotations

import os
import threading
import time

import ray

from .base import JobHandle, JobSpec, Runner

NAMESPACE = "shipyard"
_PREFIX = "shipyard/"


@ray.remote(max_restarts=0, max_concurrency=4)
class _WorkActor:
    """Runs one command on its node and keeps its output until the server has read it."""

    def __init__(self, command: list[str], env: dict[str, str], workdir: str, files: dict[str, str],
                 sync_back: list[str]):
        import subprocess
        import tempfile

        self.workdir = workdir if os.path.isdir(workdir) and not files else tempfile.mkdtemp(prefix="shipyard-")
        for rel, text in files.items():
            path = os.path.join(self.workdir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(text.replace("{workdir}", self.workdir))
        self.sync_back = sync_back
        self.log_path = os.path.join(self.workdir, ".ray-output.log")
        self._log = open(self.log_path, "ab")
        full_env = dict(os.environ)
        full_env.update({k: v.replace("{workdir}", self.workdir) for k, v in env.items()})
        full_env["PYTHONUNBUFFERED"] = "1"
        args = [a.replace("{workdir}", self.workdir) for a in command]
        self.proc = subprocess.Popen(args, env=full_env, cwd=self.workdir, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.node = ray.get_runtime_context().get_node_id()
        self.host = ray.util.get_node_ip_address()

    def poll(self, log_offset: int) -> tuple[int | None, bytes, dict[str, str]]:
        rc = self.proc.poll()
        with open(self.log_path, "rb") as f:
            f.seek(log_offset)
            new = f.read(8 << 20)
        synced = {}
        for rel in self.sync_back:
            path = os.path.join(self.workdir, rel)
            if os.path.exists(path):
                with open(path) as f:
                    synced[rel] = f.read()
        return rc, new, synced

    def stop(self, grace: float) -> None:
        import signal

        if self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            return

        def escalate() -> None:
            try:
                self.proc.wait(grace)
            except Exception:
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

        threading.Thread(target=escalate, daemon=True).start()

    def where(self) -> tuple[str, str]:
        return self.node, self.host


class RayHandle(JobHandle):
    def __init__(self, actor, name: str, log_path: str, workdir: str):
        self.actor = actor
        self.id = f"ray:{name}"
        self.name = name
        self.log_path = log_path
        self.workdir = workdir
        self.lost_reason = ""
        self._rc: int | None = None
        self._lock = threading.Lock()
        self._host = ""

    def _log_offset(self) -> int:
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def poll(self) -> int | None:
        with self._lock:
            if self._rc is not None:
                return self._rc
            try:
                rc, new, synced = ray.get(self.actor.poll.remote(self._log_offset()), timeout=30)
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError) as e:
                self.lost_reason = f"the Ray actor running {self.name} died (its node was lost): {e}"[:500]
                self._rc = -9
                return self._rc
            except ray.exceptions.GetTimeoutError:
                return None
            if new:
                os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
                with open(self.log_path, "ab") as f:
                    f.write(new)
            for rel, text in synced.items():
                path = os.path.join(self.workdir, rel)
                os.makedirs(os.path.dirname(path), exist_ok=True)
                tmp = path + ".sync"
                with open(tmp, "w") as f:
                    f.write(text)
                os.replace(tmp, path)
            if rc is not None and len(new) < (8 << 20):
                self._rc = rc
                try:  # the work is over and its output is with us: free the actor's resources
                    ray.kill(self.actor)
                except Exception:
                    pass
            return self._rc

    def stop(self, grace: float = 10.0) -> None:
        try:
            self.actor.stop.remote(grace)
        except Exception:
            pass

    def address(self) -> str:
        if not self._host:
            try:
                self._host = ray.get(self.actor.where.remote(), timeout=30)[1]
            except Exception:
                return "127.0.0.1"
        return self._host


class RayRunner(Runner):
    """Places work on the Ray cluster at ``address`` (``auto``, ``HOST:PORT`` or ``ray://...``)."""

    name = "ray"

    def __init__(self, state_dir: str, address: str = ""):
        self.state_dir = state_dir
        os.makedirs(state_dir, exist_ok=True)
        self.address = address or os.environ.get("RAY_ADDRESS", "auto")
        self._handles: dict[str, RayHandle] = {}
        self._lock = threading.Lock()
        if not ray.is_initialized():
            ray.init(address=self.address, namespace=NAMESPACE, ignore_reinit_error=True,
                     log_to_driver=False, include_dashboard=False)

    def start(self, spec: JobSpec) -> RayHandle:
        options = {
            "name": _PREFIX + spec.name,
            "namespace": NAMESPACE,
            "lifetime": "detached",
            "num_cpus": spec.cpus,
            "num_gpus": spec.gpus,
        }
        if spec.memory_mb:
            options["memory"] = spec.memory_mb * 1024 * 1024
        if spec.extra.get("scheduling_strategy") is not None:
            options["scheduling_strategy"] = spec.extra["scheduling_strategy"]
        elif spec.extra.get("spread"):
            options["scheduling_strategy"] = "SPREAD"
        # A finished actor of the same name (e.g. a retried job) is replaced.
        try:
            ray.kill(ray.get_actor(_PREFIX + spec.name, namespace=NAMESPACE))
        except ValueError:
            pass
        actor = _WorkActor.options(**options).remote(
            spec.command, spec.env, spec.workdir, spec.extra.get("files", {}), spec.extra.get("sync_back", []))
        handle = RayHandle(actor, spec.name, spec.log_path, spec.workdir)
        self._remember(handle)
        return handle

    def _remember(self, handle: RayHandle) -> None:
        with self._lock:
            self._handles[handle.id] = handle
        # What attach needs after a restart: where the log and synced files go on our side.
        path = os.path.join(self.state_dir, handle.name.replace("/", "__") + ".ray")
        with open(path, "w") as f:
            f.write(f"{handle.log_path}\n{handle.workdir}\n")

    def attach(self, handle_id: str) -> RayHandle | None:
        if not handle_id.startswith("ray:"):
            return None
        with self._lock:
            if handle_id in self._handles:
                return self._handles[handle_id]
        name = handle_id[4:]
        path = os.path.join(self.state_dir, name.replace("/", "__") + ".ray")
        if not os.path.exists(path):
            return None
        log_path, workdir = open(path).read().splitlines()[:2]
        try:
            actor = ray.get_actor(_PREFIX + name, namespace=NAMESPACE)
        except ValueError:
            handle = RayHandle(None, name, log_path, workdir)
            handle._rc = -9
            handle.lost_reason = f"the Ray actor running {name} is gone (the cluster was restarted or replaced)"
            return handle
        handle = RayHandle(actor, name, log_path, workdir)
        with self._lock:
            self._handles[handle_id] = handle
        return handle

    def close(self) -> None:
        with self._lock:
            self._handles.clear()


def wait_for_cluster(min_nodes: int, timeout: float = 60.0) -> None:
    """Block until the connected cluster has ``min_nodes`` alive nodes (tests and start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for n in ray.nodes() if n.get("Alive")) >= min_nodes:
            return
        time.sleep(0.2)
    raise TimeoutError(f"Ray cluster did not reach {min_nodes} nodes in {timeout}s")
