"""Metric ingestion: ``BatchPutMetrics`` from 8 concurrent writers, points per second, against MLflow's
``log_batch`` to a local MLflow tracking server with a SQLite backend on the same machine (Shipyard's default
metadata store is SQLite too).

Each writer is one run (a trial component; an MLflow run) sending batches of 10 points (BatchPutMetrics' maximum
per call; MLflow gets the same batches), as 8 training processes logging at once would. Wall time from the
writers' start to the last answer; both servers are started fresh and warmed with one batch per writer first.

MLflow is not a Shipyard dependency and is installed for this bench only: into the venv (``pip install mlflow``)
or, to leave the venv's packages as they are (mlflow pins older cryptography/pyarrow), into a venv of its own
named by ``MLFLOW_PYTHON``, whose interpreter then runs the MLflow server and its writers:

    python3 -m venv /tmp/mlflow-venv && /tmp/mlflow-venv/bin/pip install mlflow
    MLFLOW_PYTHON=/tmp/mlflow-venv/bin/python .venv/bin/python bench/bench_metric_ingestion.py [--batches 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

POINTS_PER_CALL = 10


def _run_writers(writers: int, batches: int, make: Callable[[int], Callable[[int], None]]) -> float:
    """Start ``writers`` threads, each calling its sender ``batches`` times; return the points per second."""
    senders = [make(w) for w in range(writers)]
    for send in senders:  # warm-up: connections, the run's first row
        send(-1)
    start = threading.Barrier(writers + 1)
    errors: list[BaseException] = []

    def work(send: Callable[[int], None]) -> None:
        start.wait()
        try:
            for b in range(batches):
                send(b)
        except BaseException as e:  # noqa: BLE001 - reported after the run
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in senders]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    if errors:
        raise errors[0]
    return writers * batches * POINTS_PER_CALL / elapsed


def shipyard_rate(writers: int, batches: int, tmp: Path) -> float:
    from shipyard.testing.server import ShipyardProcess

    server = ShipyardProcess(tmp / "shipyard-home", log_level="warning").start()
    try:
        sm = server.client("sagemaker")
        run_id = f"bench-{int(time.time())}"

        def make(w: int) -> Callable[[int], None]:
            name = f"{run_id}-w{w}"
            sm.create_trial_component(TrialComponentName=name)
            client = server.client("sagemaker-metrics")

            def send(b: int) -> None:
                now = time.time()
                data = [{"MetricName": f"m{i % 2}", "Value": float(b * 10 + i), "Step": max(b, 0) * 10 + i,
                         "Timestamp": now} for i in range(POINTS_PER_CALL)]
                answer = client.batch_put_metrics(TrialComponentName=name, MetricData=data)
                if answer.get("Errors"):
                    raise RuntimeError(f"points refused: {answer['Errors']}")

            return send

        rate = _run_writers(writers, batches, make)
        counted = sum(m["Count"] for w in range(writers) for m in sm.describe_trial_component(
            TrialComponentName=f"{run_id}-w{w}")["Metrics"])
        expected = writers * (batches + 1) * POINTS_PER_CALL
        if counted != expected:
            raise RuntimeError(f"Shipyard stored {counted} points, expected {expected}")
        return rate
    finally:
        server.stop()


def mlflow_client_rate(url: str, writers: int, batches: int) -> float:
    """The MLflow side's writers (run in an interpreter that has mlflow)."""
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=url)
    experiment = client.create_experiment(f"bench-{int(time.time())}")

    def make(w: int) -> Callable[[int], None]:
        run = client.create_run(experiment).info.run_id
        own = MlflowClient(tracking_uri=url)

        def send(b: int) -> None:
            now = int(time.time() * 1000)
            own.log_batch(run, metrics=[Metric(f"m{i % 2}", float(b * 10 + i), now, max(b, 0) * 10 + i)
                                        for i in range(POINTS_PER_CALL)])

        return send

    return _run_writers(writers, batches, make)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def mlflow_rate(python: str, writers: int, batches: int, tmp: Path, workers: int) -> float:
    port = _free_port()
    mlflow_bin = str(Path(python).parent / "mlflow")
    cmd = [mlflow_bin if Path(mlflow_bin).exists() else shutil.which("mlflow") or "mlflow", "server",
           "--backend-store-uri", f"sqlite:///{tmp / 'mlflow.db'}", "--default-artifact-root",
           str(tmp / "mlflow-artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    url = f"http://127.0.0.1:{port}"
    log = open(tmp / "mlflow-server.log", "wb")
    server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"mlflow server did not start: see {tmp / 'mlflow-server.log'}")
            time.sleep(0.5)
        if python == sys.executable:  # (venvs share one interpreter binary: compare the names)
            return mlflow_client_rate(url, writers, batches)
        out = subprocess.run([python, __file__, "--mlflow-client", url, "--writers", str(writers),
                              "--batches", str(batches)], capture_output=True, text=True, timeout=1800)
        if out.returncode != 0:
            raise RuntimeError(f"MLflow writers failed:\n{out.stderr[-2000:]}")
        return float(json.loads(out.stdout.strip().splitlines()[-1])["rate"])
    finally:
        os.killpg(server.pid, 15)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
        log.close()


def _mlflow_python() -> str | None:
    if os.environ.get("MLFLOW_PYTHON"):
        return os.environ["MLFLOW_PYTHON"]
    try:
        import mlflow  # noqa: F401
    except ImportError:
        return None
    return sys.executable


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--writers", type=int, default=8)
    p.add_argument("--batches", type=int, default=100, help="batches of 10 points per writer")
    p.add_argument("--mlflow-workers", type=int, default=1,
                   help="MLflow server worker processes (default 1, like Shipyard's one server process; MLflow's "
                        "own default of 4 contends on the SQLite file and was slower still when measured)")
    p.add_argument("--mlflow-client", metavar="URL", help=argparse.SUPPRESS)  # the MLflow side, in its venv
    args = p.parse_args()
    if args.mlflow_client:
        print(json.dumps({"rate": mlflow_client_rate(args.mlflow_client, args.writers, args.batches)}))
        return 0
    python = _mlflow_python()
    with tempfile.TemporaryDirectory() as tmp:
        ours = shipyard_rate(args.writers, args.batches, Path(tmp))
        print(f"shipyard BatchPutMetrics: {ours:,.0f} points/s ({args.writers} writers x {args.batches} batches "
              f"x {POINTS_PER_CALL} points)")
        if python is None:
            print("mlflow is not installed: pip install mlflow (into the venv), or set MLFLOW_PYTHON to the python "
                  "of a venv that has it (see this file's docstring), to compare against MLflow's log_batch.")
            return 2
        theirs = mlflow_rate(python, args.writers, args.batches, Path(tmp), args.mlflow_workers)
        print(f"mlflow log_batch:         {theirs:,.0f} points/s (tracking server, {args.mlflow_workers} "
              "worker(s), SQLite backend)")
        print(f"ratio shipyard / mlflow:  {ours / theirs:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
