"""Running a built-in algorithm's training program the way a runner does, for tests and benchmarks.

``prepare_job`` writes the ``/opt/ml`` layout (config files and channel data) under a folder;
``run_training`` runs ``python -m <training_module>`` there with ``SAGEMAKER_BASE_DIR`` pointing at it; Pipe
channels are FIFOs ``<channel>_<epoch>`` fed by a thread (``PipeFeeder``), as the platform feeds them.
``make_problem`` generates the small data sets each ``TestProblem.kind`` names.
"""

from __future__ import annotations

import errno
import io
import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from ..io.protobuf import write_recordio_protobuf

CSV = "text/csv"
RECORDIO = "application/x-recordio-protobuf"
LIBSVM = "text/libsvm"


@dataclass
class Dataset:
    X: np.ndarray
    y: np.ndarray | None
    rows: list[str] | None = None      # raw CSV lines (entity,ip) for kind entity_ip


def make_problem(kind: str, n_rows: int, n_features: int, seed: int = 0) -> Dataset:
    rng = np.random.default_rng(seed)
    if kind == "entity_ip":
        n_ent = 12
        ents = rng.integers(0, n_ent, n_rows)
        # each entity uses a few IPs of its own /24 network
        ips = [f"10.{e}.{rng.integers(0, 3)}.{rng.integers(1, 5)}" for e in ents]
        return Dataset(np.zeros((n_rows, 0), np.float32), None, [f"user{e},{ip}" for e, ip in zip(ents, ips)])
    truth = np.random.default_rng(12345)  # the same ground truth for every channel; rows differ by seed
    X = rng.normal(size=(n_rows, n_features)).astype(np.float32)
    w = truth.normal(size=n_features)
    if kind == "binary":
        y = (X @ w + 0.3 * rng.normal(size=n_rows) > 0).astype(np.float32)
    elif kind == "multiclass":
        W = truth.normal(size=(n_features, 3))
        y = (X @ W).argmax(axis=1).astype(np.float32)
    elif kind == "regression":
        y = (X @ w + 0.1 * rng.normal(size=n_rows)).astype(np.float32)
    elif kind in ("clusters", "anomaly"):
        centers = truth.normal(scale=6.0, size=(3, n_features))
        X = (centers[rng.integers(0, 3, n_rows)] + rng.normal(size=(n_rows, n_features))).astype(np.float32)
        y = np.zeros(n_rows, np.float32)
        if kind == "anomaly":  # a few far-away points labelled 1
            idx = rng.choice(n_rows, max(2, n_rows // 50), replace=False)
            X[idx] += 40.0
            y[idx] = 1.0
    else:
        raise ValueError(f"unknown problem kind {kind}")
    return Dataset(X, y)


def encode(data: Dataset, fmt: str, labelled: bool, sparse: bool = False) -> tuple[bytes, str]:
    """Bytes of one data file in a format, and the channel's ContentType."""
    if data.rows is not None:
        return ("\n".join(data.rows) + "\n").encode(), CSV
    y = data.y if labelled else None
    if fmt == CSV:
        arr = data.X if y is None else np.column_stack([y, data.X])
        text = "\n".join(",".join(f"{v:.7g}" for v in row) for row in arr) + "\n"
        return text.encode(), CSV if labelled else CSV + ";label_size=0"
    if fmt == LIBSVM:
        lines = []
        for i, row in enumerate(data.X):
            lab = data.y[i] if data.y is not None else 0
            lines.append(f"{lab:g} " + " ".join(f"{j}:{v:.7g}" for j, v in enumerate(row) if v != 0))
        return ("\n".join(lines) + "\n").encode(), LIBSVM
    buf = io.BytesIO()
    write_recordio_protobuf(buf, sp.csr_matrix(data.X) if sparse else data.X, y)
    return buf.getvalue(), RECORDIO


def prepare_job(base: Path, hyperparameters: dict[str, str],
                channels: dict[str, tuple[bytes | dict[str, bytes], str]], mode: str = "File") -> Path:
    """Write /opt/ml under ``base``. File channels get their data now (one file ``part-0``, or a SampleData
    channel's files by name); Pipe channels are left to a feeder."""
    cfg = base / "input" / "config"
    cfg.mkdir(parents=True, exist_ok=True)
    (cfg / "hyperparameters.json").write_text(json.dumps({k: str(v) for k, v in hyperparameters.items()}))
    (cfg / "inputdataconfig.json").write_text(json.dumps({
        name: {"ContentType": ct, "TrainingInputMode": mode, "S3DistributionType": "FullyReplicated",
               "RecordWrapperType": "None"} for name, (_, ct) in channels.items()}))
    (cfg / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-1", "hosts": ["algo-1"]}))
    data = base / "input" / "data"
    data.mkdir(parents=True, exist_ok=True)
    if mode == "File":
        for name, (payload, _) in channels.items():
            (data / name).mkdir(exist_ok=True)
            files = payload if isinstance(payload, dict) else {"part-0": payload}
            for file_name, content in files.items():  # a SampleData channel: several files, sub-folders
                (data / name / file_name).parent.mkdir(parents=True, exist_ok=True)
                (data / name / file_name).write_bytes(content)
    for d in ("model", "output/data"):
        (base / d).mkdir(parents=True, exist_ok=True)
    return base


class PipeFeeder:
    """Feeds each channel's bytes into FIFOs ``<channel>_0``, ``_1``, ... as the program opens them.

    The FIFO for the next epoch is created once the previous one was read to the end; a writer waits for a
    reader with non-blocking opens so ``stop()`` always ends the thread.
    """

    def __init__(self, data_dir: Path, channels: dict[str, bytes], max_epochs: int = 50):
        self.data_dir, self.channels, self.max_epochs = data_dir, channels, max_epochs
        self.epochs_served: dict[str, int] = {c: 0 for c in channels}
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._feed, args=(c,), daemon=True) for c in channels]

    def __enter__(self):
        # every channel's first FIFO exists before the program starts, as on the platform: made by the feeding
        # threads instead, a program that opens ``<channel>_0`` at once could find no file there
        for channel in self.channels:
            first = self.data_dir / f"{channel}_0"
            if not first.exists():
                os.mkfifo(first)
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self._stop.set()
        for t in self._threads:
            t.join(5)

    def _feed(self, channel: str):
        payload = self.channels[channel]

        def fifo(epoch: int) -> Path:
            path = self.data_dir / f"{channel}_{epoch}"
            if not path.exists():
                os.mkfifo(path)
            return path

        for epoch in range(self.max_epochs):
            path = fifo(epoch)
            fd = None
            while fd is None:
                if self._stop.is_set():
                    return
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
                except OSError as e:
                    if e.errno != errno.ENXIO:
                        raise
                    time.sleep(0.005)
            os.set_blocking(fd, True)
            try:
                with os.fdopen(fd, "wb") as f:
                    for i in range(0, len(payload), 65536):
                        f.write(payload[i:i + 65536])
                    # the next epoch's FIFO exists before this one's EOF, as the platform's feeder does: a program
                    # that opens <channel>_<n+1> the moment it sees EOF always finds it
                    if epoch + 1 < self.max_epochs:
                        fifo(epoch + 1)
            except BrokenPipeError:
                pass  # the program closed early, which the contract allows
            self.epochs_served[channel] = epoch + 1


@dataclass
class TrainingResult:
    returncode: int
    output: str
    base: Path
    seconds: float

    @property
    def model_dir(self) -> Path:
        return self.base / "model"

    @property
    def failure(self) -> str:
        p = self.base / "output" / "failure"
        return p.read_text() if p.exists() else ""


def run_training(module: str, base: Path, timeout: float = 120.0, pipe_channels: dict[str, bytes] | None = None
                 ) -> TrainingResult:
    env = dict(os.environ, SAGEMAKER_BASE_DIR=str(base), PYTHONUNBUFFERED="1")
    for k in [k for k in env if k.startswith("SM_")]:
        del env[k]
    # One vCPU, as a small instance type: torch's threads spin-wait on each other on a loaded machine (a
    # training step measured 0.03 s on one thread, 0.5-8 s on two while other tests ran).
    env["SM_NUM_CPUS"] = "1"
    src = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    start = time.monotonic()
    feeder = PipeFeeder(base / "input" / "data", pipe_channels) if pipe_channels else None
    if feeder:
        feeder.__enter__()
    proc = subprocess.Popen([sys.executable, "-m", module], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        out += f"\n[harness] killed after {timeout}s"
    finally:
        if feeder:
            feeder.stop()
    return TrainingResult(proc.returncode, out, base, time.monotonic() - start)


def logged_metrics(output: str, metrics: dict[str, tuple[str, str]]) -> dict[str, float]:
    """Last value of each declared metric found in the output, by its regex (as the platform reads it)."""
    import re
    found = {}
    for name, (regex, _) in metrics.items():
        for line in output.splitlines():
            m = re.search(regex, line.replace("\t", "#011"))
            if m:
                found[name] = float(m.group(1))
    return found
