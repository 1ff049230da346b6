"""The profiler's system monitor: CPU per core, memory and GPU, sampled every ``ProfilingIntervalInMilliseconds``.

Written as AWS's Debugger writes system metrics, one JSON object per line, a file per ``rotate_s`` seconds::

    <root>/system/incremental/<YYYYMMDDHH>/<epoch seconds>.algo-1.json
    {"Name": "cpu0", "Type": "cpu", "Dimension": "CPUUtilization", "Timestamp": 1700000000.5, "Value": 41.0}
    {"Name": "Memory", "Type": "memory", "Dimension": "MemoryUsedPercent", "Timestamp": ..., "Value": 12.3}
    {"Name": "gpu0", "Type": "gpu", "Dimension": "GPUUtilization", "Timestamp": ..., "Value": 87.0}

CPU and memory come from ``/proc`` (the instance, as AWS measures it: on Shipyard the machine the job runs
on); GPUs from ``nvidia-smi`` when the job has any. The job uploads the folder to
``<ProfilerConfig.S3OutputPath>/<job>/profiler-output/`` with its tensors (:mod:`.job_side`).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

DEFAULT_INTERVAL_MS = 500


def _cpu_times() -> list[tuple[int, int]]:
    """(busy, total) jiffies per core from /proc/stat."""
    out: list[tuple[int, int]] = []
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        if line.startswith("cpu") and line[3:4].isdigit():
            v = [int(x) for x in line.split()[1:]]
            idle = v[3] + (v[4] if len(v) > 4 else 0)
            out.append((sum(v) - idle, sum(v)))
    return out


def memory_used_percent() -> float:
    info = {}
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            key, _, rest = line.partition(":")
            info[key] = int(rest.split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = info.get("MemTotal") or 0
    avail = info.get("MemAvailable", info.get("MemFree", 0))
    return round(100.0 * (total - avail) / total, 2) if total else 0.0


def gpu_utilization() -> list[tuple[float, float]]:
    """(GPU %, GPU memory %) per GPU from nvidia-smi; [] without one."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used,memory.total",
                              "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    result = []
    for line in out.strip().splitlines():
        try:
            util, used, total = (float(x) for x in line.split(","))
        except ValueError:
            continue
        result.append((util, round(100.0 * used / total, 2) if total else 0.0))
    return result


class SystemSampler:
    """A daemon thread sampling every ``interval_ms`` into files under ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path, interval_ms: int = DEFAULT_INTERVAL_MS, host: str = "algo-1",
                 rotate_s: float = 10.0, gpus: bool = True):
        self.root = Path(root)
        self.interval = max(0.1, interval_ms / 1000.0)
        self.host, self.rotate_s, self.gpus = host, rotate_s, gpus
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="profiler-sampler", daemon=True)

    def start(self) -> "SystemSampler":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def sample(self, previous: list[tuple[int, int]], now: float) -> tuple[list[dict], list[tuple[int, int]]]:
        current = _cpu_times()
        rows = []
        for i, ((b0, t0), (b1, t1)) in enumerate(zip(previous, current)):
            util = 100.0 * (b1 - b0) / (t1 - t0) if t1 > t0 else 0.0
            rows.append({"Name": f"cpu{i}", "Type": "cpu", "Dimension": "CPUUtilization", "Timestamp": now,
                         "Value": round(util, 2)})
        rows.append({"Name": "Memory", "Type": "memory", "Dimension": "MemoryUsedPercent", "Timestamp": now,
                     "Value": memory_used_percent()})
        if self.gpus:
            for i, (util, mem) in enumerate(gpu_utilization()):
                rows.append({"Name": f"gpu{i}", "Type": "gpu", "Dimension": "GPUUtilization", "Timestamp": now,
                             "Value": util})
                rows.append({"Name": f"gpu{i}", "Type": "gpu", "Dimension": "GPUMemoryUtilization",
                             "Timestamp": now, "Value": mem})
        return rows, current

    def _run(self) -> None:
        previous = _cpu_times()
        file_start, path = 0.0, None
        while not self._stop.wait(self.interval):
            now = time.time()
            rows, previous = self.sample(previous, now)
            if path is None or now - file_start >= self.rotate_s:
                file_start = now
                folder = self.root / "system" / "incremental" / time.strftime("%Y%m%d%H", time.gmtime(now))
                folder.mkdir(parents=True, exist_ok=True)
                path = folder / f"{int(now)}.{self.host}.json"
            with open(path, "a") as f:
                f.write("".join(json.dumps(r) + "\n" for r in rows))


def read_system_metrics(lines: list[str]) -> dict[str, list[tuple[float, float]]]:
    """``{"cpu0/CPUUtilization": [(timestamp, value), ...], ...}`` from system-metrics JSON lines."""
    series: dict[str, list[tuple[float, float]]] = {}
    for line in lines:
        try:
            row = json.loads(line)
            key = f"{row['Name']}/{row['Dimension']}"
            series.setdefault(key, []).append((float(row["Timestamp"]), float(row["Value"])))
        except (ValueError, KeyError, TypeError):
            continue
    for points in series.values():
        points.sort()
    return series
