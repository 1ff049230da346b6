"""Wire-layer overhead: Shipyard's server vs moto's server (the peer tool), same boto3 calls, same machine.

Measures sequential request latency on loopback for three protocols, each through a real boto3 client:
STS GetCallerIdentity (query/XML), Logs DescribeLogGroups (JSON 1.1) and sagemaker-runtime InvokeEndpoint
(REST; Shipyard with an echo router plugin so only the wire path is timed, moto with its canned answer).
Shipyard verifies SigV4 (and validates input) on every request; moto does neither,
so the ratio includes that cost.

    .venv/bin/python bench/bench_wire.py [--n 400] [--payload 4096]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import boto3
from botocore.config import Config

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

from shipyard.testing.server import ShipyardProcess, free_port  # noqa: E402


def _clients(url, key, secret):
    s = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1")
    cfg = Config(retries={"max_attempts": 1})
    return {n: s.client(n, endpoint_url=url, config=cfg) for n in ("sts", "logs", "sagemaker-runtime")}


def _time(fn, n):
    for _ in range(min(20, n)):
        fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    return statistics.mean(samples), samples[len(samples) // 2], samples[int(len(samples) * 0.99) - 1]


def _calls(clients, payload):
    body = b"1.0," * (payload // 4)
    return {
        "sts GetCallerIdentity": lambda: clients["sts"].get_caller_identity(),
        "logs DescribeLogGroups": lambda: clients["logs"].describe_log_groups(),
        f"runtime InvokeEndpoint ({payload} B)": lambda: clients["sagemaker-runtime"].invoke_endpoint(
            EndpointName="bench", Body=body, ContentType="text/csv")["Body"].read(),
    }


def _start_moto(port):
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/moto-api/", timeout=1)
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("moto_server did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400)
    ap.add_argument("--payload", type=int, default=4096)
    args = ap.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bench-wire-"))
    env = {"SHIPYARD_PLUGINS": "_wire_echo_plugin", "PYTHONPATH": str(HERE), "SHIPYARD_LOG_LEVEL": "warning"}
    ship = ShipyardProcess(home, env=env, log_level="warning").start()
    moto_port = free_port()
    moto = _start_moto(moto_port)
    try:
        key, secret = ship.keys()
        ours = _calls(_clients(ship.url, key, secret), args.payload)
        theirs = _calls(_clients(f"http://127.0.0.1:{moto_port}", "testing", "testing"), args.payload)
        print(f"sequential latency over loopback, n={args.n} per call (ms: mean / p50 / p99)")
        print(f"{'call':38} {'shipyard':>22} {'moto':>22} {'moto/shipyard (mean)':>22}")
        for name in ours:
            a = _time(ours[name], args.n)
            b = _time(theirs[name], args.n)
            print(f"{name:38} {a[0]:6.2f} /{a[1]:6.2f} /{a[2]:6.2f} {b[0]:6.2f} /{b[1]:6.2f} /{b[2]:6.2f} "
                  f"{b[0] / a[0]:21.2f}x")
    finally:
        ship.stop(kill_children=True)
        moto.terminate()
        try:
            moto.wait(10)
        except subprocess.TimeoutExpired:
            moto.kill()


if __name__ == "__main__":
    main()
