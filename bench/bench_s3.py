"""Object storage over the S3 API: Shipyard's server vs moto's server (the peer tool), same boto3 calls.

Measures, through a real boto3 ``s3`` client on loopback:
- small PUT and GET latency (4 KiB objects, sequential),
- ListObjectsV2 over a few thousand keys (pages of 1000) and with a delimiter,
- large-object throughput: ``upload_file`` / ``download_file`` of a 128 MiB file (8 MiB parts, 4 threads).
Shipyard verifies SigV4 and body checksums, and writes every body to disk with fsync; moto keeps bodies in
memory without checks, so ratios above 1 for Shipyard are partly the price of durability.

    .venv/bin/python bench/bench_s3.py [--n 300] [--keys 3000] [--big-mib 128]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import boto3  # noqa: E402
from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from shipyard.testing.server import ShipyardProcess  # noqa: E402

MiB = 1024 * 1024


def start_moto():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url + "/moto-api/", timeout=2).read()
            return proc, url
        except OSError:
            time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    raise RuntimeError("moto did not start")


def client(url, key="testing", secret="testing"):
    return boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name="us-east-1") \
        .client("s3", endpoint_url=url, config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))


def run(s3, n: int, keys: int, big_mib: int, workdir: str) -> dict[str, float]:
    out = {}
    bucket = "bench-bucket"
    s3.create_bucket(Bucket=bucket)
    body = os.urandom(4096)
    t = time.perf_counter()
    for i in range(n):
        s3.put_object(Bucket=bucket, Key=f"small/{i:06d}", Body=body)
    out["PUT 4 KiB (ms/op)"] = (time.perf_counter() - t) / n * 1000
    t = time.perf_counter()
    for i in range(n):
        s3.get_object(Bucket=bucket, Key=f"small/{i:06d}")["Body"].read()
    out["GET 4 KiB (ms/op)"] = (time.perf_counter() - t) / n * 1000
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda i: s3.put_object(Bucket=bucket, Key=f"many/{i % 50:02d}/{i:06d}", Body=b""),
                      range(keys)))
    t = time.perf_counter()
    count = sum(p.get("KeyCount", 0) for p in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix="many/"))
    out[f"LIST {keys} keys (ms)"] = (time.perf_counter() - t) * 1000
    assert count == keys, count
    t = time.perf_counter()
    res = s3.list_objects_v2(Bucket=bucket, Prefix="many/", Delimiter="/")
    out["LIST delimiter, 50 prefixes (ms)"] = (time.perf_counter() - t) * 1000
    assert len(res["CommonPrefixes"]) == 50
    src = os.path.join(workdir, "big.bin")
    with open(src, "wb") as f:
        for _ in range(big_mib):
            f.write(os.urandom(MiB))
    config = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)
    t = time.perf_counter()
    s3.upload_file(src, bucket, "big.bin", Config=config)
    out[f"upload_file {big_mib} MiB (MiB/s)"] = big_mib / (time.perf_counter() - t)
    dest = os.path.join(workdir, "back.bin")
    t = time.perf_counter()
    s3.download_file(bucket, "big.bin", dest, Config=config)
    out[f"download_file {big_mib} MiB (MiB/s)"] = big_mib / (time.perf_counter() - t)
    assert os.path.getsize(dest) == big_mib * MiB
    os.unlink(dest)
    os.unlink(src)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--keys", type=int, default=3000)
    ap.add_argument("--big-mib", type=int, default=128)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as home, tempfile.TemporaryDirectory() as work:
        shipyard = ShipyardProcess(home).start()
        try:
            key, secret = shipyard.keys()
            ours = run(client(shipyard.url, key, secret), args.n, args.keys, args.big_mib, work)
        finally:
            shipyard.stop()
        moto, url = start_moto()
        try:
            peer = run(client(url), args.n, args.keys, args.big_mib, work)
        finally:
            os.kill(moto.pid, signal.SIGTERM)
            moto.wait(10)
    print(f"{'measure':40s} {'shipyard':>10s} {'moto':>10s} {'shipyard/moto':>14s}")
    for name in ours:
        print(f"{name:40s} {ours[name]:10.2f} {peer[name]:10.2f} {ours[name] / peer[name]:14.2f}")


if __name__ == "__main__":
    main()
