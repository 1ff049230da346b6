"""A bring-your-own processing image: what the executor runs for a job whose program kind is ``container``.

Everything around the program stays the executor's (inputs staged into the host folder, the config files,
output uploads, status and stop handling). Here the host folder, which already is the job's ``/opt/ml``, is
mounted at ``/opt/ml`` in a container of the image, started with ``ContainerEntrypoint`` (``--entrypoint``
takes its first word, the rest lead the command) and ``ContainerArguments`` (or the image's own ENTRYPOINT and
CMD where the request names none), the job's ``Environment`` and its own scoped AWS key. As for training
(:mod:`shipyard.training.container`), the executor starts the supervisor ``python -m shipyard.containers.run``,
which turns SIGTERM into ``docker stop -t <grace>``.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from ..containers.images import account_and_region, engine_for_jobs, engine_reference, ensure_image
from ..containers.run import container_name, run_command
from .job_file import ProcessingJobFile

OPT_ML = "/opt/ml"


def container_launch(job: ProcessingJobFile, job_dir: Path, env: dict[str, str], environment: dict[str, str], *,
                     host: str, grace: float, log) -> tuple[list[str], dict[str, str]]:
    """(the supervisor's command, its environment) for the host in ``job_dir``."""
    from ..training.script import home_of

    req = job.request
    app = req["AppSpecification"]
    engine = engine_for_jobs()
    account, region = account_and_region(job.arn)
    reference, registry = engine_reference(job.program["image"], home_of(job_dir), account, region)
    ensure_image(engine, reference, registry, log=log)
    variables = {**(job.aws_env or {}), **environment, "PYTHONUNBUFFERED": "1"}
    name = container_name("processing", req["ProcessingJobName"], f"{host}-{uuid.uuid4().hex[:6]}")
    network = "none" if (req.get("NetworkConfig") or {}).get("EnableNetworkIsolation") else "host"
    entrypoint = list(app.get("ContainerEntrypoint") or [])
    command = [*entrypoint[1:], *(app.get("ContainerArguments") or [])]
    docker = run_command(engine.cli, name=name, image=reference, command=command,
                         mounts=[(str(Path(job_dir).resolve()), OPT_ML, False)], env_names=variables,
                         network=network, labels={"shipyard.processing-job": req["ProcessingJobName"]})
    if entrypoint:  # docker run [options] --entrypoint <first word> <image> <rest...>
        at = len(docker) - len(command) - 1
        docker[at:at] = ["--entrypoint", entrypoint[0]]
    cmd = [sys.executable, "-m", "shipyard.containers.run", "--engine", engine.cli, "--name", name,
           "--grace", str(grace), "--", *docker]
    return cmd, {**env, **variables}
