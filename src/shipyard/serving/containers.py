"""Which model-server layout a variant's container definitions need, and how to build it.

One place decides, for the hosting controller (deploy and heal alike) and for the model server:

- one ``SingleModel`` container: :func:`shipyard.serving.deploy.prepare` (the plain, benchmarked path);
- several containers: an inference pipeline (:mod:`.pipeline`), all stages in one model server;
- a ``Mode=MultiModel`` container: a multi-model server (:mod:`.multimodel`) that loads artifacts on demand.

The model server calls :func:`special_app` when started with ``--pipeline`` or ``--multi-model``.

A single script-mode container of a framework image (``sagemaker-scikit-learn:1.2-1-cpu-py3`` with an
``inference.py``) runs its model server on that image's environment (:func:`with_environment`, see
:mod:`shipyard.environments`): ``prepared["python"]`` names the interpreter, and ``PYTHONPATH`` gives it the
server's own code only. Building the environment on first use is logged into the endpoint's log (stream
``<variant>/environment``).
"""

from __future__ import annotations

from pathlib import Path

from .deploy import DeployError, prepare


def prepare_variant(services, variant: dict, variant_dir: Path, gen: int) -> dict:
    """Fetch what ``variant`` needs and return how to start its model server (see :func:`.deploy.prepare`)."""
    containers = variant["containers"]
    if not containers:
        raise DeployError(f"Variant {variant['name']} has no container.")
    if any(c.get("Mode") == "MultiModel" for c in containers):
        if len(containers) != 1:
            raise DeployError("A multi-model container cannot be part of an inference pipeline.")
        from .multimodel import prepare_multimodel

        prepared = prepare_multimodel(services, containers[0], variant_dir, gen)
    elif len(containers) > 1:
        from .pipeline import prepare_pipeline

        prepared = prepare_pipeline(services.objects, containers, variant_dir, gen,
                                    variant.get("execution_mode") or "Serial")
    else:
        prepared = prepare(services.objects, containers[0], variant_dir, gen)
    return with_environment(services, containers[0], prepared, variant_dir)


def with_environment(services, container: dict, prepared: dict, variant_dir: Path, log=None, home=None) -> dict:
    """``prepared`` (see :func:`.deploy.prepare`, or a pipeline's / multi-model server's) set to run a script-mode
    model server on the interpreter of its image's environment; unchanged for built-in algorithms and images
    without one. A pipeline names the image its stages share in ``prepared["environment_image"]`` (None: the
    server's Python, with ``environment_warning`` saying why). A batch transform passes ``log`` (its job log)
    and ``home`` instead of ``services``; an endpoint logs to ``<variant_dir>/instance-environment.log``."""
    from ..environments import (SERVER_SITE_ENV, EnvironmentError_, ensure_for_image, mode, root_for, server_lib,
                                server_site_packages)

    pipeline = "environment_image" in prepared
    if (not pipeline and "--script-program" not in prepared["args"]) or mode() == "server":
        return prepared
    log_path = variant_dir / "instance-environment.log"

    def log_to_file(message: str) -> None:
        import time

        with open(log_path, "a") as f:
            f.write(f"{time.strftime('%Y-%m-%dT%H:%M:%S')} {message}\n")

    log = log or log_to_file
    if prepared.get("environment_warning"):
        log(f"WARNING: {prepared['environment_warning']}")
    image = prepared["environment_image"] if pipeline else container.get("Image", "")
    if not image:
        return prepared
    home = services.settings.home if services is not None else home
    try:
        env_prepared = ensure_for_image(image, home, log)
    except EnvironmentError_ as e:
        raise DeployError(f"The environment of image {image} could not be built: {e}") from None
    if env_prepared.path is None:
        return prepared
    env = dict(prepared["env"])
    lib = str(server_lib(root_for(home)))
    env["PYTHONPATH"] = lib + (":" + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if prepared.get("environment_server_site"):  # a pipeline's built-in stages: see shipyard.environments.builder
        env[SERVER_SITE_ENV] = ":".join(server_site_packages())
    return {**prepared, "python": env_prepared.python, "env": env}


def special_app(args):
    """The ModelApp for a model server started with ``--pipeline`` or ``--multi-model``."""
    if args.pipeline:
        from .pipeline import PipelineApp

        return PipelineApp.from_spec(args.pipeline)
    from .multimodel import MultiModelApp

    return MultiModelApp.from_args(args)


def handler_args(argv: list[str]) -> dict:
    """``["--handler", X]`` / ``["--script-program", P, "--code-dir", D]`` -> load_handler keyword arguments."""
    names = {"--handler": "handler", "--script-program": "program", "--code-dir": "code_dir"}
    out: dict = {}
    for flag, value in zip(argv[::2], argv[1::2]):
        if flag in names:
            out[names[flag]] = value
    return out
