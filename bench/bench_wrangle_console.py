"""The console's flow preview (issue 21) against the same preview in-process: what the sandbox costs.

Starts a real server on a fresh home, uploads a CSV of ``--rows`` rows through boto3, creates a flow on the
console (``POST /studio/wrangle/new``) and adds three steps through its form (fill missing, one-hot encode, drop
a column), then times ``--repeat`` times each:

- console: ``GET /studio/wrangle/flows/<name>?fresh=1``: the whole page, the preview run in the job sandbox (the
  sample read as the signed-in key, a fresh Python with pandas, the result read back and rendered);
- console (cached): the same page again within two minutes (the result reused);
- in-process: ``shipyard.wrangle.preview`` of the same flow in this process, reading the source from the server
  over S3 with boto3, as a notebook would (the floor: no process start, pandas already imported).

    .venv/bin/python bench/bench_wrangle_console.py [--rows 50000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from shipyard import wrangle  # noqa: E402
from shipyard.testing.server import ShipyardProcess  # noqa: E402

BUCKET = "bench-wrangle-console"
STEPS = [
    ("handle_missing", {"operator": "Fill missing", "fill_missing_parameters": {
        "input_column": "x1", "fill_value": "0"}}),
    ("encode_categorical", {"operator": "One-hot encode", "one_hot_encode_parameters": {
        "input_column": ["city"], "output_style": "Columns"}}),
    ("manage_columns", {"operator": "Drop column", "drop_column_parameters": {"column_to_drop": ["x3"]}}),
]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"id": np.arange(args.rows), "x1": rng.normal(size=args.rows),
                       "x2": rng.integers(0, 100, args.rows), "x3": rng.normal(size=args.rows),
                       "city": rng.choice(["oslo", "rome", "lima", "kyiv"], args.rows),
                       "label": rng.integers(0, 2, args.rows)})
    df.loc[df.sample(frac=0.1, random_state=0).index, "x1"] = np.nan
    body = df.to_csv(index=False).encode()
    with tempfile.TemporaryDirectory(prefix="bench-wrangle-console-") as home:
        server = ShipyardProcess(home)
        server.start()
        try:
            s3 = server.client("s3")
            s3.create_bucket(Bucket=BUCKET)
            s3.put_object(Bucket=BUCKET, Key="data.csv", Body=body)
            key, secret = server.keys()
            with httpx.Client(base_url=server.url, timeout=300, headers={"accept": "text/html"}) as web:
                web.post("/studio/signin", data={"access_key_id": key, "secret_access_key": secret})
                page = web.get(f"/studio/wrangle?bucket={BUCKET}")
                csrf = csrf_of(page.text)
                r = web.post("/studio/wrangle/new", data={"csrf_token": csrf, "name": "bench", "bucket": BUCKET,
                                                          "key": "data.csv"})
                assert r.status_code == 303, r.text[-2000:]
                for operator, params in STEPS:
                    r = web.post("/studio/wrangle/flows/bench/steps", data={
                        "csrf_token": csrf, "operator": operator, "parameters": json.dumps(params)})
                    assert r.status_code == 303, r.text[-2000:]
                flow = wrangle.parse_flow(web.get("/studio/wrangle/flows/bench/flow.flow").text)

                def console() -> None:
                    r = web.get("/studio/wrangle/flows/bench?fresh=1")
                    assert r.status_code == 200 and 'id="data-grid"' in r.text, r.text[-2000:]

                def cached() -> None:
                    assert web.get("/studio/wrangle/flows/bench").status_code == 200

                def in_process() -> None:
                    frame = wrangle.preview(flow, sample_rows=50_000, s3_client=s3)
                    frame.head(50).to_json()

                console()  # warm: the first preview also creates the home's preview folder
                fresh = timed(console, args.repeat)
                hits = timed(cached, args.repeat)
                floor = timed(in_process, args.repeat)
        finally:
            server.stop(kill_children=True)
    print(f"rows {args.rows} ({len(body) / 1e6:.1f} MB CSV), 3 steps + type inference, median of {args.repeat}, "
          f"load {os.getloadavg()[0]:.1f}")
    for label, values in (("console page, sandboxed preview", fresh), ("console page, cached result", hits),
                          ("in-process wrangle.preview (floor)", floor)):
        print(f"  {label:38s} {statistics.median(values) * 1000:8.0f} ms")
    print(f"ratio console/in-process: {statistics.median(fresh) / statistics.median(floor):.2f}x "
          f"(sandbox + process start + pandas import + staging the sample: "
          f"{(statistics.median(fresh) - statistics.median(floor)) * 1000:.0f} ms added)")


if __name__ == "__main__":
    main()
