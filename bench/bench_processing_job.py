"""Processing-job overhead: CreateProcessingJob -> Completed for a no-op SKLearnProcessor-style script, against
running the same script directly with ``python`` (what a user does without a platform).

The job is what the SageMaker SDK's ``SKLearnProcessor.run`` sends: the script as input ``code`` at
``/opt/ml/processing/input/code``, a small data input, one EndOfJob output, ``python3`` as the entry point. A
Shipyard job adds the controller noticing it, the executor process, staging the two inputs through the server's
S3 API, the sandbox, uploading the output and the outcome reaching DescribeProcessingJob (polled every 20 ms).
The bare run is ``python script.py`` on the same files (the script reads and writes the same relative layout).

    .venv/bin/python bench/bench_processing_job.py [--n 6]
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

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.server import ShipyardProcess  # noqa: E402

IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3"
# No-op preprocessing: read the input, write one output (the base folder is /opt/ml/processing in a job).
SCRIPT = """import os, sys
base = sys.argv[1] if len(sys.argv) > 1 else "/opt/ml/processing"
rows = open(os.path.join(base, "input", "data", "data.csv")).read().splitlines()
os.makedirs(os.path.join(base, "output"), exist_ok=True)
open(os.path.join(base, "output", "count.txt"), "w").write(str(len(rows)))
"""


def bare(n: int, tmp: Path) -> list[float]:
    base = tmp / "bare"
    (base / "input" / "data").mkdir(parents=True)
    (base / "input" / "data" / "data.csv").write_text("1,2,3\n" * 1000)
    script = tmp / "preprocess.py"
    script.write_text(SCRIPT)
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, str(script), str(base)], check=True)
        out.append(time.perf_counter() - t0)
    return out


def shipyard(n: int, tmp: Path) -> list[float]:
    server = ShipyardProcess(tmp / "home", log_level="warning").start()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="code/preprocess.py", Body=SCRIPT.encode())
        s3.put_object(Bucket="bench", Key="data/data.csv", Body=b"1,2,3\n" * 1000)
        total = []
        for i in range(n):
            name = f"bench-processing-{i}-{int(time.time())}"
            params = dict(
                ProcessingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Bench",
                ProcessingInputs=[
                    {"InputName": "code", "S3Input": {"S3Uri": "s3://bench/code/preprocess.py",
                                                      "LocalPath": "/opt/ml/processing/input/code",
                                                      "S3DataType": "S3Prefix", "S3InputMode": "File"}},
                    {"InputName": "data", "S3Input": {"S3Uri": "s3://bench/data",
                                                      "LocalPath": "/opt/ml/processing/input/data",
                                                      "S3DataType": "S3Prefix", "S3InputMode": "File"}}],
                ProcessingOutputConfig={"Outputs": [{"OutputName": "out", "S3Output": {
                    "S3Uri": f"s3://bench/out/{name}", "LocalPath": "/opt/ml/processing/output",
                    "S3UploadMode": "EndOfJob"}}]},
                ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                       "VolumeSizeInGB": 1}},
                AppSpecification={"ImageUri": IMAGE,
                                  "ContainerEntrypoint": ["python3", "/opt/ml/processing/input/code/preprocess.py"]},
                StoppingCondition={"MaxRuntimeInSeconds": 120})
            t0 = time.perf_counter()
            sm.create_processing_job(**params)
            while True:
                status = sm.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
                if status not in ("InProgress", "Stopping"):
                    break
                time.sleep(0.02)
            total.append(time.perf_counter() - t0)
            if status != "Completed":
                raise RuntimeError(f"{name} ended {status}")
        return total
    finally:
        server.stop(kill_children=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=6)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-processing-") as d:
        tmp = Path(d)
        b = bare(args.n, tmp)
        s = shipyard(args.n, tmp)
    med = statistics.median
    print(f"{'measure':48s} {'median s':>9s} {'min s':>7s} {'max s':>7s}")
    print(f"{'bare `python preprocess.py`':48s} {med(b):9.3f} {min(b):7.3f} {max(b):7.3f}")
    print(f"{'CreateProcessingJob -> Completed (Describe)':48s} {med(s):9.3f} {min(s):7.3f} {max(s):7.3f}")
    print(f"processing job overhead over bare python: {med(s) - med(b):.3f} s; "
          f"ratio shipyard/bare = {med(s) / med(b):.1f}x")


if __name__ == "__main__":
    main()
