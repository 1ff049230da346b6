"""One-row XGBoost prediction latency at concurrency 1: in-process vs the model server vs InvokeEndpoint.

Three columns, same model, same row:
- in-process: ``XGBoostHandler.invoke`` (parse CSV, predict, encode) called directly;
- model server: ``POST /invocations`` on a keep-alive connection to ``shipyard.serving.model_server``;
- InvokeEndpoint: boto3 ``sagemaker-runtime`` through a Shipyard server (SigV4, router, pooled hop).
Prints p50/p99 in milliseconds and what each layer adds over in-process.

    python bench/bench_serving.py [--n 2000]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "hosting"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serving"))

ROW = b"0.3,0.1,0.7,0.2"


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


def measure(fn, n: int) -> list[float]:
    for _ in range(min(200, n)):
        fn()
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    args = ap.parse_args()
    from hosting_helpers import XGB_IMAGE, model_tarball, upload, wait_in_service
    from serving_helpers import XGB_HANDLER, ModelServer, train_tiny_model

    from shipyard.algorithms.xgboost.handler import XGBoostHandler
    from shipyard.testing.server import ShipyardProcess

    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        train_tiny_model(model_dir)
        handler = XGBoostHandler(str(model_dir))
        rows["in-process handler"] = measure(lambda: handler.invoke(ROW, "text/csv", "text/csv"), args.n)

        ms = ModelServer(model_dir, "--handler", XGB_HANDLER)
        try:
            conn = http.client.HTTPConnection("127.0.0.1", ms.port)

            def direct():
                conn.request("POST", "/invocations", body=ROW, headers={"Content-Type": "text/csv"})
                r = conn.getresponse()
                r.read()

            rows["model server (http)"] = measure(direct, args.n)
        finally:
            ms.stop()

        srv = ShipyardProcess(Path(tmp) / "home", log_level="warning").start()
        try:
            sm, s3 = srv.client("sagemaker"), srv.client("s3")
            data, _ = model_tarball()
            url = upload(s3, "bench", "m/model.tar.gz", data)
            sm.create_model(ModelName="m", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
            sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[
                {"VariantName": "v", "ModelName": "m", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}])
            sm.create_endpoint(EndpointName="bench", EndpointConfigName="c")
            wait_in_service(sm, "bench")
            rt = srv.client("sagemaker-runtime")
            rows["InvokeEndpoint (boto3)"] = measure(
                lambda: rt.invoke_endpoint(EndpointName="bench", Body=ROW, ContentType="text/csv")["Body"].read(),
                args.n)
            sm.delete_endpoint(EndpointName="bench")
            time.sleep(2)
        finally:
            srv.stop(kill_children=True)

    base = statistics.median(rows["in-process handler"]) * 1000
    print(f"1-row XGBoost, concurrency 1, n={args.n}")
    print(f"{'path':26}{'p50 ms':>9}{'p99 ms':>9}{'+p50 vs in-process':>20}")
    for name, samples in rows.items():
        p50 = pct(samples, 0.5)
        print(f"{name:26}{p50:>9.3f}{pct(samples, 0.99):>9.3f}{p50 - base:>20.3f}")


if __name__ == "__main__":
    main()
