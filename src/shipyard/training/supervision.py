"""What every job executor (training, processing) does around the program it runs, the same way.

- the job's log: ``log_line`` writes to stdout, which the runner captures into the host's log file;
- ``private_variable``: what of the executor's own environment a program never inherits;
- :class:`SupervisedProgram`, the stop handling both executors mix in: SIGTERM (StopXJob) or the deadline sends
  the program exactly one SIGTERM and arms a SIGKILL after the grace period (``_on_term``), the program's
  stderr is copied to the log while its last lines are kept for a failure reason (``_tee_stderr``), and the
  program's process group is killed at the end (``_kill_program_group``);
- :class:`ExitWaiter` (one blocking wait per tick, not Popen's 50 ms polling) and :func:`die_with_parent_hook`
  (a program never outlives its executor).

Signal handlers only set flags and signal the program; the executor's main loop acts on the rest, so no lock
is ever taken inside a handler. Standard library only: it sits on every job's start-up path.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time


def log_line(message: str) -> None:
    sys.stdout.write(message + "\n")
    sys.stdout.flush()


def private_variable(name: str) -> bool:
    """Variables of the executor's environment a job never inherits: the server's settings and secrets
    (``SHIPYARD_*``) and whatever AWS credentials or profile the server runs with (``AWS_*``)."""
    return name.startswith("SHIPYARD_") or name.startswith("AWS_")


class SupervisedProgram:
    """The program an executor runs, and how it is stopped (mixed into each executor class)."""

    grace: float
    proc: subprocess.Popen | None
    stop_reason: str | None      # "Stopped" | "MaxRuntimeExceeded"
    kill_at: float | None
    stderr_tail: collections.deque[str]

    def _init_supervision(self, grace: float) -> None:
        self.grace = grace
        self.proc = None
        self.stop_reason = None
        self.kill_at = None
        self.stderr_tail = collections.deque(maxlen=30)

    def _on_term(self, signum, _frame) -> None:
        # A stop may reach us twice (the runner signals our group, the launcher forwards); the program gets
        # exactly one SIGTERM, as a container's PID 1 does.
        if self.stop_reason is None:
            self.stop_reason = "Stopped"
        if self.proc is not None and self.kill_at is None:
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            self.kill_at = time.monotonic() + self.grace

    def _tee_stderr(self, stream) -> None:
        out = sys.stderr.buffer
        for raw in iter(stream.readline, b""):
            out.write(raw)
            out.flush()
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip("\n"))
        stream.close()

    def _kill_program_group(self) -> None:
        """SIGKILL to the program's process group: whatever it left running ends with it."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class ExitWaiter:
    """Waits for the program's exit for at most ``timeout`` s in one blocking ``select`` on a pidfd.

    ``Popen.wait(timeout)`` polls with sleeps of at most 50 ms, waking this process about 50 times a second
    beside a CPU-bound program on the same cores; this wakes it once per timeout (or at once on exit)."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        try:
            self.fd: int | None = os.pidfd_open(proc.pid)
        except (AttributeError, OSError):  # no pidfd (an old kernel): Popen's polling wait
            self.fd = None

    def wait(self, timeout: float) -> int | None:
        if self.fd is None:
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                return None
        import select

        select.select([self.fd], [], [], timeout)
        rc = self.proc.poll()
        if rc is not None:
            os.close(self.fd)
            self.fd = None
        return rc


def die_with_parent_hook():
    """A pre-exec hook asking Linux for SIGKILL when the executor dies (prctl PR_SET_PDEATHSIG), or None.

    ctypes is loaded here, in the parent: importing in a forked child of a threaded process can deadlock.
    """
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def hook() -> None:
        prctl(1, signal.SIGKILL)

    return hook
