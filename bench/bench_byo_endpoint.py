"""Endpoint request overhead of a bring-your-own container vs the built-in model server, through the router.

One Shipyard server, two endpoints, 1-row CSV requests at concurrency 8 (8 client threads, each on its own
keep-alive connection, replaying one SigV4-signed ``POST /endpoints/<name>/invocations``):

- ``builtin``: the built-in XGBoost model server (a 4-feature, 10-tree booster, as in bench_serving.py);
- ``byo``: the ``scikit_bring_your_own``-style image of ``tests/containers/byo/`` (nearest centroids in numpy,
  Python's ``http.server``), its ``serve`` in a container behind the token-checking front
  (``serving/container_instance.py``): router -> front -> docker's published loopback port -> container.

Both models are trivial, so the figures are the serving path's cost. Prints requests/s, p50/p99 and the ratio.
Needs a Docker daemon (started here if none answers, as root) and builds the base image on first use.

    .venv/bin/python bench/bench_byo_endpoint.py [--seconds 10] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "hosting"))

ROW = b"0.3,0.1,0.7,0.2"
BYO_CONTEXT = ROOT / "tests" / "containers" / "byo"


def byo_image(engine) -> str:
    """The test image, built over the base image when the engine has no image of its files' hash."""
    import os
    import subprocess

    from shipyard.containers.base_image import ensure_base_image

    ensure_base_image(engine)
    digest = hashlib.sha256()
    for path in sorted(BYO_CONTEXT.iterdir()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    ref = f"shipyard-test/byo-sklearn:{digest.hexdigest()[:12]}"
    if not engine.has_image(ref):
        subprocess.run(engine.command("build", "-q", "-t", ref, str(BYO_CONTEXT)), check=True,
                       env={**os.environ, "DOCKER_BUILDKIT": "0"}, capture_output=True)
    return ref


def centroid_model() -> bytes:
    """The image's model: two centroids in 4 features, as its ``train`` writes them."""
    from shipyard.testing.archives import tarball

    return tarball({"centroids.json": json.dumps({"0": [0.0] * 4, "1": [1.0] * 4}).encode()})


def signed_headers(srv, endpoint: str) -> dict[str, str]:
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    req = AWSRequest("POST", f"{srv.url}/endpoints/{endpoint}/invocations", data=ROW,
                     headers={"Content-Type": "text/csv", "Accept": "text/csv"})
    SigV4Auth(Credentials(*srv.keys()), "sagemaker", srv.region).add_auth(req)
    headers = dict(req.headers.items())
    headers["Host"] = f"127.0.0.1:{srv.port}"
    return headers


def load(port: int, path: str, headers: dict[str, str], seconds: float, concurrency: int) -> dict:
    """``concurrency`` threads posting the row to ``path`` for ``seconds``: requests/s, p50/p99 ms, errors."""
    stop_at = time.perf_counter() + seconds
    samples: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency

    def worker(i: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while (t := time.perf_counter()) < stop_at:
            try:
                conn.request("POST", path, body=ROW, headers=headers)
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    errors[i] += 1
            except (OSError, http.client.HTTPException):
                errors[i] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            samples[i].append(time.perf_counter() - t)
        conn.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    flat = sorted(s for per in samples for s in per)
    if not flat:
        raise RuntimeError(f"{path}: no request succeeded ({sum(errors)} errors)")
    return {"rps": len(flat) / elapsed, "p50": flat[len(flat) // 2] * 1000,
            "p99": flat[min(len(flat) - 1, int(len(flat) * 0.99))] * 1000, "errors": sum(errors)}


def published_port(engine, endpoint: str) -> int:
    """The loopback port docker published for the endpoint's container (label set by container_instance)."""
    import subprocess

    ids = subprocess.run(engine.command("ps", "-q", "--filter", f"label=shipyard.endpoint={endpoint}"),
                         capture_output=True, text=True, check=True).stdout.split()
    mapping = subprocess.run(engine.command("port", ids[0], "8080/tcp"), capture_output=True, text=True,
                             check=True).stdout.split()[0]
    return int(mapping.rsplit(":", 1)[1])


def deploy(sm, name: str, container: dict) -> None:
    sm.create_model(ModelName=name, PrimaryContainer=container)
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "v", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=8)
    args = ap.parse_args()
    from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service

    from shipyard.containers.daemon import provide_engine
    from shipyard.testing.server import ShipyardProcess

    provided = provide_engine()
    try:
        image = byo_image(provided.engine)
        with tempfile.TemporaryDirectory(prefix="bench-byo-") as tmp:
            srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
            try:
                sm, s3 = srv.client("sagemaker"), srv.client("s3")
                xgb_model, _ = model_tarball()
                deploy(sm, "builtin", {"Image": XGB_IMAGE, "ModelDataUrl": upload(s3, "bench", "x/model.tar.gz",
                                                                                   xgb_model)})
                deploy(sm, "byo", {"Image": image, "ModelDataUrl": upload(s3, "bench", "c/model.tar.gz",
                                                                          centroid_model())})
                for name in ("builtin", "byo"):
                    wait_in_service(sm, name, timeout=180)
                rows = {}
                for name in ("builtin", "byo"):
                    headers, path = signed_headers(srv, name), f"/endpoints/{name}/invocations"
                    load(srv.port, path, headers, 1.0, args.concurrency)  # warm-up: connections, pools
                    rows[name] = load(srv.port, path, headers, args.seconds, args.concurrency)
                # the user's own server alone: its published loopback port, no router, no front
                port = published_port(provided.engine, "byo")
                rows["direct"] = load(port, "/invocations", {"Content-Type": "text/csv"}, args.seconds,
                                      args.concurrency)
                for name in ("builtin", "byo"):
                    sm.delete_endpoint(EndpointName=name)
            finally:
                srv.stop(kill_children=True)
    finally:
        provided.stop()
    print(f"1-row CSV requests through the router, concurrency {args.concurrency}, {args.seconds:g} s each")
    print(f"{'endpoint':34}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}")
    labels = {"builtin": "built-in model server (XGBoost)", "byo": "BYO container via the router",
              "direct": "BYO container's own port (floor)"}
    for name, r in rows.items():
        print(f"{labels[name]:34}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}{r['errors']:>8}")
    print(f"ratio BYO / built-in requests/s: {rows['byo']['rps'] / rows['builtin']['rps']:.2f}; "
          f"BYO via the router / its own port: {rows['byo']['rps'] / rows['direct']['rps']:.2f} "
          "(the rest is the image's own server: Python's http.server + numpy)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
