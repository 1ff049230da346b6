"""Job start cost of the sandbox (issue 14): CreateTrainingJob -> the first line of user code, sandboxed vs a plain
process (``SHIPYARD_JOB_ISOLATION=off``). Goal: the sandbox adds under 50 ms.

Each mode runs on a server of its own, ``--n`` jobs one after another. The script's first line records
``time.time()`` into ``SM_MODEL_DIR`` (inside the sandbox ``/tmp`` is private, so the time comes back in the
model archive). Two spans per job: CreateTrainingJob returning -> first line (what a user waits; the controller's
tick and the executor's downloads are in it, both modes alike), and the executor starting the program
(``TrainingStartTime``) -> first line (the sandbox's own cost: namespaces, mounts, cgroup, PID-namespace init).

Modes are rows of ``MODES`` (name -> server environment): a container mode is one more entry, and the table
grows a column.

    .venv/bin/python bench/bench_job_start.py [--n 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from shipyard.testing.archives import tarball, untar  # noqa: E402
from shipyard.testing.server import ShipyardProcess  # noqa: E402

SCRIPT = """import time
T = time.time()
import os
open(os.path.join(os.environ["SM_MODEL_DIR"], "first_line"), "w").write(repr(T))
"""

# mode -> the server's environment (a third mode, e.g. a container image, is one more entry here)
MODES: dict[str, dict[str, str]] = {
    "plain": {"SHIPYARD_JOB_ISOLATION": "off"},
    "sandbox": {"SHIPYARD_JOB_ISOLATION": "on"},
}


def run_mode(env: dict[str, str], n: int, home: Path) -> tuple[list[float], list[float]]:
    """(CreateTrainingJob -> first line, program start -> first line) per job, in seconds."""
    server = ShipyardProcess(home, env=env, log_level="warning").start()
    try:
        sm, s3 = server.client("sagemaker"), server.client("s3")
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="code/sourcedir.tar.gz", Body=tarball({"train.py": SCRIPT.encode()}))
        create, program = [], []
        for i in range(n):
            name = f"start-{i}-{int(time.time() * 1000)}"
            t0 = time.time()
            sm.create_training_job(
                TrainingJobName=name, RoleArn="arn:aws:iam::123456789012:role/Bench",
                AlgorithmSpecification={"TrainingImage": "sagemaker-scikit-learn", "TrainingInputMode": "File"},
                HyperParameters={"sagemaker_program": '"train.py"',
                                 "sagemaker_submit_directory": '"s3://bench/code/sourcedir.tar.gz"'},
                OutputDataConfig={"S3OutputPath": "s3://bench/out"},
                ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
                StoppingCondition={"MaxRuntimeInSeconds": 60})
            deadline = time.monotonic() + 60
            while True:
                desc = sm.describe_training_job(TrainingJobName=name)
                if desc["TrainingJobStatus"] != "InProgress":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not finish in 60 s")
                time.sleep(0.02)
            if desc["TrainingJobStatus"] != "Completed":
                raise RuntimeError(f"{name}: {desc['TrainingJobStatus']}: {desc.get('FailureReason')}")
            model = untar(s3.get_object(Bucket="bench", Key=f"out/{name}/output/model.tar.gz")["Body"].read())
            first = float(model["first_line"])
            create.append(first - t0)
            program.append(first - desc["TrainingStartTime"].timestamp())
        return create, program
    finally:
        server.stop(kill_children=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10)
    args = ap.parse_args()
    results: dict[str, tuple[list[float], list[float]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-job-start-") as d:
        for mode, env in MODES.items():
            results[mode] = run_mode(env, args.n, Path(d) / mode)
    med = statistics.median
    modes = list(MODES)
    print(f"{args.n} jobs per mode; medians in ms")
    print(f"{'span':40s}" + "".join(f"{m:>12s}" for m in modes))
    for idx, span in enumerate(("CreateTrainingJob -> first line", "program start -> first line")):
        print(f"{span:40s}" + "".join(f"{med(results[m][idx]) * 1000:12.1f}" for m in modes))
    base = results["plain"]
    for mode in modes[1:]:
        added = med(results[mode][1]) - med(base[1])
        print(f"{mode}: adds {added * 1000:.1f} ms at program start "
              f"(ratio {med(results[mode][1]) / med(base[1]):.2f}x); CreateTrainingJob -> first line ratio "
              f"{med(results[mode][0]) / med(base[0]):.2f}x; goal: under 50 ms added")


if __name__ == "__main__":
    main()
