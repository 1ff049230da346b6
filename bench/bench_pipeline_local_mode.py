"""The SageMaker SDK's own local mode (``LocalPipelineSession``) against Shipyard, on the same small pipeline.

A chain of N no-op processing steps (``python3 -c 'print(i)'``, each step DependsOn the previous one) is built
once with the SDK's ``Processor`` and ``ProcessingStep``, then run three ways, each timed from the start of the
execution to its end (the median of ``--repeat`` runs, after a 1-step warm-up run on each side):

1. the SDK's local mode: ``LocalPipelineSession`` runs every step in the calling process, one
   ``docker-compose up`` of the image per step, on the local Docker engine;
2. Shipyard, the same definition with the same image (a bring-your-own processing image run through the
   container runner), so the two compare like for like;
3. Shipyard with the SDK's sklearn image URI, which it runs without a container (for reference).

Why the image is local: public AWS images cannot be pulled here, so both sides use ``shipyard/test-base:1``
(Debian plus python3, built and cached by ``shipyard.containers.base_image``). Local mode skips the ECR login
and pull for an image that is not an ECR URI, so it uses the local image as is.

What local mode needs, from the SDK's ``sagemaker/local/image.py``: ``docker compose`` v2 or ``docker-compose``
on PATH (``apt-get install -y docker-compose`` gives 1.29; ``--install-compose`` runs that when missing and we
are root), the image present in the engine, and a region (given here with a boto3 session and dummy
credentials: local mode calls no AWS service for a pipeline without S3 inputs or outputs). When one of these is
missing the script says which and still prints the Shipyard figures.

Where local mode's time goes (measured on the 2-core dev machine): about 3 s a step, of which a bare
``docker run --rm`` of the image is ~0.35 s and starting docker-compose 1.29 (a Python program) ~0.4 s; the rest
is compose's project, network and container set-up and tear-down per step, plus the SDK's per-job temporary
folders. Steps run one after another in the calling process.

    .venv/bin/python bench/bench_pipeline_local_mode.py [--steps 5] [--repeat 3] [--install-compose]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")

from shipyard.testing.server import ShipyardProcess  # noqa: E402

ROLE = "arn:aws:iam::123456789012:role/bench"
REGION = "us-east-1"
SKLEARN_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
POLL = 0.05
# The SDK reports each pipeline.start() to an AWS telemetry bucket; unreachable here, and not part of either run.
NO_TELEMETRY = {"SchemaVersion": "1.0", "SageMaker": {"PythonSDK": {"Modules": {"TelemetryOptOut": True}}}}


def compose_available(install: bool) -> str | None:
    """None when local mode can find docker compose; otherwise why not (after an install attempt if asked)."""
    def found() -> bool:
        if shutil.which("docker-compose"):
            return True
        try:
            done = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return False
        return done.returncode == 0 and "v2" in done.stdout

    if found():
        return None
    if install and os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-q", "docker-compose"], capture_output=True, timeout=600)
        if found():
            return None
    return ("neither 'docker compose' v2 nor 'docker-compose' is on PATH, and local mode needs one "
            "(install with: apt-get install -y docker-compose, or rerun with --install-compose as root)")


def local_image() -> str:
    """Build (or find, cached) the test base image; raise with the reason when no engine or image is there."""
    from shipyard.containers.base_image import BASE_IMAGE, ensure_base_image
    from shipyard.containers.daemon import provide_engine

    provided = provide_engine(os.environ.get("SHIPYARD_CONTAINER_ENGINE", ""))
    return ensure_base_image(provided.engine, BASE_IMAGE).ref


def sdk_pipeline(session, image: str, n: int, name: str):
    """A chain of n no-op ProcessingSteps built with the SDK over ``session``."""
    from sagemaker.processing import Processor
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.steps import ProcessingStep

    steps: list = []
    for i in range(n):
        proc = Processor(role=ROLE, image_uri=image, instance_count=1,
                         instance_type="local" if session.local_mode else "ml.m5.large",
                         entrypoint=["python3", "-c", f"print({i})"], sagemaker_session=session,
                         max_runtime_in_seconds=300, volume_size_in_gb=1)
        steps.append(ProcessingStep(name=f"S{i}", step_args=proc.run(),
                                    depends_on=[steps[-1].name] if steps else None))
    return Pipeline(name=name, steps=steps, sagemaker_session=session)


def run_local_mode(image: str, n: int) -> float:
    import boto3
    from sagemaker.workflow.pipeline_context import LocalPipelineSession

    boto = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    session = LocalPipelineSession(boto_session=boto)
    session.sagemaker_config = NO_TELEMETRY
    pipeline = sdk_pipeline(session, image, n, f"bench-local-{uuid.uuid4().hex[:8]}")
    pipeline.upsert(role_arn=ROLE)
    sink = io.StringIO()  # local mode streams every container's output to stdout
    t0 = time.perf_counter()
    with contextlib.redirect_stdout(sink):
        execution = pipeline.start()
        while True:  # LocalPipelineSession runs the whole pipeline inside start(); this loop is a guard
            status = execution.describe()["PipelineExecutionStatus"]
            if status not in ("Executing", "Starting") or time.perf_counter() - t0 > 900:
                break
            time.sleep(POLL)
    took = time.perf_counter() - t0
    if status != "Succeeded":
        steps = execution.list_steps()
        reasons = [s.get("FailureReason", "") for s in steps if s.get("StepStatus") == "Failed"]
        raise RuntimeError(f"local mode pipeline ended {status}: {reasons} {sink.getvalue()[-1500:]}")
    return took


def shipyard_definition(image: str, n: int) -> str:
    """The same chain as the SDK emits it, for Shipyard (no session that talks to a server is needed)."""
    from sagemaker.workflow.pipeline_context import PipelineSession
    import boto3

    boto = boto3.Session(aws_access_key_id="bench", aws_secret_access_key="bench", region_name=REGION)
    session = PipelineSession(boto_session=boto, default_bucket="bench")
    session.sagemaker_config = NO_TELEMETRY
    return sdk_pipeline(session, image, n, "bench").definition()


def run_shipyard(sm, definition: str) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    sm.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition)
    t0 = time.perf_counter()
    arn = sm.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    while True:
        status = sm.describe_pipeline_execution(PipelineExecutionArn=arn)["PipelineExecutionStatus"]
        if status in ("Succeeded", "Failed", "Stopped") or time.perf_counter() - t0 > 900:
            break
        time.sleep(POLL)
    took = time.perf_counter() - t0
    if status != "Succeeded":
        steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
        raise RuntimeError(f"Shipyard pipeline {name} ended {status}: "
                           f"{[s.get('FailureReason') for s in steps if s.get('FailureReason')]}")
    return took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each side; the median is reported")
    ap.add_argument("--install-compose", action="store_true",
                    help="apt-get install docker-compose when local mode cannot find it (needs root)")
    args = ap.parse_args()
    import sagemaker  # noqa: F401  (configures its loggers on import; quieten them after)

    for logger in ("sagemaker", "sagemaker.config"):
        logging.getLogger(logger).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="sagemaker")

    image: str | None = None
    why_not: str | None = None
    try:
        image = local_image()
    except Exception as e:  # no engine or no base image: local mode and the like-for-like run cannot happen
        why_not = f"no local image with python3 ({type(e).__name__}: {e})"
    if why_not is None:
        why_not = compose_available(args.install_compose)

    local: float | None = None
    if why_not is None and image:
        try:
            run_local_mode(image, 1)  # warm-up: SDK imports, first compose network
            local = statistics.median(run_local_mode(image, args.steps) for _ in range(args.repeat))
        except Exception as e:
            why_not = f"local mode failed: {type(e).__name__}: {str(e)[:600]}"

    with tempfile.TemporaryDirectory() as tmp:
        server = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            sm = server.client("sagemaker")
            run_shipyard(sm, shipyard_definition(SKLEARN_IMAGE, 1))  # warm-up: first imports on the server
            byo = None
            if image:
                run_shipyard(sm, shipyard_definition(image, 1))
                byo = statistics.median(run_shipyard(sm, shipyard_definition(image, args.steps))
                                        for _ in range(args.repeat))
            sklearn = statistics.median(run_shipyard(sm, shipyard_definition(SKLEARN_IMAGE, args.steps))
                                        for _ in range(args.repeat))
        finally:
            server.stop(kill_children=True)

    n = args.steps
    print(f"{n}-step chain of no-op processing steps, start of execution to Succeeded "
          f"(median of {args.repeat}):")
    if local is not None:
        print(f"  SDK local mode (LocalPipelineSession, docker-compose, {image}): {local:.2f}s")
    else:
        print(f"  SDK local mode: not run: {why_not}")
    if byo is not None:
        print(f"  Shipyard, same image ({image}, bring-your-own container):   {byo:.2f}s")
    print(f"  Shipyard, the SDK's sklearn image URI (reference):                 {sklearn:.2f}s")
    if local is not None and byo is not None:
        print(f"ratio local mode / Shipyard (same image): {local / byo:.2f}x "
              f"({'Shipyard faster' if byo < local else 'local mode faster'})")
        print(f"ratio local mode / Shipyard (sklearn image): {local / sklearn:.2f}x")
    print(json.dumps({"steps": n, "local_mode_s": local, "shipyard_same_image_s": byo,
                      "shipyard_sklearn_s": sklearn, "local_mode_not_run": why_not}))


if __name__ == "__main__":
    main()
