"""Training-job start overhead of a bring-your-own container vs a script-mode process job.

From CreateTrainingJob returning to the first line of the user's code, which prints ``time.time()``; the
figure is read back from the job's log (the printed time, so log polling adds nothing):

- ``python train.py`` bare, and ``docker run --rm <image> train`` bare: the floors;
- a script-mode job (``sagemaker-scikit-learn`` image, the server's Python): a process under the executor;
- a container job (the same ``train`` baked into a small image over the test base image): the executor, the
  supervisor (``containers/run.py``) and ``docker run``.

Goal (issue 14): a container adds under 1 s. Needs a Docker daemon (started here if none answers, as root).

    .venv/bin/python bench/bench_container_start.py [--n 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "training"))

TRAIN = 'import time\nprint("FIRST_LINE", repr(time.time()), flush=True)\n'
DOCKERFILE = """FROM {base}
COPY train /usr/local/bin/train
RUN chmod +x /usr/local/bin/train
"""
ROLE = "arn:aws:iam::123456789012:role/Bench"


def first_line(text: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("FIRST_LINE "):
            return float(line.split()[1])
    return None


def bare_python(n: int, tmp: Path) -> list[float]:
    script = tmp / "train.py"
    script.write_text(TRAIN)
    out = []
    for _ in range(n):
        t0 = time.time()
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, check=True)
        out.append(first_line(done.stdout) - t0)
    return out


def bare_docker(engine, image: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.time()
        done = subprocess.run(engine.command("run", "--rm", "--network", "host", image, "train"),
                              capture_output=True, text=True, check=True)
        out.append(first_line(done.stdout) - t0)
    return out


def build_image(engine, tmp: Path) -> str:
    from shipyard.containers.base_image import ensure_base_image

    base = ensure_base_image(engine).ref
    context = tmp / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (context / "train").write_text("#!/usr/bin/env python3\n" + TRAIN)
    ref = "shipyard-bench/first-line:1"
    subprocess.run(engine.command("build", "-q", "-t", ref, str(context)), check=True, capture_output=True,
                   env={**os.environ, "DOCKER_BUILDKIT": "0"})
    return ref


def jobs(srv, image: str, n: int, container: bool) -> list[float]:
    from training_helpers import log_messages, wait_status

    sm, logs = srv.client("sagemaker"), srv.client("logs")
    out = []
    for i in range(n):
        name = f"{'container' if container else 'script'}-{i}-{int(time.time())}"
        spec = {"TrainingImage": image if container else "sagemaker-scikit-learn", "TrainingInputMode": "File"}
        hps = {} if container else {"sagemaker_program": '"train.py"',
                                    "sagemaker_submit_directory": '"s3://bench/code/sourcedir.tar.gz"'}
        t0 = time.time()
        sm.create_training_job(
            TrainingJobName=name, RoleArn=ROLE, AlgorithmSpecification=spec, HyperParameters=hps,
            InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                "S3DataType": "S3Prefix", "S3Uri": "s3://bench/data/train"}}}],
            OutputDataConfig={"S3OutputPath": "s3://bench/out"},
            ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            StoppingCondition={"MaxRuntimeInSeconds": 120})
        desc = wait_status(sm, name, timeout=120)
        if desc["TrainingJobStatus"] != "Completed":
            raise RuntimeError(f"{name}: {desc['TrainingJobStatus']} {desc.get('FailureReason', '')}")
        printed = first_line("\n".join(log_messages(logs, name)))
        if printed is None:
            raise RuntimeError(f"{name}: no FIRST_LINE in its log")
        out.append(printed - t0)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=5)
    args = ap.parse_args()
    from shipyard.containers.daemon import provide_engine
    from shipyard.testing.archives import tarball
    from shipyard.testing.server import ShipyardProcess

    os.environ.setdefault("SHIPYARD_ENVIRONMENTS", "server")  # script mode on the server's Python, as in tests
    provided = provide_engine()
    rows: dict[str, list[float]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-start-") as d:
            tmp = Path(d)
            image = build_image(provided.engine, tmp)
            rows["bare python train.py"] = bare_python(args.n, tmp)
            rows["bare docker run --rm <image> train"] = bare_docker(provided.engine, image, args.n)
            srv = ShipyardProcess(tmp / "home", log_level="warning").start()
            try:
                s3 = srv.client("s3")
                s3.create_bucket(Bucket="bench")
                s3.put_object(Bucket="bench", Key="code/sourcedir.tar.gz", Body=tarball({"train.py": TRAIN.encode()}))
                s3.put_object(Bucket="bench", Key="data/train/data.csv", Body=b"1,2,3\n" * 1000)
                rows["script-mode job (process)"] = jobs(srv, image, args.n, container=False)
                rows["container job (docker run)"] = jobs(srv, image, args.n, container=True)
            finally:
                srv.stop(kill_children=True)
    finally:
        provided.stop()
    med = statistics.median
    print(f"CreateTrainingJob (or the bare command) -> first line of user code, n={args.n}")
    print(f"{'path':40}{'median s':>10}{'min s':>8}{'max s':>8}")
    for name, samples in rows.items():
        print(f"{name:40}{med(samples):>10.3f}{min(samples):>8.3f}{max(samples):>8.3f}")
    script, container = med(rows["script-mode job (process)"]), med(rows["container job (docker run)"])
    print(f"container job - script-mode job: {container - script:+.3f} s (goal: a container adds < 1 s); "
          f"ratio {container / script:.2f}x; docker run alone costs "
          f"{med(rows['bare docker run --rm <image> train']) - med(rows['bare python train.py']):.3f} s over python")
    return 0


if __name__ == "__main__":
    sys.exit(main())
