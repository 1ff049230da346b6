"""Hosting features through a real Shipyard server: serverless cold start, multi-model first use, pipelines,
async inference turnaround. One-row XGBoost requests via boto3 ``sagemaker-runtime``.

Lines printed (milliseconds unless stated):
- serverless: cold start (client-observed InvokeEndpoint after scale-to-zero, and the server's own figure)
  vs a warm invoke;
- multi-model: first invoke of a model (download + unpack + load) vs invokes of a loaded one, and the
  same model on a single-model endpoint for the fast-path comparison;
- pipeline: two containers (XGBoost -> XGBoost over CSV, one process) vs one container;
- async: InvokeEndpointAsync -> output object in S3, per request, N in a row.

    python bench/bench_hosting_features.py [--n 200]
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "hosting"))

from hosting_helpers import (XGB_IMAGE, model_server_pids, model_tarball, tarball, upload, wait_in_service,  # noqa: E402
                             wait_until)  # noqa: E402

from shipyard.testing.server import ShipyardProcess  # noqa: E402

ROW = b"0.3,0.1,0.7,0.2"


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def timed(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def one_feature_model() -> bytes:
    """An XGBoost model over one feature: the second stage, fed the first stage's score."""
    import numpy as np
    import xgboost as xgb

    x = np.random.default_rng(0).random((200, 1))
    booster = xgb.train({"max_depth": 2}, xgb.DMatrix(x, x[:, 0] * 2), 5)
    return tarball({"xgboost-model": bytes(booster.save_raw("ubj"))})


def endpoint(sm, name: str, model: str, **variant) -> None:
    v = {"VariantName": "v", "ModelName": model, **(variant or {"InitialInstanceCount": 1,
                                                                 "InstanceType": "ml.m5.large"})}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[v])
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=200)
    args = ap.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-hosting-"))
    srv = ShipyardProcess(home, env={"SHIPYARD_SERVERLESS_IDLE_SECONDS": "2"}).start()
    try:
        sm, s3, rt = srv.client("sagemaker"), srv.client("s3"), srv.client("sagemaker-runtime")
        data, _ = model_tarball()
        url = upload(s3, "bench", "single/model.tar.gz", data)
        for i in range(3):
            upload(s3, "bench", f"mme/m{i}.tar.gz", model_tarball(1.0 + i)[0])
        sm.create_model(ModelName="single", PrimaryContainer={"Image": XGB_IMAGE, "ModelDataUrl": url})
        sm.create_model(ModelName="mme", PrimaryContainer={"Image": XGB_IMAGE, "Mode": "MultiModel",
                                                           "ModelDataUrl": "s3://bench/mme/"})
        url1 = upload(s3, "bench", "one-feature/model.tar.gz", one_feature_model())
        sm.create_model(ModelName="pipe", Containers=[
            {"Image": XGB_IMAGE, "ModelDataUrl": url}, {"Image": XGB_IMAGE, "ModelDataUrl": url1}])
        endpoint(sm, "single", "single")
        endpoint(sm, "mme", "mme")
        endpoint(sm, "pipe", "pipe")
        endpoint(sm, "sl", "single", ServerlessConfig={"MemorySizeInMB": 2048, "MaxConcurrency": 5})
        sm.create_endpoint_config(EndpointConfigName="async", ProductionVariants=[
            {"VariantName": "v", "ModelName": "single", "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}],
            AsyncInferenceConfig={"OutputConfig": {"S3OutputPath": "s3://bench/async-out"}})
        sm.create_endpoint(EndpointName="async", EndpointConfigName="async")
        for name in ("single", "mme", "pipe", "sl", "async"):
            wait_in_service(sm, name, 120)

        def invoke(name: str, **kw):
            return rt.invoke_endpoint(EndpointName=name, Body=ROW, ContentType="text/csv", **kw)["Body"].read()

        single = timed(lambda: invoke("single"), args.n)

        # serverless
        wait_until(lambda: not model_server_pids(home, "sl"), 60, 0.2, "scale to zero")
        cold = timed(lambda: invoke("sl"), 1)[0]
        warm = timed(lambda: invoke("sl"), args.n)
        log = (home / "server.log").read_text(errors="replace") if (home / "server.log").exists() else ""
        server_side = re.findall(r"cold start took ([0-9.]+) s", log)
        print(f"serverless   cold start {cold:7.3f} s (server: {server_side[-1] + ' s' if server_side else 'n/a'})"
              f"   warm p50 {p50(warm):6.2f} ms   single-model p50 {p50(single):6.2f} ms"
              f"   cold/warm x{cold * 1000 / p50(warm):.0f}")

        # multi-model
        first = [timed(lambda i=i: invoke("mme", TargetModel=f"m{i}.tar.gz"), 1)[0] for i in range(3)]
        loaded = timed(lambda: invoke("mme", TargetModel="m1.tar.gz"), args.n)
        print(f"multi-model  first use p50 {p50(first):7.2f} ms   loaded p50 {p50(loaded):6.2f} ms   "
              f"single-model p50 {p50(single):6.2f} ms   loaded/single x{p50(loaded) / p50(single):.2f}")

        # pipeline
        pipe = timed(lambda: invoke("pipe"), args.n)
        print(f"pipeline     2 containers p50 {p50(pipe):6.2f} ms   1 container p50 {p50(single):6.2f} ms   "
              f"x{p50(pipe) / p50(single):.2f}")

        # async
        n_async = max(10, args.n // 10)
        upload(s3, "bench", "async-in/row.csv", ROW)
        t = time.perf_counter()
        outs = [rt.invoke_endpoint_async(EndpointName="async", InputLocation="s3://bench/async-in/row.csv",
                                         ContentType="text/csv")["OutputLocation"] for _ in range(n_async)]
        submitted = time.perf_counter() - t

        def done():
            keys = {o["Key"] for o in s3.list_objects_v2(Bucket="bench", Prefix="async-out/").get("Contents", [])}
            return all(o.split("/", 3)[3] in keys for o in outs)

        wait_until(done, 120, 0.05, "async outputs")
        total = time.perf_counter() - t
        print(f"async        {n_async} requests: submit {submitted / n_async * 1000:6.2f} ms each, all outputs in S3 "
              f"after {total:6.2f} s ({n_async / total:.1f} req/s)   sync invoke p50 {p50(single):6.2f} ms")
    finally:
        srv.stop(kill_children=True)


if __name__ == "__main__":
    main()
