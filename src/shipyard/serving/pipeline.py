"""Inference pipelines: a model with several ``Containers``, run in sequence on every instance.

Design (the simplest fast one): **one model-server process per instance hosts the whole chain**. Each
container is prepared as it would be alone (:func:`.deploy.prepare`, in its own folder ``c<i>``), and the
model server loads one handler per container, in order, with that container's ``Environment`` applied while
it loads. A request then passes through the handlers in-process: each stage's response body goes to the
next with the previous response's Content-Type, exactly the bytes an HTTP hop would carry, but without a
socket round trip, a process and a port per container. The router, pooling and healing see one instance
like any other, so nothing on the single-model fast path changes.

Accept: intermediate stages get their container's ``SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT`` if set (the usual
way to choose the format between containers), else the client's Accept; the last stage gets the client's.

``InferenceExecutionConfig.Mode``: ``Serial`` (default) runs the chain; ``Direct`` runs only the container
named by ``X-Amzn-SageMaker-Target-Container-Hostname`` (required there; allowed in Serial too).

Framework images: the process runs on the environment of its script-mode stages' image when they all share one
(:func:`shared_environment`, applied by :func:`.containers.with_environment`), its built-in algorithm stages
too (with the server's packages after the environment's own); one mixing environments runs on the server's Python,
with a warning in its log.

Limit of sharing a process: environment variables a handler reads *per request* (rather than while it loads)
see the process's environment, which is the first container's merged with the others'.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path

from ..errors import ValidationError
from .containers import handler_args
from .deploy import prepare
from .model_server import ModelApp, load_handler

TARGET_HOST = "x-amzn-sagemaker-target-container-hostname"
DEFAULT_ACCEPT = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"


def hostname(container: dict, index: int) -> str:
    return container.get("ContainerHostname") or f"container-{index + 1}"


def prepare_pipeline(objects, containers: list[dict], variant_dir: Path, gen: int, mode: str = "Serial") -> dict:
    """Prepare every container of a pipeline; return how to start the one model server that runs them all."""
    if mode not in ("Serial", "Direct"):
        raise ValidationError(f"InferenceExecutionConfig.Mode {mode!r} is not one of Serial, Direct.")
    root = variant_dir / ("pipeline" if gen == 0 else f"pipeline-{gen}")
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    stages = []
    for i, c in enumerate(containers):
        p = prepare(objects, c, root / f"c{i}", 0)
        stages.append({"hostname": hostname(c, i), "model_dir": p["model_dir"], "args": p["args"], "env": p["env"]})
    spec_path = root / "pipeline.json"
    spec_path.write_text(json.dumps({"mode": mode, "stages": stages}, indent=1))
    # The first container's environment is the process's (its handler may read it per request).
    image, warning = shared_environment(containers, stages)
    return {"model_dir": str(root), "args": ["--pipeline", str(spec_path)], "env": dict(stages[0]["env"]),
            "environment_image": image, "environment_warning": warning,
            "environment_server_site": image is not None and any("--script-program" not in s["args"] for s in stages)}


def shared_environment(containers: list[dict], stages: list[dict]) -> tuple[str | None, str | None]:
    """The framework image whose environment the pipeline's one process runs on (see
    :func:`.containers.with_environment`): that of its script-mode stages when they all share one (built-in
    algorithm stages then see the server's packages after the environment's, with a warning saying so); else None
    (the server's Python) and, when a stage wanted an environment, a warning saying why it does not get it."""
    from ..environments.spec import spec_for_image

    keys: dict[str, str] = {}  # environment key -> an image standing for it
    builtin = []
    for c, s in zip(containers, stages):
        if "--script-program" not in s["args"]:
            builtin.append(s["hostname"])
            continue
        try:
            spec = spec_for_image(c.get("Image", ""))
        except Exception:  # noqa: BLE001 - a bad tag was refused by CreateModel
            spec = None
        keys.setdefault(spec.dirname if spec else "", c.get("Image", ""))
    wanted = sorted(k for k in keys if k)
    if not wanted:
        return None, None
    if len(keys) == 1:  # built-in stages too: they use the server's packages after the environment's own
        return keys[wanted[0]], None if not builtin else (
            f"the inference pipeline's built-in algorithm stages ({', '.join(builtin)}) run on the environment of "
            f"{keys[wanted[0]]} too, with the server's packages after the environment's own")
    why = (f"its built-in algorithm stages ({', '.join(builtin)}) need the server's packages" if builtin else
           "its stages' images need different environments (" +
           ", ".join(sorted(k or "the server's Python" for k in keys)) + ")")
    return None, (f"the inference pipeline runs in one process on the server's own Python, not the environment "
                  f"of {', '.join(keys[k] for k in wanted)}: {why}")


@contextlib.contextmanager
def applied_env(env: dict[str, str]):
    """``env`` in os.environ while a stage's handler loads (handlers read their settings at load time)."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class Stage:
    __slots__ = ("hostname", "handler", "accept")

    def __init__(self, hostname: str, handler, accept: str | None):
        self.hostname, self.handler, self.accept = hostname, handler, accept


class PipelineHandler:
    """The chain of handlers; ``invoke`` has the InferenceHandler signature, so ModelApp serves it as is."""

    def __init__(self, stages: list[Stage]):
        self.stages = stages
        self.by_host = {s.hostname: s for s in stages}

    @classmethod
    def load(cls, spec: dict) -> "PipelineHandler":
        stages = []
        for s in spec["stages"]:
            env = s.get("env") or {}
            with applied_env(env):
                handler = load_handler(s["model_dir"], **handler_args(s["args"]))
            stages.append(Stage(s["hostname"], handler, env.get(DEFAULT_ACCEPT)))
        return cls(stages)

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        last = len(self.stages) - 1
        for i, stage in enumerate(self.stages):
            body, content_type = stage.handler.invoke(body, content_type,
                                                      accept if i == last else (stage.accept or accept))
            content_type = content_type or "application/octet-stream"
        return body, content_type

    def direct(self, target: str | None) -> "_Direct":
        return _Direct(self, target)


class _Direct:
    """One stage of the pipeline, picked by TargetContainerHostname (Direct mode)."""

    def __init__(self, pipeline: PipelineHandler, target: str | None):
        self.pipeline, self.target = pipeline, target

    def invoke(self, body: bytes, content_type: str, accept: str) -> tuple[bytes, str]:
        if not self.target:
            raise ValidationError("This endpoint's model uses InferenceExecutionConfig Mode Direct: name a "
                                  "container with TargetContainerHostname.")
        stage = self.pipeline.by_host.get(self.target)
        if stage is None:
            raise ValidationError(f"TargetContainerHostname {self.target} is not a container of this model; "
                                  f"choose one of {', '.join(self.pipeline.by_host)}.")
        return stage.handler.invoke(body, content_type, accept or stage.accept or "")


class PipelineApp(ModelApp):
    def __init__(self, pipeline: PipelineHandler, mode: str = "Serial", **kw):
        super().__init__(pipeline, **kw)
        self.mode = mode

    @classmethod
    def from_spec(cls, path: str) -> "PipelineApp":
        spec = json.loads(Path(path).read_text())
        return cls(PipelineHandler.load(spec), spec.get("mode", "Serial"),
                   max_concurrent_transforms=int(os.environ.get("SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", "1")),
                   max_payload_mb=int(os.environ.get("SAGEMAKER_MAX_PAYLOAD_IN_MB", "6")))

    def invoke(self, req):
        target = req.headers.get(TARGET_HOST)
        if target or self.mode == "Direct":
            return ModelApp(self.handler.direct(target)).invoke(req)
        return super().invoke(req)
