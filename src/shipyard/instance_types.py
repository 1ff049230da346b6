"""What an instance type is worth in CPUs, GPUs and memory, and whether a job's instances fit.

A training job asks for ``InstanceCount`` x ``InstanceType``; the runner needs numbers. The table below gives
SageMaker's published vCPU / GPU / memory figures for the common families; a size missing from it is derived
from its name (``large`` = 2 vCPUs, ``<n>xlarge`` = 4n vCPUs, 4 GiB per vCPU), so any type the API accepts
has a figure. The operator can replace or add entries with a JSON file named by ``SHIPYARD_INSTANCE_TYPES``::

    {"ml.m5.large": {"cpus": 1, "gpus": 0, "memory_gib": 2}, "ml.g5.xlarge": {"cpus": 4, "gpus": 1}}

(what one of *your* hosts gives a job of that type: on a small cluster, shrink the types you use).

Admission is FIFO and all-or-nothing per job (a gang): see :func:`shortfall`, which says in words what a job
waits for, the text that becomes its ``StatusMessage`` while it is Pending.

On a runner whose instance types are labels (the local runner, unless the operator sets
``SHIPYARD_STRICT_INSTANCE_TYPES=1``), :func:`fit_to_machine` caps a job's request at the machine: a job asks
for at most the whole machine, its instances share it, and only concurrent work makes a job wait.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

GIB = 1024


@dataclass(frozen=True)
class InstanceResources:
    cpus: float
    gpus: float = 0.0
    memory_mb: int = 0

    def times(self, count: int) -> "InstanceResources":
        return InstanceResources(self.cpus * count, self.gpus * count, self.memory_mb * count)


_SIZES = {"medium": 1, "large": 2, "xlarge": 4}
_GIB_PER_VCPU = {"t3": 2, "c4": 1.875, "c5": 2, "c5n": 2.625, "c6i": 2, "c7i": 2, "m4": 4, "m5": 4, "m5d": 4,
                 "m6i": 4, "m7i": 4, "r5": 8, "r5d": 8, "r6i": 8, "r7i": 8}
# GPU types: (vCPUs, GPUs, GiB). From SageMaker's instance-type pricing page.
_GPU = {
    "ml.p2.xlarge": (4, 1, 61), "ml.p2.8xlarge": (32, 8, 488), "ml.p2.16xlarge": (64, 16, 732),
    "ml.p3.2xlarge": (8, 1, 61), "ml.p3.8xlarge": (32, 4, 244), "ml.p3.16xlarge": (64, 8, 488),
    "ml.p3dn.24xlarge": (96, 8, 768), "ml.p4d.24xlarge": (96, 8, 1152), "ml.p4de.24xlarge": (96, 8, 1152),
    "ml.p5.48xlarge": (192, 8, 2048),
    "ml.g4dn.xlarge": (4, 1, 16), "ml.g4dn.2xlarge": (8, 1, 32), "ml.g4dn.4xlarge": (16, 1, 64),
    "ml.g4dn.8xlarge": (32, 1, 128), "ml.g4dn.12xlarge": (48, 4, 192), "ml.g4dn.16xlarge": (64, 1, 256),
    "ml.g5.xlarge": (4, 1, 16), "ml.g5.2xlarge": (8, 1, 32), "ml.g5.4xlarge": (16, 1, 64),
    "ml.g5.8xlarge": (32, 1, 128), "ml.g5.12xlarge": (48, 4, 192), "ml.g5.16xlarge": (64, 1, 256),
    "ml.g5.24xlarge": (96, 4, 384), "ml.g5.48xlarge": (192, 8, 768),
    "ml.g6.xlarge": (4, 1, 16), "ml.g6.2xlarge": (8, 1, 32), "ml.g6.12xlarge": (48, 4, 192),
    "ml.g6.48xlarge": (192, 8, 768),
}


def _derived(instance_type: str) -> InstanceResources:
    """Figures from the type's name: family memory ratio, size -> vCPUs."""
    m = re.fullmatch(r"ml\.([a-z0-9]+)\.(\d*)(medium|large|xlarge|metal)", instance_type or "")
    if not m:
        return InstanceResources(cpus=1.0, memory_mb=4 * GIB)  # "local" and friends: one CPU
    family, mult, size = m.group(1), m.group(2), m.group(3)
    cpus = _SIZES.get(size, 96) * (int(mult) if mult else 1)
    ratio = _GIB_PER_VCPU.get(family, 4)
    return InstanceResources(cpus=float(cpus), memory_mb=int(cpus * ratio * GIB))


def _overrides() -> dict[str, InstanceResources]:
    path = os.environ.get("SHIPYARD_INSTANCE_TYPES", "")
    if not path:
        return {}
    with open(path) as f:
        data = json.load(f)
    out = {}
    for name, spec in data.items():
        base = lookup_default(name)
        out[name] = InstanceResources(
            cpus=float(spec.get("cpus", base.cpus)), gpus=float(spec.get("gpus", base.gpus)),
            memory_mb=int(float(spec["memory_gib"]) * GIB) if "memory_gib" in spec else base.memory_mb)
    return out


