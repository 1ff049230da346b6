"""Admission control for training jobs: FIFO, all of a job's instances or none, Pending with a reason.

A job that has not started yet is admitted when its ``InstanceCount`` x ``InstanceType`` resources
(:mod:`shipyard.instance_types`) fit what the runner has free, strictly in creation order: a job never jumps an
earlier one that waits (no starvation of big jobs). While it waits it is ``SecondaryStatus: Pending`` with a
``StatusMessage`` saying what for ("Waiting for 4 CPUs: the cluster has 2 free").

Who counts what is free depends on the runner (:meth:`Runner.resources`): Ray knows its cluster (placement
groups reserve resources, and the gang reservation is the final word, since each instance must also fit on
one node); the local runner reports a capacity only, and the free part is the capacity minus the training
jobs admitted and still running, counted here from their documents (so a restarted server counts the same).
A job that could never fit the cluster is refused at CreateTrainingJob (:func:`check_fits`), or failed with a
``CapacityError`` reason if the cluster shrank after it was accepted.

A runner whose ``resources()`` says ``"instance_types": "labels"`` (the local runner by default) treats an
instance type as a label for accounting: a job's request is capped at the machine
(:func:`~shipyard.instance_types.fit_to_machine`), so no job is refused for its instance type, each job alone runs,
and jobs queue only when together they exceed the machine. ``SHIPYARD_STRICT_INSTANCE_TYPES=1`` turns that off
(``"strict"``): the instance type's figures count in full, as on Ray, whose resource table is authoritative.
"""

from __future__ import annotations

from ..errors import ResourceLimitExceeded
from ..instance_types import InstanceResources, fit_to_machine, job_request, never_fits, shortfall

EARLIER = "Waiting for earlier training jobs to be placed first (first come, first served)"


def runner_resources(runner) -> dict | None:
    try:
        return runner.resources()
    except Exception:  # noqa: BLE001 - a runner that cannot say is treated as unlimited
        return None


def labels_only(res: dict | None) -> bool:
    """Whether the runner treats instance types as labels (never a reason to refuse or to wait alone)."""
    return bool(res) and res.get("instance_types") == "labels"


def job_need(resource_config: dict, res: dict | None) -> tuple[InstanceResources, int, InstanceResources]:
    """(per-instance request, instance count, whole-job request) of a ResourceConfig on this runner."""
    per, count = job_request(resource_config or {})
    if labels_only(res):
        per, need = fit_to_machine(per, count, res["total"])
        return per, count, need
    return per, count, per.times(count)


def check_fits(runner, resource_config: dict) -> None:
    """Refuse a job that no amount of waiting would let run (API-time check)."""
    per, count = job_request(resource_config or {})
    res = runner_resources(runner)
    if not res or labels_only(res):
        return
    reason = never_fits(per, count, res["total"], res.get("largest_host"))
    if reason:
        kind = resource_config.get("InstanceType", "")
        raise ResourceLimitExceeded(
            f"The training job asks for {count} x {kind} and can never run on this Shipyard: {reason}. "
            "Ask for fewer or smaller instances, add nodes, or map the instance type to what your hosts "
            "offer with SHIPYARD_INSTANCE_TYPES.")


def charge(doc: dict, res: dict | None = None) -> InstanceResources:
    """What an admitted job holds (all its instances)."""
    return job_need(doc.get("ResourceConfig") or {}, res)[2]


def bundles(doc: dict, res: dict | None = None) -> list[dict]:
    per, count, _ = job_need(doc.get("ResourceConfig") or {}, res)
    one = {"CPU": per.cpus, "GPU": per.gpus}
    if per.memory_mb:
        one["memory"] = per.memory_mb
    return [dict(one) for _ in range(count)]


class Admission:
    """One pass over the waiting jobs per controller tick. ``decide`` returns, per waiting job in FIFO order,
    either ``("start", addresses)``, ``("wait", message)`` or ``("fail", reason)``."""

    def __init__(self, runner):
        self.runner = runner

    def decide(self, waiting: list, running: list, group_name) -> list[tuple[object, str, object]]:
        res = runner_resources(self.runner)
        out = []
        if res and res.get("free") is None:  # the caller accounts: capacity minus admitted, running jobs
            free = dict(res["total"])
            for r in running:
                held = charge(r.doc, res)
                free["CPU"] = free.get("CPU", 0.0) - held.cpus
                free["GPU"] = free.get("GPU", 0.0) - held.gpus
        else:
            free = dict(res["free"]) if res else None
        blocked = ""
        for r in waiting:
            if blocked:
                out.append((r, "wait", f"{EARLIER}: {blocked}"))
                continue
            per, count, need = job_need(r.doc.get("ResourceConfig") or {}, res)
            if res and not labels_only(res):
                never = never_fits(per, count, res["total"], res.get("largest_host"))
                if never:
                    out.append((r, "fail", f"CapacityError: the job can never be placed: {never}."))
                    continue
            short = shortfall(need, 1, free) if free is not None and res.get("free") is None else ""
            addresses = None if short else self.runner.reserve_group(group_name(r), bundles(r.doc, res))
            if addresses is None:
                if not short and free is not None:
                    short = shortfall(need, 1, free)
                message = short or (f"Waiting for room to place {count} instance(s) of "
                                    f"{r.doc.get('ResourceConfig', {}).get('InstanceType', '')} "
                                    f"({per.cpus:g} CPUs, {per.gpus:g} GPUs each) on the cluster's nodes")
                out.append((r, "wait", message))
                blocked = f"{r.name} waits"
                continue
            out.append((r, "start", addresses))
            if free is not None:
                free["CPU"] = free.get("CPU", 0.0) - need.cpus
                free["GPU"] = free.get("GPU", 0.0) - need.gpus
                if "memory" in free:
                    free["memory"] -= need.memory_mb
        return out
