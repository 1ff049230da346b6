"""The Ray runner: the same :class:`~.base.JobSpec` placed on a Ray cluster instead of a local subprocess.

Each piece of work becomes one *detached, named* Ray actor (``shipyard/<spec.name>``) that starts the command
as a subprocess on whichever node Ray places it, with the spec's CPU/GPU/memory request as the actor's
resources. Because the actor is detached and named, a restarted Shipyard server finds it again with
:meth:`RayRunner.attach`. The actor keeps the work's output and the files named in ``spec.sync_back`` (e.g. the
executor's ``status.json``); every :meth:`RayHandle.poll` pulls what is new into ``spec.log_path`` and
``spec.workdir`` on the server's side, so logs and results live in Shipyard's stores, not Ray's: replacing the
Ray cluster loses nothing that was already reported (ray#35202).

A worker node needs no shared file system: the work runs in a node-local folder of its own (``mkdtemp``, under
the node's ``TMPDIR``), which ``{workdir}`` in the command, env and files names. ``spec.files`` (relative path
-> text) are written there, and ``spec.inputs`` (files and folders on the server: an endpoint's unpacked model)
travel through Ray's object store as one tar and are unpacked there. Nothing the command gets names a path of
the server's. The object store and metadata store are reached by URL, as from any host. Once the work has
ended and the server has pulled its last output and ``sync_back`` files, the folder is removed and the actor
freed. Work with the same ``spec.spread`` key (a variant's instances) is placed on the node running fewest
of them (soft node affinity that spills over: a node without room does not hold the start back).

A node that dies takes its actors with it: ``poll`` then reports ``-9`` and ``lost_reason`` names the node,
so the controller can fail or retry the job with a reason.

Ray is an optional extra (``pip install 'shipyard[ray]'``); this module is imported only when the Ray runner is
chosen.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time

import ray

from ..domain.paths import safe_join
from .base import JobHandle, JobSpec, Runner, inherited_environment

NAMESPACE = "shipyard"
_PREFIX = "shipyard/"


@ray.remote(max_restarts=0, max_concurrency=4)
class _WorkActor:
    """Runs one command on its node and keeps its output until the server has read it."""

    def __init__(self, command: list[str], env: dict[str, str], files: dict[str, str], inputs: bytes | None,
                 sync_back: list[str], sandbox_json: str = ""):
        import subprocess
        import tempfile

        # Always a folder of this node's own: the server's paths may not exist here (no shared file system).
        self.workdir = tempfile.mkdtemp(prefix="shipyard-")
        if inputs:
            _unpack(inputs, self.workdir)
        for rel, text in files.items():
            path = os.path.join(self.workdir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # may hold a credential or token
            with os.fdopen(fd, "w") as f:
                f.write(text.replace("{workdir}", self.workdir))
        self.sync_back = sync_back
        self.log_path = os.path.join(self.workdir, ".ray-output.log")
        self._log = open(self.log_path, "ab")
        self.node = ray.get_runtime_context().get_node_id()
        self.host = ray.util.get_node_ip_address()  # where the server connects: a service binds here

        def place(value: str) -> str:
            return value.replace("{workdir}", self.workdir).replace("{host}", self.host)

        full_env = inherited_environment()  # never the server's secrets
        full_env.update({k: place(v) for k, v in env.items()})
        full_env["PYTHONUNBUFFERED"] = "1"
        # The same sandbox as the local runner's, on this node: the command wrapped, or (an executor's
        # program) handed to the command in SHIPYARD_SANDBOX with this node's folder in its paths.
        program, self.launch = [place(a) for a in command], None
        if sandbox_json:
            from . import sandbox

            sandbox.announce()
            placed = sandbox.Sandbox.from_json(sandbox_json).placed(self.workdir)
            if placed.applies_to == "program":
                full_env[sandbox.ENV_VAR] = placed.to_json()
            else:
                self.launch = sandbox.wrap(program, placed, self.workdir)
                program = self.launch.command
                for note in self.launch.notes:
                    self._log.write(f"{note}\n".encode())
                self._log.flush()
        self.proc = subprocess.Popen(program, env=full_env, cwd=self.workdir, stdout=self._log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def poll(self, log_offset: int) -> tuple[int | None, bytes, dict[str, str], tuple[str, str], str]:
        rc = self.proc.poll()
        try:
            with open(self.log_path, "rb") as f:
                f.seek(log_offset)
                new = f.read(8 << 20)
        except FileNotFoundError:  # finished and removed meanwhile (another handle freed it)
            new = b""
        synced = {}
        for rel in self.sync_back:
            path = os.path.join(self.workdir, rel)
            if os.path.exists(path):
                with open(path) as f:
                    synced[rel] = f.read()
        return rc, new, synced, (self.node, self.host), self.workdir

    def finish(self) -> str:
        """The server has everything: end what is left of the work and remove its folder (returns the path)."""
        import shutil
        import signal

        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(10)
            except Exception:
                pass
        self._log.close()
        if self.launch is not None:
            self.launch.finish()  # its cgroup, if any
        shutil.rmtree(self.workdir, ignore_errors=True)
        return self.workdir

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


def _pack(inputs: dict[str, str]) -> bytes:
    """``spec.inputs`` as one uncompressed tar, each under its relative path (models compress poorly and the
    object store moves bytes, not files)."""
    import io
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for rel, source in inputs.items():
            if not os.path.exists(source):
                raise FileNotFoundError(f"job input {source} does not exist")
            tar.add(source, arcname=rel)
    return buf.getvalue()


def _unpack(blob: bytes, dest: str) -> None:
    """Unpack :func:`_pack`'s tar into ``dest``; the ``data`` filter refuses members that leave the folder."""
    import io
    import tarfile

    with tarfile.open(fileobj=io.BytesIO(blob), mode="r") as tar:
        tar.extractall(dest, filter="data")


