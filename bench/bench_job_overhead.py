"""Training-job start-up overhead: from CreateTrainingJob returning to the first line of the user's script.

The peer is a bare ``python train.py`` (what running the script by hand costs: interpreter start-up). A
Shipyard job adds the controller noticing the job, the launcher and executor processes, staging a small
channel and the sourcedir archive, and the SM_* environment. Target: under 0.5 s of overhead.

The script's first line records ``time.time()`` into a file named by the job's Environment; the same script
is run bare. Also reported: CreateTrainingJob to Completed as seen through DescribeTrainingJob polling.

    .venv/bin/python bench/bench_job_overhead.py [--n 8]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

SCRIPT = """import time, os
T = time.time()
open(os.environ["FIRST_LINE_FILE"], "w").write(repr(T))
open(os.path.join(os.environ.get("SM_MODEL_DIR", "."), "model.txt"), "w").write("m")
"""


def _sourcedir() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        data = SCRIPT.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _wait_file(path: Path, timeout: float = 30.0) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            text = path.read_text()
            if text:
                return float(text)
        except (OSError, ValueError):
            pass
        time.sleep(0.002)
    raise RuntimeError(f"{path} never written")


def bare(n: int, tmp: Path) -> list[float]:
    script = tmp / "train.py"
    script.write_text(SCRIPT)
    out = []
    for i in range(n):
        marker = tmp / f"bare-{i}"
        env = dict(os.environ, FIRST_LINE_FILE=str(marker), SM_MODEL_DIR=str(tmp))
        t0 = time.time()
        subprocess.run([sys.executable, str(script)], env=env, check=True, cwd=tmp)
        out.append(float(marker.read_text()) - t0)
    return out


def shipyard(n: int, tmp: Path) -> tuple[list[float], list[float]]:
    server = ShipyardProcess(tmp / "home", log_level="warning").start()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="code/sourcedir.tar.gz", Body=_sourcedir())
        s3.put_object(Bucket="bench", Key="data/train/data.csv", Body=b"1,2,3\n" * 1000)
        first, total = [], []
        for i in range(n):
            name = f"overhead-{i}-{int(time.time())}"
            marker = tmp / f"job-{i}"
            params = dict(
                TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Bench",
                AlgorithmSpecification={"TrainingImage": "sagemaker-scikit-learn", "TrainingInputMode": "File"},
                HyperParameters={"sagemaker_program": '"train.py"',
                                 "sagemaker_submit_directory": '"s3://bench/code/sourcedir.tar.gz"'},
                InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
                    "S3DataType": "S3Prefix", "S3Uri": "s3://bench/data/train"}}}],
                OutputDataConfig={"S3OutputPath": "s3://bench/out"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 60},
                Environment={"FIRST_LINE_FILE": str(marker)})
            t_call = time.time()
            sm.create_training_job(**params)
            t0 = time.time()
            first.append(_wait_file(marker) - t0)
            while sm.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
                time.sleep(0.02)
            total.append(time.time() - t_call)
        return first, total
    finally:
        server.stop(kill_children=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-job-") as d:
        tmp = Path(d)
        b = bare(args.n, tmp)
        first, total = shipyard(args.n, tmp)
    med = statistics.median
    print(f"{'measure':48s} {'median s':>9s} {'min s':>7s} {'max s':>7s}")
    print(f"{'bare `python train.py` -> first line':48s} {med(b):9.3f} {min(b):7.3f} {max(b):7.3f}")
    print(f"{'CreateTrainingJob returned -> first line':48s} {med(first):9.3f} {min(first):7.3f} {max(first):7.3f}")
    print(f"{'CreateTrainingJob -> Completed (Describe)':48s} {med(total):9.3f} {min(total):7.3f} {max(total):7.3f}")
    overhead = med(first) - med(b)
    print(f"job start-up overhead over bare python: {overhead:.3f} s (target < 0.5 s); "
          f"ratio first-line latency shipyard/bare = {med(first) / med(b):.1f}x")


if __name__ == "__main__":
    main()
