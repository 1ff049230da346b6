"""Run a job's program where the Shipyard home is not visible: only its own job folder (and the environments).

The program runs as the server's user, so file modes alone cannot keep it from the home's credentials file,
database, objects or other jobs' folders. Where this process may create a mount namespace (root, or an
unprivileged user namespace), the program starts in one in which the home is an empty private ``tmpfs`` with
the job folder bound back at its path and the environments folder bound read-only: the same paths work,
nothing else of the home is there. ``unshare`` execs in place (no fork), so the pid the caller started stays
the one it signals and waits for (the program itself, or the supervisor below). Where namespaces are not
available the program runs as before (the caller logs it). Stdlib only: it sits on every job's start-up path.

Processes are hidden too, where the host allows a PID namespace with a fresh ``/proc`` (probed once): the
program cannot read the server's ``/proc/<pid>/environ``, command line or open files, nor see any process but
its own. ``unshare --pid --fork`` would make the program PID 1 of the namespace, which ignores every signal it
has no handler for (a plain SIGTERM would do nothing), and util-linux's forking parent blocks SIGTERM
instead of passing it on. So this file is also a tiny init, run by path (``python -I isolation.py --pid-init
-- cmd``, standard library only, so the job's own ``PYTHONPATH`` cannot shadow what it imports):

- the *supervisor* keeps the pid the executor started (its process group, its pidfd), creates the PID
  namespace and forks the *init* into it; a SIGTERM/SIGINT/SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2 it gets is passed
  to the init, and when the program ends it ends the same way: the program's exit code, or death by the
  program's signal, so the executor reports ``killed by signal N`` as before;
- the *init* (PID 1) mounts ``/proc`` for the namespace, forks the program (PID 2), passes signals on to it
  exactly once, reaps orphans, and reports the program's wait status to the supervisor through a pipe.
  When it exits, the kernel kills whatever the program left running in the namespace; a SIGKILL to the
  supervisor's process group reaches all three.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
PR_SET_PDEATHSIG = 1
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# The program's signals start as a fresh process's would (Python ignores SIGPIPE and SIGXFSZ for itself).
RESTORED = (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED)

# positional arguments: $1 home, $2 job folder, $3 working folder, $4 environments folder ("" if none); then
# the program. The job folder (and environments) are bound aside, the home covered, and they moved back.
_SCRIPT = r"""
set -e
home=$1; job=$2; cwd=$3; envs=$4; shift 4
stage=$(mktemp -d /tmp/.shipyard-job-XXXXXX)
mkdir "$stage/job" "$stage/envs"
mount --rbind "$job" "$stage/job"
if [ -n "$envs" ]; then mount --rbind "$envs" "$stage/envs"; fi
mount -t tmpfs -o mode=700,size=64k shipyard-private "$home"
mkdir -p "$job"
mount --move "$stage/job" "$job"
if [ -n "$envs" ]; then
  mkdir -p "$envs"
  mount --move "$stage/envs" "$envs"
  mount -o remount,bind,ro "$envs" 2>/dev/null || true
fi
rmdir "$stage/job" "$stage/envs" "$stage" 2>/dev/null || true
cd "$cwd"
exec "$@"
"""


@functools.lru_cache(maxsize=1)
def _unshare_args() -> tuple[str, ...] | None:
    """The ``unshare`` arguments that work here (probed once), or None."""
    unshare, mount = shutil.which("unshare"), shutil.which("mount")
    if not unshare or not mount or not Path("/proc/self/ns/mnt").exists():
        return None
    candidates: list[tuple[str, ...]] = [(unshare, "--mount", "--propagation", "private")]
    if os.geteuid() != 0:
        candidates = [(unshare, "--user", "--map-current-user", "--mount", "--propagation", "private")]
    for args in candidates:
        try:
            probe = subprocess.run([*args, "sh", "-c", "mount -t tmpfs -o size=4k probe /mnt 2>/dev/null "
                                    "|| mount -t tmpfs -o size=4k probe /tmp"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if probe.returncode == 0:
            return args
    return None


def available() -> bool:
    return _unshare_args() is not None


def _init_command(cmd: list[str]) -> list[str]:
    """``cmd`` run by this file's supervisor and init, in a PID namespace of its own."""
    return [sys.executable, "-I", str(Path(__file__).resolve()), "--pid-init", "--", *cmd]


