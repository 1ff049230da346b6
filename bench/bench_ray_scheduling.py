"""Scheduling overhead per job: the Ray runner vs the local runner, same trivial job, same machine, one run.

    .venv/bin/python bench/bench_ray_scheduling.py [--jobs 20]

Starts a local two-node Ray cluster on loopback (token auth on), runs N trivial jobs through each runner one
after another (start -> poll until exit) and prints the median and p90 time per job and the ratio Ray/local.
What it measures is the runner's own cost (process launch, actor placement, log and status pull-back), which
bounds how many short jobs per second one server can schedule.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "token")
os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(16))
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"

from shipyard.runners.base import JobSpec  # noqa: E402
from shipyard.runners.local import LocalRunner  # noqa: E402


def run_jobs(runner, n: int, root: str, tag: str) -> list[float]:
    times = []
    for i in range(n):
        work = os.path.join(root, f"{tag}-{i}")
        spec = JobSpec(name=f"bench/{tag}-{i}", command=[sys.executable, "-c", "print('ok')"], env={},
                       workdir=work, log_path=os.path.join(work, "log.txt"), extra={"files": {"job.json": "{}"}})
        os.makedirs(work, exist_ok=True)
        t0 = time.perf_counter()
        handle = runner.start(spec)
        deadline = time.monotonic() + 60
        while handle.poll() is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{tag} job {i} did not finish")
            time.sleep(0.005)
        times.append(time.perf_counter() - t0)
    return times


def summary(times: list[float]) -> tuple[float, float]:
    ordered = sorted(times)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jobs", type=int, default=20)
    args = ap.parse_args()
    import ray
    from ray.cluster_utils import Cluster

    from shipyard.runners.ray import RayRunner

    root = tempfile.mkdtemp(prefix="bench-ray-")
    node = {"num_cpus": 2, "object_store_memory": 80 << 20, "node_ip_address": "127.0.0.1"}
    cluster = Cluster(initialize_head=True, head_node_args=dict(node, include_dashboard=False))
    cluster.add_node(**node)
    address = "127.0.0.1:" + cluster.address.rsplit(":", 1)[1]
    try:
        local = run_jobs(LocalRunner(os.path.join(root, "local-state")), args.jobs, root, "local")
        ray_runner = RayRunner(os.path.join(root, "ray-state"), address=address)
        run_jobs(ray_runner, 2, root, "warm")  # worker processes start lazily; do not count the first ones
        on_ray = run_jobs(ray_runner, args.jobs, root, "ray")
    finally:
        ray.shutdown()
        cluster.shutdown()
    lm, l90 = summary(local)
    rm, r90 = summary(on_ray)
    print(f"jobs per runner: {args.jobs} (trivial python -c job, start -> exit observed)")
    print(f"local runner : median {lm * 1000:7.1f} ms   p90 {l90 * 1000:7.1f} ms")
    print(f"ray runner   : median {rm * 1000:7.1f} ms   p90 {r90 * 1000:7.1f} ms")
    print(f"ratio ray/local (median): {rm / lm:.2f}x")


if __name__ == "__main__":
    main()
