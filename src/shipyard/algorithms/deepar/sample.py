"""DeepAR's tiny data set for the conformance suite: a few hourly series with a daily cycle, one categorical
feature and a missing value, in each training format, plus JSON and JSON Lines requests."""

from __future__ import annotations

import gzip
import io
import json

import numpy as np

from ..base import SampleData, SampleRequest

PREDICTION_LENGTH = 6


def series(n_series: int = 6, length: int = 48, seed: int = 0, extra: int = 0) -> list[dict]:
    """Hourly series with a daily cycle whose level depends on ``cat``; ``extra`` more points at the end
    (a test channel is the training series extended by prediction_length)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_series):
        t = np.arange(length + extra)
        level = 10.0 + 5.0 * (i % 2)
        y = level + 3.0 * np.sin(2 * np.pi * t / 24 + i) + rng.normal(scale=0.5, size=len(t))
        target: list = [round(float(v), 4) for v in y]
        if i == 0:
            target[5] = "NaN"
        out.append({"start": f"2021-03-0{1 + i % 3} 00:00:00", "target": target, "cat": [i % 2]})
    return out


def _files(rows: list[dict], content_type: str, name: str) -> dict[str, bytes]:
    text = "".join(json.dumps(r) + "\n" for r in rows).encode()
    if content_type == "json.gz":
        return {f"{name}.json.gz": gzip.compress(text)}
    if content_type == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({"start": [r["start"] for r in rows],
                          "target": [[float(v) for v in r["target"]] for r in rows],
                          "cat": [r["cat"] for r in rows]})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        return {f"{name}.parquet": buf.getvalue()}
    return {f"{name}.json": text}


def make(content_type: str) -> SampleData:
    train = series()
    test = series(extra=PREDICTION_LENGTH)
    instances = [{"start": r["start"], "target": r["target"][-30:], "cat": r["cat"]} for r in train[:3]]
    instances[0]["start"] = "2021-03-02 18:00:00"
    conf = {"num_samples": 20, "output_types": ["mean", "quantiles"], "quantiles": ["0.1", "0.5", "0.9"]}
    body = json.dumps({"instances": instances, "configuration": conf}).encode()
    singles = tuple(json.dumps({"instances": [i], "configuration": conf}).encode() for i in instances)
    lines = "".join(json.dumps(i) + "\n" for i in instances[:2]).encode()
    return SampleData(
        channels={"train": (_files(train, content_type, "train"), content_type),
                  "test": (_files(test, content_type, "test"), content_type)},
        requests=[SampleRequest("application/json", body, len(instances), singles),
                  SampleRequest("application/jsonlines", lines, 2)],
        hyperparameters={"prediction_length": str(PREDICTION_LENGTH)})


def seasonal_dataset(n_series: int = 20, length: int = 140, prediction_length: int = 7, season: int = 7,
                     noise: float = 0.25, seed: int = 0, freq_start: str = "2022-01-03 00:00:00"
                     ) -> tuple[list[dict], list[dict]]:
    """(train, test) rows of a seasonal forecasting problem: each series is a level times a weekly profile
    (shared shape, random phase-free amplitude) with multiplicative noise; the test rows are the train rows
    extended by ``prediction_length`` points. Used by the quality test and the benchmark."""
    rng = np.random.default_rng(seed)
    profile = 1.0 + 0.5 * np.sin(2 * np.pi * np.arange(season) / season) + 0.3 * (np.arange(season) == 0)
    train, test = [], []
    for i in range(n_series):
        level = float(rng.uniform(5, 50))
        amp = float(rng.uniform(0.5, 1.5))
        t = np.arange(length + prediction_length)
        y = level * (1 + amp * (profile[t % season] - 1)) * (1 + noise * rng.normal(size=len(t)))
        y = np.maximum(y, 0.0)
        full = [round(float(v), 4) for v in y]
        test.append({"start": freq_start, "target": full, "cat": [i % 4]})
        train.append({"start": freq_start, "target": full[:length], "cat": [i % 4]})
    return train, test


def seasonal_naive(test: list[dict], prediction_length: int, season: int) -> np.ndarray:
    """Each series' last season repeated over the prediction range: [n_series, prediction_length]."""
    out = []
    for row in test:
        hist = np.asarray([float(v) for v in row["target"][:-prediction_length]])
        out.append([hist[len(hist) - season + (k % season)] for k in range(prediction_length)])
    return np.asarray(out)
