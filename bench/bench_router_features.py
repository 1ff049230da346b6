"""What metrics, data capture and shadow variants cost on the router's request path.

One-row XGBoost model servers; the router is driven in-process by asyncio at concurrency 1 and 8 (no HTTP
front end, no boto3, so only the router's own cost shows). Columns:

- pool only: the pooled HTTP hop to the model server, no router (the floor);
- router: ``Router.invoke`` as deployed (per-variant metrics always on);
- + capture 100%: every request/response queued for the data-capture writer (a local object store);
- + shadow: each request also mirrored to a shadow variant on a second model server.

Prints p50/p99 in ms and each column's added p50 over "pool only".

    python bench/bench_router_features.py [--n 4000]

Run it with ``PYTHONPATH=<older checkout>/src`` to measure a router without these features (the columns it
cannot run are skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "serving"))

ROW = b"0.3,0.1,0.7,0.2"
FWD = [("Content-Type", "text/csv")]


def pct(samples: list[float], q: float) -> float:
    s = sorted(samples)
    return s[min(len(s) - 1, int(q * len(s)))] * 1000


async def drive(call, n: int, concurrency: int) -> list[float]:
    for _ in range(200):
        await call()
    out: list[float] = []
    per = n // concurrency

    async def worker():
        for _ in range(per):
            t = time.perf_counter()
            await call()
            out.append(time.perf_counter() - t)

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=4000)
    args = ap.parse_args()
    from serving_helpers import XGB_HANDLER, ModelServer, train_tiny_model

    import shipyard.serving.router as router_mod

    has_features = "shadows" in getattr(router_mod.Route, "__dataclass_fields__", {})
    print(f"router module: {router_mod.__file__} (metrics/capture/shadow: {'yes' if has_features else 'no'})")
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = Path(tmp) / "model"
        train_tiny_model(model_dir)
        prod = ModelServer(model_dir, "--handler", XGB_HANDLER)
        shadow = ModelServer(model_dir, "--handler", XGB_HANDLER)
        try:
            results: dict[tuple[str, int], list[float]] = {}

            async def run():
                router = router_mod.Router("123456789012")
                inst = [("127.0.0.1", prod.port)]
                router.set_route("plain", [("A", 1.0, inst)])

                async def pool_only():
                    await router.pool.request("127.0.0.1", prod.port, "/invocations", ROW, FWD)

                async def plain():
                    await router.invoke("plain", ROW, "text/csv", "", {})

                calls = {"pool only": pool_only, "router": plain}
                writer = None
                if has_features:
                    from shipyard.objectstore.local import LocalObjectStore
                    from shipyard.serving.capture import CaptureSink, CaptureWriter

                    store = LocalObjectStore(str(Path(tmp) / "objects"))
                    store.create_bucket("bench")
                    writer = CaptureWriter(store)
                    sink = CaptureSink("cap", {"DestinationS3Uri": "s3://bench/cap", "InitialSamplingPercentage": 100,
                                               "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}, writer)
                    router.set_route("cap", [("A", 1.0, inst)], capture=sink)
                    router.set_route("shadow", [("A", 1.0, inst)], shadows=[("S", 1.0, [("127.0.0.1", shadow.port)])])

                    async def cap():
                        await router.invoke("cap", ROW, "text/csv", "", {})

                    async def shad():
                        await router.invoke("shadow", ROW, "text/csv", "", {})

                    calls["+ capture 100%"] = cap
                    calls["+ shadow"] = shad
                for conc in (1, 8):
                    for name, call in calls.items():
                        results[(name, conc)] = await drive(call, args.n, conc)
                        if name == "+ shadow":
                            await router.shadow.drain()
                if writer is not None:
                    writer.close()
                    print(f"capture records written: {writer.written}, dropped: {writer.dropped}")
                await router.aclose()

            asyncio.run(run())
        finally:
            prod.stop()
            shadow.stop()

    print(f"1-row XGBoost through Router.invoke in-process, n={args.n}")
    print(f"{'path':18}{'conc':>5}{'p50 ms':>9}{'p99 ms':>9}{'+p50 vs pool':>14}")
    for conc in (1, 8):
        base = pct(results[("pool only", conc)], 0.5)
        for (name, c), samples in results.items():
            if c == conc:
                p50 = pct(samples, 0.5)
                print(f"{name:18}{conc:>5}{p50:>9.3f}{pct(samples, 0.99):>9.3f}{p50 - base:>14.3f}")


if __name__ == "__main__":
    main()
