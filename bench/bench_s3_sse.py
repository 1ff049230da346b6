"""S3 PUT/GET throughput with and without server-side encryption (SSE-KMS and SSE-S3), one server, one run.

Through a real boto3 ``s3`` client on loopback, for each object size: ``put_object`` / ``get_object`` of a body
held in memory (small sizes, repeated) and ``upload_file`` / ``download_file`` (large sizes: 8 MiB multipart
parts, 4 threads), first in plaintext, then ``ServerSideEncryption=aws:kms`` with a KMS key, then ``AES256``.
Modes are interleaved over a few rounds and the best round is printed (a busy machine slows all alike).
Prints MB/s per mode and the plaintext/mode ratio (above 1: encryption is slower). What the ratio prices:
a KMS call per object (a data key), AES-256-GCM over every byte both ways, and for multipart uploads one more
pass at completion (the parts are re-encrypted into one stream).

    .venv/bin/python bench/bench_s3_sse.py [--sizes-mib 1,64] [--repeat 20] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

from boto3.s3.transfer import TransferConfig  # noqa: E402
from botocore.config import Config  # noqa: E402

from shipyard.testing.server import ShipyardProcess  # noqa: E402

MiB = 1024 * 1024
TRANSFER = TransferConfig(multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4)


def measure(s3, bucket: str, size: int, repeat: int, extra: dict, workdir: str) -> tuple[float, float]:
    """(PUT MB/s, GET MB/s) for objects of ``size`` bytes written with ``extra`` (SSE arguments)."""
    body = os.urandom(size)
    if size <= 8 * MiB:
        start = time.perf_counter()
        for i in range(repeat):
            s3.put_object(Bucket=bucket, Key=f"obj-{i}", Body=body, **extra)
        put = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(repeat):
            assert len(s3.get_object(Bucket=bucket, Key=f"obj-{i}")["Body"].read()) == size
        get = time.perf_counter() - start
    else:
        src = os.path.join(workdir, "src.bin")
        with open(src, "wb") as f:
            f.write(body)
        start = time.perf_counter()
        for i in range(repeat):
            s3.upload_file(src, bucket, f"big-{i}", ExtraArgs=extra or None, Config=TRANSFER)
        put = time.perf_counter() - start
        start = time.perf_counter()
        for i in range(repeat):
            s3.download_file(bucket, f"big-{i}", os.path.join(workdir, "dst.bin"), Config=TRANSFER)
        get = time.perf_counter() - start
        assert os.path.getsize(os.path.join(workdir, "dst.bin")) == size
    mb = size * repeat / 1e6
    return mb / put, mb / get


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes-mib", default="1,64", help="object sizes in MiB, comma-separated")
    ap.add_argument("--repeat", type=int, default=20, help="objects per size for sizes up to 8 MiB (larger: 3)")
    ap.add_argument("--rounds", type=int, default=3, help="rounds per size (the best of them is printed)")
    args = ap.parse_args()
    sizes = [float(s) for s in args.sizes_mib.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        server = ShipyardProcess(os.path.join(tmp, "home")).start()
        try:
            s3 = server.client("s3", config=Config(s3={"addressing_style": "path"}, max_pool_connections=16))
            key = server.client("kms").create_key(Description="bench")["KeyMetadata"]["Arn"]
            modes = {"plaintext": {}, "SSE-KMS": {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": key},
                     "SSE-S3": {"ServerSideEncryption": "AES256"}}
            print(f"{'size':>9} {'mode':<10} {'PUT MB/s':>9} {'GET MB/s':>9} {'PUT ratio':>10} {'GET ratio':>10}")
            for size_mib in sizes:
                size = int(size_mib * MiB)
                repeat = args.repeat if size <= 8 * MiB else 3
                best: dict[str, tuple[float, float]] = {}
                for mode, extra in modes.items():
                    bucket = f"bench-{mode.lower().replace('-', '')}-{int(size_mib * 1024)}k"
                    s3.create_bucket(Bucket=bucket)
                    measure(s3, bucket, size, 1, extra, tmp)  # warm up (connections, the key's material)
                for _ in range(args.rounds):  # modes interleaved, best of the rounds: load elsewhere hits all alike
                    for mode, extra in modes.items():
                        bucket = f"bench-{mode.lower().replace('-', '')}-{int(size_mib * 1024)}k"
                        put, get = measure(s3, bucket, size, repeat, extra, tmp)
                        old = best.get(mode, (0.0, 0.0))
                        best[mode] = (max(old[0], put), max(old[1], get))
                base = best["plaintext"]
                for mode, (put, get) in best.items():
                    print(f"{size_mib:>7g}Mi {mode:<10} {put:>9.1f} {get:>9.1f} {base[0] / put:>9.2f}x "
                          f"{base[1] / get:>9.2f}x")
        finally:
            server.stop(kill_children=True)
    print("ratio = plaintext MB/s / mode MB/s (1.00x: encryption costs nothing; 2.00x: half the throughput)")


if __name__ == "__main__":
    main()
