"""What a container may use, as ``docker run`` flags: memory and CPUs from the instance type, GPUs where the host's
engine can hand them over, the user files in mounted folders are written as, and the network.

:class:`ContainerLimits` is built once per container by whoever knows the job (the training executor, a model
instance, a transform worker) and turned into flags by :meth:`ContainerLimits.flags`:

- ``--memory`` and ``--memory-swap`` (the same value: swap would let a job use twice its instance's memory), so
  the kernel OOM-kills a container at its instance type's memory; ``docker inspect`` then says
  ``State.OOMKilled`` and the job fails saying so (:func:`out_of_memory_reason`).
- ``--cpus``, a hard cap (CFS quota) at the instance type's vCPUs, never more than this machine has (docker
  refuses a ``--cpus`` above the machine's count).
- ``--gpus`` only where the host has GPUs *and* its engine has a GPU runtime (:func:`gpu_runtime`); otherwise
  the job's log says once that GPUs were asked for and the container runs on CPU (:func:`plan_gpus`).
- ``--user <uid>:<gid>`` of the process that runs the client when it is not root, so files the container writes
  into a mounted ``/opt/ml`` belong to the server's user rather than to root; a server running as root keeps
  the image's own user (SageMaker images often expect root). Rootless Podman gets ``--userns keep-id``
  instead, which maps the user itself into the container.

Imports nothing of ours beyond this package: the callers read the instance-type table and pass numbers in.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass

# The nvidia-container-toolkit's hook: docker's --gpus needs it on the daemon's PATH (dockerd looks it up).
GPU_HOOK = "nvidia-container-runtime-hook"
ALL = "all"


@dataclass(frozen=True)
class ContainerLimits:
    """One container's limits (0 or "" for none). ``gpus`` is a ``docker run --gpus`` value (``"all"``, a
    count, or ``'"device=0,1"'``), "" for none; ``user`` a ``--user`` value, "" for the image's own."""

    memory_mb: int = 0
    cpus: float = 0.0
    gpus: str = ""
    user: str = ""
    userns: str = ""

    def flags(self) -> list[str]:
        out: list[str] = []
        if self.memory_mb > 0:
            out += ["--memory", f"{int(self.memory_mb)}m", "--memory-swap", f"{int(self.memory_mb)}m"]
        if self.cpus > 0:
            out += ["--cpus", f"{self.cpus:g}"]
        if self.gpus:
            out += ["--gpus", self.gpus]
        if self.user:
            out += ["--user", self.user]
        if self.userns:
            out += ["--userns", self.userns]
        return out


@dataclass(frozen=True)
class Wanted:
    """What an instance type asks for (the instance-type table's figures), before this host has its say in
    :func:`for_host`: it travels from the server to the process that runs the container (another node, on
    Ray) as ``--limit key=value`` arguments (:meth:`to_args`, :meth:`from_args`)."""

    instance_type: str = ""
    memory_mb: int = 0
    cpus: float = 0.0
    gpus: int = 0

    def to_args(self) -> list[str]:
        pairs = (("instance_type", self.instance_type), ("memory_mb", self.memory_mb), ("cpus", self.cpus),
                 ("gpus", self.gpus))
        return [a for key, value in pairs if value for a in ("--limit", f"{key}={value}")]

    @classmethod
    def from_args(cls, values: list[str]) -> Wanted:
        """The :meth:`to_args` values (``key=value``, what argparse collects for ``--limit``)."""
        fields = dict(v.split("=", 1) for v in values if "=" in v)
        return cls(instance_type=fields.get("instance_type", ""), memory_mb=int(float(fields.get("memory_mb") or 0)),
                   cpus=float(fields.get("cpus") or 0), gpus=int(float(fields.get("gpus") or 0)))


def for_host(wanted: Wanted, engine_cli: str, engine_name: str, gpus_here: int, visible: str | None,
             log, supported: tuple[bool, bool] | None = None) -> ContainerLimits:
    """The limits of a container of ``wanted`` on this host: memory and CPUs capped at the machine (and left out,
    with a note, where the engine cannot apply them: ``supported`` is :func:`engine_limits`'s answer when the
    caller already asked), GPUs as :func:`plan_gpus` says (its note, if any, logged with ``log``), and the user
    mapping of this process."""
    gpus = GpuPlan("", 0)
    if wanted.gpus > 0:
        gpus = plan_gpus(wanted.instance_type, wanted.gpus, gpus_here,
                         gpus_here > 0 and gpu_runtime(engine_cli, engine_name), visible)
        if gpus.note:
            log(gpus.note)
    memory_mb, cpus = cap_memory(wanted.memory_mb), cap_cpus(wanted.cpus)
    if memory_mb or cpus:
        memory_ok, cpus_ok = supported if supported is not None else engine_limits(engine_cli, engine_name)
        if memory_mb and not memory_ok:
            log(f"note: this host's container engine cannot limit memory (no memory cgroup): the container runs "
                f"without the {memory_mb} MiB limit of {wanted.instance_type or 'its instance type'}")
            memory_mb = 0
        if cpus and not cpus_ok:
            log(f"note: this host's container engine cannot cap CPUs (no CFS quota): the container runs without "
                f"the {cpus:g} vCPU limit of {wanted.instance_type or 'its instance type'}")
            cpus = 0.0
    user, userns = user_mapping(engine_name)
    return ContainerLimits(memory_mb=memory_mb, cpus=cpus, gpus=gpus.flag, user=user, userns=userns)


