"""Finding and ending the processes a Shipyard home's server started (jobs, model servers), by /proc.

Used by ``shipyard stop --all`` and by the test fixtures (through :mod:`shipyard.testing.server`). Linux only
(it reads ``/proc``); elsewhere nothing is found.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path


def _names_home(blob: bytes, home: bytes) -> bool:
    """True if ``home`` occurs in ``blob`` as a whole path (not as a prefix of a longer name)."""
    start = 0
    while True:
        i = blob.find(home, start)
        if i < 0:
            return False
        end = i + len(home)
        if end == len(blob) or blob[end:end + 1] in (b"/", b"\0", b" ", b":", b'"', b"'", b",", b"\n", b"="):
            return True
        start = i + 1


def processes_under(home: str | Path, environ: bool = True) -> list[int]:
    """Pids (other than ours and our ancestors) whose command line, environment or working folder names ``home``.

    ``environ=False`` leaves out processes that only name it in their environment (a user's shell with
    ``SHIPYARD_HOME`` set, say): what a person's ``shipyard stop --all`` wants."""
    if not os.path.isdir("/proc"):
        return []
    target = os.fsencode(str(Path(home).resolve()))
    raw = os.fsencode(str(home))
    skip = {os.getpid()}
    pid = os.getppid()
    while pid > 1 and pid not in skip:
        skip.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    found = []
    home_dir = str(Path(home).resolve())
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) in skip:
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            cwd = ""
        if cwd == home_dir or cwd.startswith(home_dir + "/"):
            found.append(int(entry))
            continue
        for name in ("cmdline", "environ") if environ else ("cmdline",):
            try:
                blob = Path(f"/proc/{entry}/{name}").read_bytes()
            except OSError:
                continue
            if _names_home(blob, target) or (raw != target and _names_home(blob, raw)):
                found.append(int(entry))
                break
    return found


def kill_processes_under(home: str | Path, grace: float = 3.0, environ: bool = True) -> list[int]:
    """SIGTERM, then SIGKILL, every process naming ``home``. Returns the pids signalled."""
    pids = processes_under(home, environ=environ)
    return kill_pids(pids, grace)


def kill_pids(pids: list[int], grace: float = 3.0) -> list[int]:
    """SIGTERM ``pids``, wait up to ``grace`` seconds, SIGKILL the ones left. Returns ``pids``."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    left = list(pids)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(p)]
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return pids


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


_alive = alive


def cmdline(pid: int) -> list[str]:
    try:
        return [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0") if a]
    except OSError:
        return []


def parent(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def shipyard_processes_under(home: str | Path) -> list[int]:
    """What a server on ``home`` started: processes naming ``home`` (command line or working folder) that run
    a ``python -m shipyard.*`` module (launchers, executors, model servers), and all their descendants (a
    job's own ``train.py``, say). A person's shell, editor or ``tail -f`` in the home is not among them."""
    roots = set()
    for pid in processes_under(home, environ=False):
        args = cmdline(pid)
        if any(a == "-m" and i + 1 < len(args) and args[i + 1].startswith("shipyard.") for i, a in enumerate(args)):
            roots.add(pid)
    if not roots:
        return []
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = parent(int(entry))
            if ppid is not None:
                children.setdefault(ppid, []).append(int(entry))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        if pid in found:
            continue
        found.add(pid)
        todo.extend(children.get(pid, []))
    found.discard(os.getpid())
    return sorted(found)
