"""Matching a job's ``MetricDefinitions`` regexes against its log lines, outside the server's process.

A user's regex can backtrack catastrophically (``(a+)+$`` against forty ``a`` then ``b`` runs for hours), and
Python's ``re`` holds the GIL while it matches: run in the server, one such pattern freezes every request,
endpoint traffic included. So the patterns run here, in a worker process (``python -I -S <this file>``; it
imports nothing but the standard library and sees none of the server's environment), with a time budget:

- :class:`MetricMatcher` (used by the server) sends the worker batches of lines; the worker runs one pattern at
  a time over the whole batch and reports each pattern's hits as soon as it has them;
- each pattern gets ``budget`` seconds per batch. A pattern that overruns it is *disabled* (reported in
  :attr:`MatchResult.disabled`; the caller records it for the job and warns in the job's log): the worker is
  killed and restarted and the batch goes on with the patterns after it. The worker also interrupts itself
  (``setitimer``; ``re`` checks for signals while it matches) a little after the budget, so a worker whose
  server died never spins for long;
- lines are cut to :data:`MAX_LINE_CHARS` before matching (a metric is near the start of a line; CloudWatch
  itself caps an event at 256 KB), batches to :data:`MAX_BATCH_LINES` lines / :data:`MAX_BATCH_CHARS`.

The result is the same as matching in-process: a line's rendered form (TAB as ``#011``, as SageMaker's logs show
it, so the SageMaker SDK's regexes match) is searched first, then the raw line; group 1 must parse as a finite
float. :func:`validate_pattern` is the create-time check (length, compiles).

Anything that reads job logs (the training controller today, the executor possibly later) can use it::

    matcher = MetricMatcher(budget=2.0)
    result = matcher.match(definitions, lines, disabled={"(a+)+$"})
    for line_index, def_index, value in result.hits: ...
    for regex in result.disabled: ...   # record; warn in the job's log
    matcher.close()
"""

from __future__ import annotations

import json
import math
import os
import re
import select
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field

MAX_LINE_CHARS = 16 * 1024       # characters of a line that patterns see
MAX_PATTERN_CHARS = 500          # AWS's MetricRegex maximum
MAX_BATCH_LINES = 2000
MAX_BATCH_CHARS = 1 << 20
DEFAULT_BUDGET = 2.0             # seconds one pattern may take over one batch
STARTUP_TIMEOUT = 30.0           # the worker's start is not charged to any pattern
WORKER_MEMORY = 1 << 30          # address-space limit of the worker (bytes)
_ENV_KEEP = ("PATH", "LD_LIBRARY_PATH", "LANG", "LC_ALL", "TMPDIR")


def validate_pattern(text: str) -> str | None:
    """Why ``text`` cannot be a metric regex (too long, does not compile), or None when it can."""
    if not isinstance(text, str) or not text:
        return "the regex is empty"
    if len(text) > MAX_PATTERN_CHARS:
        return f"the regex is longer than {MAX_PATTERN_CHARS} characters"
    try:
        re.compile(text)
    except (re.error, OverflowError, RecursionError, ValueError) as e:
        return f"the regex is invalid: {e}"
    return None


def warning_line(name: str, regex: str, budget: float) -> str:
    """The line a job's log gets when one of its metric regexes is disabled."""
    return (f"[Shipyard] WARNING: the MetricDefinitions regex of metric {name!r} ({regex!r}) took more than "
            f"{budget:g} s over the job's log lines and was disabled for this job; the other metrics are "
            "still recorded.")


@dataclass
class MatchResult:
    hits: list[tuple[int, int, float]] = field(default_factory=list)  # (line, definition index, value), in order
    disabled: list[str] = field(default_factory=list)  # regexes newly disabled (over budget)


class _Timeout(Exception):
    pass


