"""A bring-your-own training image: what the executor runs for a job whose program kind is ``container``.

Everything around the program stays the executor's (channels downloaded into the job folder,
``hyperparameters.json`` and ``resourceconfig.json``, the model upload, status and stop handling). Here the
job folder, which already is the job's ``/opt/ml``, is mounted at ``/opt/ml`` in a container of the image,
run with the command ``train`` as SageMaker's bring-your-own contract says, with the ``SM_*`` variables (paths
under ``/opt/ml``), the job's ``Environment`` and its own scoped AWS key. The executor starts
``python -m shipyard.containers.run`` (the supervisor that turns SIGTERM into ``docker stop -t <grace>``), so
its stop, MaxRuntime and failure-reason logic (``/opt/ml/output/failure``) apply unchanged.

Network: the host's (the job reaches the Shipyard server on loopback with its key, as a script does), or none
with ``EnableNetworkIsolation``. GPUs: ``--gpus`` with the instance type's count, capped at the machine's.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from ..containers.images import account_and_region, engine_for_jobs, engine_reference, ensure_image
from ..containers.run import container_name, run_command
from ..runners import contract

OPT_ML = "/opt/ml"


def _gpus(instance_type: str, log) -> int:
    from ..instance_types import instance_resources

    wanted = int(instance_resources(instance_type).gpus) if instance_type else 0
    have = contract.detect_gpus()
    if wanted and not have:
        log(f"note: {instance_type} has {wanted} GPU(s) but this machine has none: the container runs without")
    return min(wanted, have)


def container_launch(job: dict, job_dir: Path, env: dict[str, str], *, hps: dict[str, str], input_config: dict,
                     resources: dict, environment: dict[str, str], distributed: dict[str, str], host: str,
                     grace: float, log) -> tuple[list[str], dict[str, str]]:
    """(the supervisor's command, its environment) for the job in ``job_dir``; ``env`` is the environment the
    executor built for any program (the host's without the server's settings, plus the job's AWS key)."""
    from .script import home_of

    req = job["request"]
    image = job["program"]["image"]
    engine = engine_for_jobs()
    account, region = account_and_region(job["arn"])
    reference, registry = engine_reference(image, home_of(job_dir), account, region)
    ensure_image(engine, reference, registry, log=log)
    instance_type = (req.get("ResourceConfig") or {}).get("InstanceType", "")
    num_gpus = _gpus(instance_type, log)
    inside = contract.Layout(OPT_ML)
    sm = contract.sm_environment(inside, hyperparameters=hps, input_config=input_config, resources=resources,
                                 job_name=req["TrainingJobName"], job_arn=job["arn"], num_gpus=num_gpus)
    variables = {**(job.get("aws_env") or {}), **sm, **distributed, **environment, "PYTHONUNBUFFERED": "1"}
    name = container_name("training", req["TrainingJobName"], f"{host}-{uuid.uuid4().hex[:6]}")
    network = "none" if req.get("EnableNetworkIsolation") else "host"
    docker = run_command(engine.cli, name=name, image=reference, command=["train"],
                         mounts=[(str(Path(job_dir).resolve()), OPT_ML, False)], env_names=variables,
                         network=network, gpus=num_gpus,
                         labels={"shipyard.training-job": req["TrainingJobName"]})
    cmd = [sys.executable, "-m", "shipyard.containers.run", "--engine", engine.cli, "--name", name,
           "--grace", str(grace), "--", *docker]
    return cmd, {**env, **variables}