class RayHandle(JobHandle):
    """Follows one actor. A pump thread pulls output every ``PUMP_INTERVAL`` while the work runs, so the log on
    our side grows line by line as on the local runner; the exit code, once seen, is written to the state file
    so a later server finds it even after the actor is gone."""

    PUMP_INTERVAL = 0.25

    def __init__(self, actor, name: str, log_path: str, workdir: str, state_file: str, rc: int | None = None):
        self.actor = actor
        self.id = f"ray:{name}"
        self.name = name
        self.log_path = log_path
        self.workdir = workdir
        self.state_file = state_file
        self.lost_reason = ""
        self.node_folder = ""  # the work's folder on its node, learnt on the first pull (tests check it goes)
        self._rc: int | None = rc
        self._lock = threading.Lock()
        self._where: tuple[str, str] | None = None  # (node id, node address), learnt on the first pull
        if rc is None and actor is not None:
            threading.Thread(target=self._pump, name=f"ray-pump-{name}", daemon=True).start()

    def _pump(self) -> None:
        while self.poll() is None:
            time.sleep(self.PUMP_INTERVAL)

    def _pull(self) -> tuple[int | None, int]:
        """Ask the actor for what is new; append it to our log under a file lock (several handles, even in
        several processes, may follow the same work)."""
        os.makedirs(os.path.dirname(self.log_path) or ".", exist_ok=True)
        with open(self.log_path, "ab") as log:
            fcntl.flock(log, fcntl.LOCK_EX)
            try:
                offset = os.fstat(log.fileno()).st_size
                rc, new, synced, self._where, self.node_folder = ray.get(self.actor.poll.remote(offset),
                                                                         timeout=30)
                if new:
                    log.write(new)
            finally:
                fcntl.flock(log, fcntl.LOCK_UN)
        for rel, text in synced.items():  # names a node sent back: they land in the job folder or nowhere
            path = str(safe_join(self.workdir, rel, what="synced file"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            tmp = f"{path}.sync{os.getpid()}-{threading.get_ident()}"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)
        return rc, len(new)

    def poll(self) -> int | None:
        with self._lock:
            if self._rc is not None:
                return self._rc
            try:
                rc, pulled = self._pull()
            except (ray.exceptions.RayActorError, ray.exceptions.ActorDiedError) as e:
                recorded = _recorded_rc(self.state_file)
                if recorded is not None:  # another handle saw the end and freed the actor
                    self._rc = recorded
                    return self._rc
                self.lost_reason = f"the Ray actor running {self.name} died (its node was lost): {e}"[:500]
                self._rc = -9
                return self._rc
            except ray.exceptions.GetTimeoutError:
                return None
            if rc is not None and pulled < (8 << 20):
                self._rc = rc
                _write_state(self.state_file, self.log_path, self.workdir, rc)
                _finish(self.actor)  # the work is over and its output is with us: free its folder and actor
            return self._rc

    def stop(self, grace: float = 10.0) -> None:
        if self.actor is None:
            return
        try:
            self.actor.stop.remote(grace)
        except Exception:
            pass

    def where(self) -> tuple[str, str] | None:
        """(Ray node id, node address) of the work, or None if the actor is gone before we ever reached it.
        Remembered from the first pull, because the actor is freed as soon as the work ends."""
        with self._lock:  # poll holds it from pulling to freeing the actor: asking now cannot race the kill
            if self._where is None and self.actor is not None:
                try:
                    self._where = ray.get(self.actor.where.remote(), timeout=30)
                except Exception:
                    return None
            return self._where

    def address(self) -> str:
        where = self.where()
        return where[1] if where else "127.0.0.1"


def _finish(actor, timeout: float = 30.0) -> None:
    """Remove the work's node-local folder, then free the actor (a node that does not answer: just the latter)."""
    try:
        ray.get(actor.finish.remote(), timeout=timeout)
    except Exception:  # noqa: BLE001 - gone or unreachable: its folder went with its node
        pass
    try:
        ray.kill(actor)
    except Exception:  # noqa: BLE001
        pass


def _recorded_rc(path: str) -> int | None:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return None
    return int(lines[2]) if len(lines) > 2 and lines[2].strip() else None


def _write_state(path: str, log_path: str, workdir: str, rc: int | None = None) -> None:
    tmp = f"{path}.tmp{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "w") as f:
        f.write(f"{log_path}\n{workdir}\n{'' if rc is None else rc}\n")
    os.replace(tmp, path)


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
        if spec.group:  # one bundle of a gang reservation (see reserve_group)
            from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

            group, index = spec.group
            options["scheduling_strategy"] = PlacementGroupSchedulingStrategy(
                ray.util.get_placement_group(_PREFIX + group), placement_group_bundle_index=int(index))
        elif spec.spread:
            options["scheduling_strategy"] = self._spread_strategy(spec.spread)
        for rel in [*spec.files, *spec.inputs, *spec.sync_back]:  # refused here, before anything starts
            safe_join(spec.workdir, rel, what="job file")
        inputs = ray.put(_pack(spec.inputs)) if spec.inputs else None
        # A finished actor of the same name (e.g. a retried job) is replaced, its folder removed.
        try:
            _finish(ray.get_actor(_PREFIX + spec.name, namespace=NAMESPACE), timeout=10.0)
        except ValueError:
            pass
        actor = _WorkActor.options(**options).remote(spec.command, spec.env, spec.files, inputs, spec.sync_back,
                                                     spec.sandbox.to_json() if spec.sandbox else "")
        # What attach needs after a restart: where the log and synced files go on our side.
        state = self._state_file(spec.name)
        _write_state(state, spec.log_path, spec.workdir)
        handle = RayHandle(actor, spec.name, spec.log_path, spec.workdir, state)
        with self._lock:
            self._handles[handle.id] = handle
        return handle

    def _spread_strategy(self, key: str):
        """Soft affinity to the alive node running fewest live actors whose name starts with ``key/`` (Ray's
        own SPREAD is round robin over all work, so two instances of one variant may still meet)."""
        from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

        alive = [n["NodeID"] for n in ray.nodes() if n.get("Alive")]
        if len(alive) < 2:
            return "DEFAULT"
        prefix = _PREFIX + key + "/"
        siblings = []
        for entry in ray.util.list_named_actors(all_namespaces=True):
            if entry.get("namespace") == NAMESPACE and entry.get("name", "").startswith(prefix):
                try:
                    siblings.append(ray.get_actor(entry["name"], namespace=NAMESPACE))
                except ValueError:
                    continue
        count = dict.fromkeys(alive, 0)
        for actor in siblings:
            try:
                node, _ = ray.get(actor.where.remote(), timeout=10)
            except Exception:  # noqa: BLE001 - dying or unreachable: it holds no place
                continue
            if node in count:
                count[node] += 1
        least = min(alive, key=lambda n: count[n])
        # soft + spill: a node without room now (or gone) sends the work elsewhere rather than making it wait
        # (Ray Serve places replicas the same way)
        return NodeAffinitySchedulingStrategy(node_id=least, soft=True, _spill_on_unavailable=True)

    def _state_file(self, name: str) -> str:
        return os.path.join(self.state_dir, name.replace("/", "__") + ".ray")

    def attach(self, handle_id: str) -> RayHandle | None:
        if not handle_id.startswith("ray:"):
            return None
        with self._lock:
            if handle_id in self._handles:
                return self._handles[handle_id]
        name = handle_id[4:]
        path = self._state_file(name)
        if not os.path.exists(path):
            return None
        lines = open(path).read().splitlines() + ["", "", ""]
        log_path, workdir, rc_text = lines[:3]
        if rc_text.strip():
            return RayHandle(None, name, log_path, workdir, path, rc=int(rc_text))
        try:
            actor = ray.get_actor(_PREFIX + name, namespace=NAMESPACE)
        except ValueError:
            handle = RayHandle(None, name, log_path, workdir, path, rc=-9)
            handle.lost_reason = f"the Ray actor running {name} is gone (the cluster was restarted or replaced)"
            return handle
        handle = RayHandle(actor, name, log_path, workdir, path)
        with self._lock:
            self._handles[handle_id] = handle
        return handle

    def close(self) -> None:
        with self._lock:
            self._handles.clear()

    # --- gangs: a multi-instance job's hosts as one placement group, one bundle per instance, SPREAD ---
    def resources(self) -> dict:
        """The cluster's total and free CPU/GPU/memory (MiB), and its largest alive node."""
        def norm(res: dict) -> dict:
            return {"CPU": float(res.get("CPU", 0.0)), "GPU": float(res.get("GPU", 0.0)),
                    "memory": float(res.get("memory", 0.0)) / (1 << 20)}

        nodes = [norm(n.get("Resources") or {}) for n in ray.nodes() if n.get("Alive")]
        largest = max(nodes, key=lambda r: (r["GPU"], r["CPU"]), default={"CPU": 0.0, "GPU": 0.0})
        return {"total": norm(ray.cluster_resources()), "free": norm(ray.available_resources()),
                "largest_host": largest}

    def reserve_group(self, name: str, bundles: list[dict]) -> list[str] | None:
        """Create (once) the detached placement group ``shipyard/<name>``, strategy SPREAD; return the node IP
        of each bundle once Ray has placed all of them, else None (Ray keeps it queued, all or nothing)."""
        from ray.util.placement_group import get_placement_group, placement_group, placement_group_table

        try:
            pg = get_placement_group(_PREFIX + name)
        except ValueError:
            ray_bundles = []
            for b in bundles:
                rb = {"CPU": float(b.get("CPU", 0.0))}
                if b.get("GPU"):
                    rb["GPU"] = float(b["GPU"])
                if b.get("memory"):
                    rb["memory"] = float(b["memory"]) * (1 << 20)
                ray_bundles.append(rb)
            pg = placement_group(ray_bundles, strategy="SPREAD", name=_PREFIX + name, lifetime="detached")
        # The table, not pg.wait(0): a zero-timeout wait races its own RPC and answers False for about a
        # third of calls on a group Ray placed long ago (the conformance suite's idempotency check saw it).
        table = placement_group_table(pg)
        if table.get("state") != "CREATED":
            return None
        ips = {n["NodeID"]: n["NodeManagerAddress"] for n in ray.nodes()}
        nodes = table.get("bundles_to_node_id") or {}
        return [ips.get(nodes.get(i, ""), "127.0.0.1") for i in range(len(bundles))]

    def release_group(self, name: str) -> None:
        from ray.util.placement_group import get_placement_group, remove_placement_group

        try:
            remove_placement_group(get_placement_group(_PREFIX + name))
        except (ValueError, Exception):  # already gone
            pass


def wait_for_cluster(min_nodes: int, timeout: float = 60.0) -> None:
    """Block until the connected cluster has ``min_nodes`` alive nodes (tests and start-up)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(1 for n in ray.nodes() if n.get("Alive")) >= min_nodes:
            return
        time.sleep(0.2)
    raise TimeoutError(f"Ray cluster did not reach {min_nodes} nodes in {timeout}s")