class MetricMatcher:
    """A worker process that matches metric regexes under a time budget; safe to share between threads."""

    def __init__(self, budget: float = DEFAULT_BUDGET, max_line: int = MAX_LINE_CHARS):
        self.budget = float(budget)
        self.max_line = int(max_line)
        self._proc: subprocess.Popen | None = None
        self._buf = b""
        self._lock = threading.Lock()
        self.restarts = 0  # workers killed for overrunning (for tests and logs)

    # --- the server side ---
    def match(self, definitions: list[dict], lines: list[str], disabled=()) -> MatchResult:
        """Match each definition not in ``disabled`` (regex texts) against ``lines``."""
        result = MatchResult()
        off = set(disabled)
        active = [(k, d.get("Regex") or "") for k, d in enumerate(definitions)
                  if (d.get("Regex") or "") and (d.get("Regex") or "") not in off]
        if not active or not lines:
            return result
        cut = [ln[: self.max_line] for ln in lines]
        found: list[tuple[int, int, float]] = []
        with self._lock:
            for start, batch in _batches(cut):
                pending = [a for a in active if a[1] not in off]
                for _ in range(len(pending) + 1):  # each failed round drops at least one pattern
                    if not pending:
                        break
                    done, guilty = self._run(pending, batch)
                    for k, hits in done:
                        found.extend((start + j, k, v) for j, v in hits)
                    if guilty is None:
                        break
                    off.add(guilty[1])
                    result.disabled.append(guilty[1])
                    pending = [a for a in pending[pending.index(guilty) + 1:] if a[1] not in off]
        found.sort(key=lambda h: (h[0], h[1]))
        result.hits = found
        return result

    def close(self) -> None:
        with self._lock:
            self._kill()

    def _run(self, pending: list[tuple[int, str]], batch: list[str]):
        """One round: ([(definition index, hits)], the (index, regex) that overran or None). OSError when the
        worker cannot be started or fed (no pattern is blamed for that)."""
        done: list[tuple[int, list]] = []
        payload = json.dumps({"patterns": [rx for _, rx in pending], "lines": batch,
                              "budget": self.budget}).encode() + b"\n"
        for attempt in range(2):  # a worker that died while idle is started again once
            proc = self._ensure()
            assert proc.stdin is not None
            try:
                proc.stdin.write(payload)
                proc.stdin.flush()
                break
            except OSError:
                self._kill()
                if attempt:
                    raise
        try:
            while True:
                msg = self._read(self.budget)
                if msg.get("done"):
                    return done, None
                i = int(msg["p"])
                if msg.get("timeout") or i != len(done):  # the worker interrupted itself, or lost its place
                    raise _Timeout
                done.append((pending[i][0], [(int(j), float(v)) for j, v in msg.get("hits") or []]))
        except (_Timeout, OSError, ValueError, KeyError, TypeError):
            self._kill()
            self.restarts += 1
            return done, pending[len(done)] if len(done) < len(pending) else None

    def _ensure(self) -> subprocess.Popen:
        if self._proc is not None and self._proc.poll() is None:
            return self._proc
        self._kill()
        env = {k: os.environ[k] for k in _ENV_KEEP if k in os.environ}
        self._proc = subprocess.Popen([sys.executable, "-I", "-S", os.path.abspath(__file__)],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      env=env, close_fds=True, start_new_session=True)
        self._buf = b""
        try:
            if not self._read(STARTUP_TIMEOUT).get("ready"):
                raise OSError("the metric matcher did not start")
        except _Timeout:
            self._kill()
            raise OSError("the metric matcher did not start in time") from None
        return self._proc

    def _read(self, timeout: float) -> dict:
        """The worker's next message, or _Timeout after ``timeout`` seconds; OSError when it ended."""
        proc = self._proc
        assert proc is not None and proc.stdout is not None
        deadline = time.monotonic() + timeout
        fd = proc.stdout.fileno()
        while b"\n" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                raise OSError("the metric matcher ended")
            self._buf += chunk
        line, _, self._buf = self._buf.partition(b"\n")
        return json.loads(line)

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        self._buf = b""
        if proc is None:
            return
        try:
            proc.kill()
        except OSError:
            pass
        for f in (proc.stdin, proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _batches(lines: list[str]):
    start, size, batch = 0, 0, list[str]()
    for i, ln in enumerate(lines):
        if batch and (len(batch) >= MAX_BATCH_LINES or size + len(ln) > MAX_BATCH_CHARS):
            yield start, batch
            start, size, batch = i, 0, []
        batch.append(ln)
        size += len(ln)
    if batch:
        yield start, batch


# --- the worker side (runs as a script: standard library only) ---
class _Overrun(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Overrun


def _hits(rx: re.Pattern, lines: list[str]) -> list[list]:
    out = []
    for j, raw in enumerate(lines):
        rendered = raw.replace("\t", "#011")
        m = rx.search(rendered) or (rx.search(raw) if rendered != raw else None)
        if m is None or not m.groups():
            continue
        try:
            value = float(m.group(1))
        except (TypeError, ValueError, OverflowError):
            continue
        if math.isfinite(value):
            out.append([j, value])
    return out


def _worker_main() -> None:
    import signal

    try:
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (WORKER_MEMORY, WORKER_MEMORY))
        os.nice(5)
    except (ImportError, OSError, ValueError):
        pass
    signal.signal(signal.SIGALRM, _on_alarm)
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    cache: dict[str, re.Pattern | None] = {}

    def send(msg: dict) -> None:
        stdout.write(json.dumps(msg).encode() + b"\n")
        stdout.flush()

    send({"ready": True})
    for raw in iter(stdin.readline, b""):
        try:
            req = json.loads(raw)
        except ValueError:
            break
        hard = float(req.get("budget") or DEFAULT_BUDGET) * 1.5 + 0.5
        for i, text in enumerate(req.get("patterns") or []):
            signal.setitimer(signal.ITIMER_REAL, hard)
            try:
                if text not in cache:
                    if len(cache) > 512:
                        cache.clear()
                    try:
                        cache[text] = re.compile(text)
                    except (re.error, OverflowError, RecursionError, ValueError):
                        cache[text] = None
                rx = cache[text]
                hits = _hits(rx, req.get("lines") or []) if rx is not None else []
                signal.setitimer(signal.ITIMER_REAL, 0)
            except (_Overrun, MemoryError, RecursionError):
                signal.setitimer(signal.ITIMER_REAL, 0)
                send({"p": i, "timeout": True})
                return  # the server restarts a fresh worker
            send({"p": i, "hits": hits})
        send({"done": True})


if __name__ == "__main__":
    _worker_main()