def lookup_default(instance_type: str) -> InstanceResources:
    if instance_type in _GPU:
        cpus, gpus, gib = _GPU[instance_type]
        return InstanceResources(float(cpus), float(gpus), gib * GIB)
    return _derived(instance_type)


_cache: tuple[str, float, dict] | None = None


def instance_resources(instance_type: str) -> InstanceResources:
    """What one instance of ``instance_type`` asks for (operator overrides first)."""
    global _cache
    path = os.environ.get("SHIPYARD_INSTANCE_TYPES", "")
    mtime = os.path.getmtime(path) if path and os.path.exists(path) else 0.0
    if _cache is None or _cache[0] != path or _cache[1] != mtime:
        _cache = (path, mtime, _overrides())
    return _cache[2].get(instance_type) or lookup_default(instance_type)


def job_request(resource_config: dict) -> tuple[InstanceResources, int]:
    """(per-instance resources, instance count) of a ResourceConfig."""
    count = int(resource_config.get("InstanceCount") or 1)
    return instance_resources(resource_config.get("InstanceType") or "ml.m5.large"), max(1, count)


def _fmt(n: float) -> str:
    return str(int(n)) if float(n).is_integer() else f"{n:g}"


def _unit(n: float, word: str) -> str:
    return f"{_fmt(n)} {word}{'' if n == 1 else 's'}"


def shortfall(per_instance: InstanceResources, count: int, free: dict[str, float]) -> str:
    """Why the job does not fit in ``free`` (``{"CPU", "GPU", "memory" (MiB)}``), or "" if it fits.

    The check is on totals; the runner's placement (Ray's placement group) is the final word, since a job's
    instances must also each fit on one host."""
    need = per_instance.times(count)
    parts = []
    if need.cpus > free.get("CPU", 0.0) + 1e-9:
        parts.append(f"{_unit(need.cpus, 'CPU')}: the cluster has {_fmt(free.get('CPU', 0.0))} free")
    if need.gpus > free.get("GPU", 0.0) + 1e-9:
        parts.append(f"{_unit(need.gpus, 'GPU')}: the cluster has {_fmt(free.get('GPU', 0.0))} free")
    if need.memory_mb and "memory" in free and need.memory_mb > free["memory"] + 1e-9:
        parts.append(f"{need.memory_mb / GIB:.1f} GiB of memory: the cluster has "
                     f"{free['memory'] / GIB:.1f} GiB free")
    return ("Waiting for " + "; ".join(parts)) if parts else ""


def _capped(want: float, have: float | None) -> float:
    return want if have is None else min(want, max(0.0, have))


def fit_to_machine(per_instance: InstanceResources, count: int,
                   total: dict[str, float]) -> tuple[InstanceResources, InstanceResources]:
    """(per-instance, whole-job) request of ``count`` x ``per_instance`` on a machine of ``total`` resources
    where an instance type is a label, not a reservation: each instance asks for at most the machine, and the
    instances of one job share it, so the job as a whole asks for at most the machine too."""
    mem = total.get("memory")
    per = InstanceResources(_capped(per_instance.cpus, total.get("CPU", 0.0)),
                            _capped(per_instance.gpus, total.get("GPU", 0.0)),
                            int(_capped(per_instance.memory_mb, mem)) if per_instance.memory_mb else 0)
    need = per.times(count)
    job = InstanceResources(_capped(need.cpus, total.get("CPU", 0.0)), _capped(need.gpus, total.get("GPU", 0.0)),
                            int(_capped(need.memory_mb, mem)) if need.memory_mb else 0)
    return per, job


def never_fits(per_instance: InstanceResources, count: int, total: dict[str, float],
               largest_host: dict[str, float] | None = None) -> str:
    """Why the job can never run on a cluster of ``total`` resources (hosts no larger than ``largest_host``),
    or "" if it could once other work ends."""
    need = per_instance.times(count)
    if need.cpus > total.get("CPU", 0.0) + 1e-9:
        return (f"{count} x {_unit(per_instance.cpus, 'CPU')} needs {_unit(need.cpus, 'CPU')}; the cluster has "
                f"{_fmt(total.get('CPU', 0.0))} in all")
    if need.gpus > total.get("GPU", 0.0) + 1e-9:
        return (f"{count} x {_unit(per_instance.gpus, 'GPU')} needs {_unit(need.gpus, 'GPU')}; the cluster has "
                f"{_fmt(total.get('GPU', 0.0))} in all")
    if need.memory_mb and "memory" in total and need.memory_mb > total["memory"] + 1e-9:
        return (f"{count} x {per_instance.memory_mb / GIB:.1f} GiB needs {need.memory_mb / GIB:.1f} GiB of "
                f"memory; the cluster has {total['memory'] / GIB:.1f} GiB in all")
    if largest_host:
        for key, word, have in (("CPU", "CPUs", per_instance.cpus), ("GPU", "GPUs", per_instance.gpus)):
            if have > largest_host.get(key, 0.0) + 1e-9:
                return (f"one instance needs {_fmt(have)} {word}; the largest host has "
                        f"{_fmt(largest_host.get(key, 0.0))}")
    return ""
