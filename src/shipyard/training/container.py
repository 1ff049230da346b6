"""A bring-your-own training image: what the executor runs for a job whose program kind is ``container``.

Everything around the program stays the executor's (channels downloaded into the job folder,
``hyperparameters.json`` and ``resourceconfig.json``, the model upload, status and stop handling). Here the
job folder, which already is the job's ``/opt/ml``, is mounted at ``/opt/ml`` in a container of the image,
run with the command ``train`` as SageMaker's bring-your-own contract says, with the ``SM_*`` variables (paths
under ``/opt/ml``), the job's ``Environment`` and its own scoped AWS key. The executor starts
``python -m shipyard.containers.run`` (the supervisor that turns SIGTERM into ``docker stop -t <grace>``), so
its stop, MaxRuntime and failure-reason logic (``/opt/ml/output/failure``) apply unchanged.

Network: the host's (the job reaches the Shipyard server on loopback with its key, as a script does), or none
(``--network none``) with ``EnableNetworkIsolation``. Limits (:mod:`shipyard.containers.limits`): memory and
vCPUs of the instance type (what the runner admitted the job with, from the sandbox it hands over, else the
instance-type table), capped at this machine; an OOM kill fails the job saying the memory was exceeded. GPUs:
``--gpus`` with the instance type's count, capped at this host's, where its engine has a GPU runtime; else one
line in the job's log and the container runs on CPU. User: the executor's uid:gid when it is not root.

On Ray the executor runs on the node the runner placed the job on, in that node's folder: the container runs
on that node's engine with that folder mounted, and the executor uploads and syncs back as for any job.
"""

from __future__ import annotations

import os
import sys
import threading
import uuid
from pathlib import Path

from ..containers import limits as lim
from ..containers.engine import Engine
from ..containers.images import account_and_region, engine_for_jobs, engine_reference, ensure_image
from ..containers.run import container_name, run_command
from ..runners import contract

OPT_ML = "/opt/ml"


def wanted_by(instance_type: str) -> lim.Wanted:
    """What ``instance_type`` asks for: the instance-type table's figures, with the memory and vCPUs the runner
    admitted the job with where it handed over a sandbox (``SHIPYARD_SANDBOX``, on Ray too)."""
    from ..instance_types import instance_resources
    from ..runners.sandbox import ENV_VAR, Sandbox

    if not instance_type:
        return lim.Wanted()
    per = instance_resources(instance_type)
    memory_mb, cpus = per.memory_mb, per.cpus
    given = os.environ.get(ENV_VAR)
    if given:
        sandbox = Sandbox.from_json(given)
        memory_mb, cpus = sandbox.memory_mb or memory_mb, sandbox.cpus or cpus
    return lim.Wanted(instance_type, memory_mb, cpus, int(per.gpus))


def container_limits(engine: Engine, instance_type: str, log,
                     supported: tuple[bool, bool] | None = None) -> lim.ContainerLimits:
    """The limits of a container of ``instance_type`` on this host (:func:`shipyard.containers.limits.for_host`)."""
    return lim.for_host(wanted_by(instance_type), engine.cli, engine.name, contract.detect_gpus(),
                        os.environ.get("CUDA_VISIBLE_DEVICES"), log, supported)


class _Probe(threading.Thread):
    """``docker info`` on what the engine can limit, asked while the image is looked up (both take a round trip
    to the daemon; a job's start-up waits for the slower one only)."""

    def __init__(self, engine: Engine):
        super().__init__(name="engine-limits", daemon=True)
        self.engine = engine
        self.answer: tuple[bool, bool] | None = None

    def run(self) -> None:
        self.answer = lim.engine_limits(self.engine.cli, self.engine.name)

    def result(self) -> tuple[bool, bool] | None:
        self.join(timeout=15)
        return self.answer


def gpu_count(limits: lim.ContainerLimits) -> int:
    """How many GPUs the container gets (``SM_NUM_GPUS``): the count of its ``--gpus`` value."""
    if not limits.gpus:
        return 0
    if limits.gpus == lim.ALL:
        return contract.detect_gpus()
    if limits.gpus.strip('"').startswith("device="):
        return len(limits.gpus.strip('"')[len("device="):].split(","))
    return int(limits.gpus)


def container_launch(job: dict, job_dir: Path, env: dict[str, str], *, hps: dict[str, str], input_config: dict,
                     resources: dict, environment: dict[str, str], distributed: dict[str, str], host: str,
                     grace: float, log) -> tuple[list[str], dict[str, str]]:
    """(the supervisor's command, its environment) for the job in ``job_dir``; ``env`` is the environment the
    executor built for any program (the host's without the server's settings, plus the job's AWS key)."""
    from .script import home_of

    req = job["request"]
    image = job["program"]["image"]
    engine = engine_for_jobs()
    probe = _Probe(engine)
    probe.start()
    account, region = account_and_region(job["arn"])
    reference, registry = engine_reference(image, home_of(job_dir), account, region)
    ensure_image(engine, reference, registry, log=log)
    instance_type = (req.get("ResourceConfig") or {}).get("InstanceType", "")
    limits = container_limits(engine, instance_type, log, probe.result())
    num_gpus = gpu_count(limits)
    inside = contract.Layout(OPT_ML)
    sm = contract.sm_environment(inside, hyperparameters=hps, input_config=input_config, resources=resources,
                                 job_name=req["TrainingJobName"], job_arn=job["arn"], num_gpus=num_gpus)
    variables = {**(job.get("aws_env") or {}), **sm, **distributed, **environment, "PYTHONUNBUFFERED": "1"}
    name = container_name("training", req["TrainingJobName"], f"{host}-{uuid.uuid4().hex[:6]}")
    network = "none" if req.get("EnableNetworkIsolation") else "host"
    folder = Path(job_dir).resolve()
    docker = run_command(engine.cli, name=name, image=reference, command=["train"],
                         mounts=[(str(folder), OPT_ML, False)], env_names=variables, network=network,
                         labels={"shipyard.training-job": req["TrainingJobName"]}, limits=limits, remove=False)
    oom = "ClientError: " + lim.out_of_memory_reason(limits.memory_mb, instance_type)
    cmd = [sys.executable, "-m", "shipyard.containers.run", "--engine", engine.cli, "--name", name,
           "--grace", str(grace), "--oom-file", str(folder / "output" / "failure"), "--oom-reason", oom,
           "--", *docker]
    return cmd, {**env, **variables}