def engine_limits(engine_cli: str, engine_name: str, timeout: float = 10.0) -> tuple[bool, bool]:
    """(can limit memory, can cap CPUs) on this host's engine: Docker says so in ``docker info``
    (``MemoryLimit``, ``CPUCfsQuota``); where it refuses ``--cpus`` every container would fail to start, where it
    lacks a memory cgroup it would drop ``--memory`` with only a warning. Assumed for Podman and when ``docker
    info`` does not answer (``docker run`` then says what is wrong)."""
    if engine_name != "docker":
        return True, True
    try:
        done = subprocess.run([engine_cli, "info", "--format", "{{.MemoryLimit}} {{.CPUCfsQuota}}"],
                              capture_output=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return True, True
    words = done.stdout.decode(errors="replace").split()
    if done.returncode != 0 or len(words) != 2:
        return True, True
    return words[0] == "true", words[1] == "true"


def machine_cpus() -> int:
    return os.cpu_count() or 1


def machine_memory_mb() -> int | None:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // (1024 * 1024))
    except (ValueError, OSError, AttributeError):
        return None


def cap_cpus(wanted: float, have: int | None = None) -> float:
    """``wanted`` vCPUs, at most this machine's (``have``); 0 (no cap) when nothing is wanted."""
    if wanted <= 0:
        return 0.0
    return float(min(wanted, have if have is not None else machine_cpus()))


def cap_memory(wanted_mb: int, have_mb: int | None = None) -> int:
    """``wanted_mb`` MiB, at most this machine's memory (a limit above it limits nothing)."""
    have = have_mb if have_mb is not None else machine_memory_mb()
    if wanted_mb <= 0:
        return 0
    return int(min(wanted_mb, have)) if have else int(wanted_mb)


def user_mapping(engine_name: str, uid: int | None = None, gid: int | None = None) -> tuple[str, str]:
    """(``--user`` value, ``--userns`` value) for a client running as ``uid``:``gid`` (this process's by
    default): nothing for root; ``keep-id`` for Podman (rootless: its container root is this user already, and
    ``--user`` alone would write as a sub-uid); ``uid:gid`` for Docker."""
    uid = os.geteuid() if uid is None else uid
    gid = os.getegid() if gid is None else gid
    if uid == 0:
        return "", ""
    if engine_name == "podman":
        return "", "keep-id"
    return f"{uid}:{gid}", ""


def gpu_runtime(engine_cli: str, engine_name: str, timeout: float = 10.0) -> bool:
    """Whether the engine can hand GPUs to a container: Docker with the NVIDIA runtime registered or its hook
    on PATH (what ``--gpus`` needs), Podman with a CDI spec for NVIDIA devices."""
    if engine_name == "podman":
        return any(os.path.exists(p) for p in ("/etc/cdi/nvidia.yaml", "/var/run/cdi/nvidia.yaml",
                                               "/etc/cdi/nvidia.json", "/var/run/cdi/nvidia.json"))
    if shutil.which(GPU_HOOK):
        return True
    try:
        done = subprocess.run([engine_cli, "info", "--format", "{{json .Runtimes}}"], capture_output=True,
                              timeout=timeout)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0 and b'"nvidia"' in done.stdout


@dataclass(frozen=True)
class GpuPlan:
    """What to pass for GPUs: ``flag`` (a ``--gpus`` value, "" for none), ``count`` (what the job is told in
    ``SM_NUM_GPUS``), and ``note`` (one line for the job's log, "" when there is nothing to say)."""

    flag: str
    count: int
    note: str = ""


def plan_gpus(instance_type: str, wanted: int, have: int, runtime: bool,
              visible: str | None = None) -> GpuPlan:
    """GPUs for a container of ``instance_type`` (which has ``wanted``) on a host with ``have`` GPUs, whose
    engine has a GPU runtime or not. ``visible`` is ``CUDA_VISIBLE_DEVICES`` when set: the devices this host
    lets the job use, passed by index so the container gets those and no others."""
    if wanted <= 0:
        return GpuPlan("", 0)
    if have <= 0:
        return GpuPlan("", 0, f"note: {instance_type} has {wanted} GPU(s) but this host has none: the container "
                              f"runs on CPU")
    if not runtime:
        return GpuPlan("", 0, f"note: {instance_type} has {wanted} GPU(s) and this host has {have}, but its "
                              f"container engine has no GPU runtime (install nvidia-container-toolkit): the "
                              f"container runs on CPU")
    count = min(wanted, have)
    devices = [d.strip() for d in (visible or "").split(",") if d.strip() and d.strip() != "-1"]
    if devices:
        count = min(count, len(devices))
        return GpuPlan(f'"device={",".join(devices[:count])}"', count)
    return GpuPlan(ALL if count >= have else str(count), count)


def out_of_memory_reason(memory_mb: int, instance_type: str = "", what: str = "training program") -> str:
    """The FailureReason of a container the kernel killed at its memory limit (the sandbox's wording)."""
    kind = f" of instance type {instance_type}" if instance_type else ""
    return (f"OutOfMemoryError: the {what} ran out of memory: its container was killed at the {memory_mb} MiB "
            f"memory limit{kind}. Use an instance type with more memory, or reduce the data processed per "
            f"instance.")