@functools.lru_cache(maxsize=1)
def hides_processes() -> bool:
    """Whether a wrapped program also gets a PID namespace and a fresh ``/proc`` here (probed once)."""
    args = _unshare_args()
    if args is None:
        return False
    check = "import os, sys; sys.exit(0 if os.getpid() == 2 and os.readlink('/proc/self') == '2' else 3)"
    try:
        probe = subprocess.run([*args, *_init_command([sys.executable, "-I", "-c", check])], capture_output=True,
                               timeout=20)
    except (OSError, subprocess.SubprocessError):
        return False
    return probe.returncode == 0


def wrap(cmd: list[str], home: Path, job_dir: Path, cwd: Path, environments: Path | None) -> list[str] | None:
    """``cmd`` run with the home hidden but for ``job_dir`` (and ``environments``), or None where unsupported
    or where the layout is not one this can hide (the job folder must lie inside the home)."""
    args = _unshare_args()
    if args is None:
        return None
    home, job_dir = Path(home).resolve(), Path(job_dir).resolve()
    if home == job_dir or home not in job_dir.parents:
        return None
    envs = ""
    if environments is not None:
        environments = Path(environments).resolve()
        if home in environments.parents and environments.is_dir():
            envs = str(environments)
    if hides_processes():
        cmd = _init_command(cmd)
    return [*args, "sh", "-c", _SCRIPT, "shipyard-job", str(home), str(job_dir), str(Path(cwd).resolve()), envs,
            *cmd]


# --- the supervisor and the init (``python -I isolation.py --pid-init -- cmd``) ---------------------------------
def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _say(message: str) -> None:
    os.write(2, f"shipyard isolation: {message}\n".encode())


def _end_like(status: int) -> None:
    """Exit as a process with wait status ``status`` did: its exit code, or its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the program's core (if any) is its own business
        except (ImportError, ValueError, OSError):
            pass
        signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process (SIGCHLD, ...) cannot have ended it
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _supervise(cmd: list[str]) -> None:
    libc = _libc()
    if libc.unshare(CLONE_NEWPID) != 0:
        _say(f"cannot create a PID namespace (errno {__import__('ctypes').get_errno()})")
        os._exit(126)
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        _init(cmd, write_end, libc)
    os.close(write_end)
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, _frame: _pass_on(init, signum))
    _, init_status = os.waitpid(init, 0)
    report = b""
    while True:
        chunk = os.read(read_end, 64)
        if not chunk:
            break
        report += chunk
    try:
        status = int(report)
    except ValueError:  # the init died before reporting (killed): end as it did
        status = init_status
    _end_like(status)


def _pass_on(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _init(cmd: list[str], report_fd: int, libc) -> None:
    try:
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor gone (SIGKILLed): the namespace goes too
        if libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None) != 0:
            _say(f"cannot mount /proc for the job (errno {__import__('ctypes').get_errno()})")
            os._exit(126)
        program = os.fork()
        if program == 0:
            os.close(report_fd)
            for sig in RESTORED:
                signal.signal(sig, signal.SIG_DFL)
            try:
                os.execvp(cmd[0], cmd)
            except OSError as e:
                _say(f"cannot start {cmd[0]!r}: {e}")
                os._exit(127)
        for sig in FORWARDED:  # PID 1 gets only the signals it handles: these, passed on once
            signal.signal(sig, lambda signum, _frame: _pass_on(program, signum))
        while True:
            try:
                pid, status = os.waitpid(-1, 0)  # reap orphans too: this is the namespace's init
            except ChildProcessError:
                status = 1 << 8
                break
            if pid == program:
                break
        os.write(report_fd, str(status).encode())
        os._exit(0)
    except BaseException as e:  # noqa: BLE001 - never return into the supervisor's code
        _say(f"the job's init failed: {type(e).__name__}: {e}")
        os._exit(126)


if __name__ == "__main__":
    if len(sys.argv) > 3 and sys.argv[1] == "--pid-init" and sys.argv[2] == "--":
        _supervise(sys.argv[3:])
    sys.stderr.write("usage: python -I isolation.py --pid-init -- <program> [args...]\n")
    sys.exit(2)
