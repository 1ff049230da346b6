"""Pipe mode vs File mode on a ~1 GB CSV channel: time to the first record and total time, side by side.

Both modes go through the training executor's own channel code from a local object store:

* File: :func:`shipyard.training.channels.stage_file_channel` downloads the object into the channel folder,
  then the reader (a subprocess) parses it;
* Pipe: :class:`shipyard.training.channels.PipeFeeder` streams the object into the ``<channel>_0`` FIFO
  while the same reader parses it.

The reader is what a training program does: pyarrow's streaming CSV reader, counting rows; it reports
when the first record batch arrived and when it reached the end. Times count from the moment staging
starts, as a job's clock would. The generated data lives in a temporary folder removed at the end.

    python bench/bench_pipe.py [--mb 1024] [--repeat 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

READER = textwrap.dedent("""
    import json, sys, time
    import pyarrow.csv as pacsv
    t0 = float(sys.argv[2])
    first, rows = None, 0
    with open(sys.argv[1], "rb", buffering=1 << 20) as f:
        reader = pacsv.open_csv(f, read_options=pacsv.ReadOptions(autogenerate_column_names=True,
                                                                  block_size=1 << 20))
        for batch in reader:
            if first is None:
                first = time.time() - t0
            rows += batch.num_rows
    print(json.dumps({"first": first, "total": time.time() - t0, "rows": rows}))
""")


def make_csv(path: Path, megabytes: int) -> int:
    """About ``megabytes`` MB of numeric CSV (label + 28 features); returns the row count."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    rng = np.random.default_rng(0)
    names = ["y"] + [f"x{i}" for i in range(28)]
    rows = 0
    with pacsv.CSVWriter(path, pa.schema([(n, pa.float32()) for n in names]),
                         write_options=pacsv.WriteOptions(include_header=False)) as w:
        while path.stat().st_size < megabytes * 1_000_000:
            X = np.round(rng.random((200_000, 29), dtype=np.float32), 5)
            w.write_table(pa.table(list(X.T), names=names))
            rows += 200_000
    return rows


def read(path: Path, t0: float) -> dict:
    out = subprocess.run([sys.executable, "-c", READER, str(path), repr(t0)], capture_output=True, text=True,
                         timeout=600)
    if out.returncode != 0:
        raise SystemExit(f"reader failed: {out.stderr[-2000:]}")
    return json.loads(out.stdout)


def file_mode(store, refs, folder: Path) -> dict:
    from shipyard.training.channels import stage_file_channel

    t0 = time.time()
    stage_file_channel(store, refs, folder / "train")
    res = read(folder / "train" / refs[0].rel, t0)
    shutil.rmtree(folder / "train")
    return res


def pipe_mode(store, refs, folder: Path) -> dict:
    from shipyard.training.channels import PipeFeeder

    t0 = time.time()
    feeder = PipeFeeder(store, refs, folder / "train", record_io=False, gzipped=False)
    feeder.start()
    res = read(folder / "train_0", t0)
    if feeder.error:
        raise SystemExit(f"pipe feeder failed: {feeder.error}")
    for fifo in folder.glob("train_*"):
        fifo.unlink()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=2)
    args = ap.parse_args()
    from shipyard.objectstore.local import LocalObjectStore
    from shipyard.training.channels import list_objects

    base = Path(tempfile.mkdtemp(prefix="bench-pipe-"))
    try:
        csv = base / "data.csv"
        t = time.perf_counter()
        rows = make_csv(csv, args.mb)
        size = csv.stat().st_size
        store = LocalObjectStore(base / "store")
        store.create_bucket("bench")
        with open(csv, "rb") as f:
            store.put_object("bench", "channel/data.csv", f)
        csv.unlink()
        refs = list_objects(store, {"S3Uri": "s3://bench/channel/", "S3DataType": "S3Prefix"})
        print(f"channel: 1 object, {size / 1e6:.0f} MB, {rows} rows (made in {time.perf_counter() - t:.1f}s)")
        work = base / "job"
        work.mkdir()
        results: dict[str, list[dict]] = {"File": [], "Pipe": []}
        for _ in range(args.repeat):
            for mode, fn in (("File", file_mode), ("Pipe", pipe_mode)):
                res = fn(store, refs, work)
                if res["rows"] != rows:
                    raise SystemExit(f"{mode}: read {res['rows']} rows, expected {rows}")
                results[mode].append(res)
        print(f"{'mode':6}{'first record s':>16}{'total s':>10}{'MB/s':>9}   (best of {args.repeat})")
        best = {}
        for mode in ("File", "Pipe"):
            first = min(r["first"] for r in results[mode])
            total = min(r["total"] for r in results[mode])
            best[mode] = (first, total)
            print(f"{mode:6}{first:>16.3f}{total:>10.2f}{size / 1e6 / total:>9.0f}")
        print(f"Pipe / File: first record {best['Pipe'][0] / best['File'][0]:.4f}x, "
              f"total {best['Pipe'][1] / best['File'][1]:.2f}x")
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
