"""The sandbox's launcher, run by path in front of every sandboxed program: ``python -I -S _sandbox_init.py
key=value ... -- cmd ...`` (see :mod:`.sandbox` for what the sandbox is and who builds the setup; the setup
comes as argument words, so no ``json`` import is paid on every job's start).

One process does it all with system calls (``unshare``, ``mount``), no helper programs: each ``mount`` or
``mkdir`` run as a command costs a fork and an exec, and a job's start pays for every one. Standard library
only, imported lazily, so the job's own ``PYTHONPATH`` cannot shadow what it imports and start-up stays short.

In order: join the job's cgroup (``cgroup_procs``: written before any namespace, while this process still
sees the host's cgroup files); a new mount namespace (with a user namespace when not root), and a network
namespace with loopback up when the job has no network; the view (a private ``/tmp``, the hidden folders
covered by an empty ``tmpfs``, the kept folders bound back at their paths, read-only where asked, the job's
folder at ``/opt/ml``, the Python installation read-only); then the PID namespace and its init. A step the
host refuses is said once on stderr (the job's log) and skipped: a host without namespaces runs the program as
before, in the stand-in folder. ``exec`` keeps the pid the caller started where no PID namespace is made.

With a PID namespace, this process is the *supervisor*: it forks the *init* (PID 1), which mounts ``/proc``,
forks the program (PID 2), passes each forwarded signal on exactly once, reaps orphans and reports the
program's wait status through a pipe; the supervisor then ends the same way (exit code, or the same signal).
When the init exits the kernel kills what the program left running; a SIGKILL to the group reaches all three.
"""

import _signal as signal  # the C module: ``signal`` imports enum, a cost every job's start would pay
import os
import sys

CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x20000, 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 32, 4096, 8192, 16384, 1 << 18
PR_SET_PDEATHSIG = 1
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
# The program's signals start as a fresh process's would (Python ignores SIGPIPE and SIGXFSZ for itself).
RESTORED = (signal.SIGPIPE, signal.SIGXFSZ, *FORWARDED)


def _say(message: str) -> None:
    os.write(2, f"shipyard sandbox: {message}\n".encode())


class _Sys:
    """The few libc calls this needs, raising OSError like the ``os`` module does."""

    def __init__(self):
        import ctypes

        self.ctypes = ctypes
        self.libc = ctypes.CDLL(None, use_errno=True)

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            errno = self.ctypes.get_errno()
            raise OSError(errno, f"{what}: {os.strerror(errno)}")

    def unshare(self, flags: int) -> None:
        self._check(self.libc.unshare(flags), "unshare")

    def mount(self, source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None):
        def enc(text: str | None) -> bytes | None:
            return text.encode() if text is not None else None

        self._check(self.libc.mount(enc(source), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def _bind(s: _Sys, source: str, target: str, read_only: bool = False) -> None:
    s.mount(source, target, None, MS_BIND | MS_REC)
    if read_only:
        try:  # keep the flags a user namespace locks (nosuid, nodev), else the remount is refused
            flags = os.statvfs(target).f_flag & (MS_NOSUID | MS_NODEV | MS_NOEXEC)
            s.mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | flags)
        except OSError:
            pass


def _namespaces(s: _Sys, setup: dict) -> bool:
    flags = CLONE_NEWNS | (CLONE_NEWNET if not setup.get("network", True) else 0)
    uid, gid = os.geteuid(), os.getegid()
    try:
        s.unshare(flags | (CLONE_NEWUSER if uid != 0 else 0))
    except OSError as e:
        _say(f"the program runs without a sandbox (no mount namespace available here: {e}): /opt/ml is not "
             f"its folder, /tmp and the network are shared, the Shipyard home is visible")
        return False
    if uid != 0:  # map ourselves, as ``unshare --map-current-user`` does
        try:
            _write("/proc/self/setgroups", "deny")
        except OSError:
            pass
        _write("/proc/self/uid_map", f"{uid} {uid} 1")
        _write("/proc/self/gid_map", f"{gid} {gid} 1")
    s.mount(None, "/", None, MS_REC | MS_PRIVATE)
    if not setup.get("network", True):
        _loopback_up()
    return True


def _loopback_up() -> None:
    import _socket  # the C modules: ``socket`` imports enum
    import _struct
    import fcntl

    try:
        sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
        try:  # SIOCSIFFLAGS: lo UP|LOOPBACK|RUNNING
            fcntl.ioctl(sock.fileno(), 0x8914, _struct.pack("16sH", b"lo", 0x1 | 0x8 | 0x40))
        finally:
            sock.close()
    except OSError as e:
        _say(f"loopback stays down in the job's network namespace: {e}")


def _view(s: _Sys, setup: dict) -> None:
    """A private /tmp, the hidden folders covered, the kept ones bound back, /opt/ml, Python read-only."""
    kept: list[tuple[str, bool]] = setup.get("keep") or []  # (path, read-only)
    os.chdir("/tmp")
    stage = f".shipyard-sandbox-{os.getpid()}-{os.urandom(4).hex()}"
    os.mkdir(stage, 0o700)
    s.mount("shipyard-tmp", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777")
    os.mkdir(f"{stage}/.keep")
    for i, (path, _) in enumerate(kept):
        os.mkdir(f"{stage}/.keep/{i}")
        s.mount(path, f"{stage}/.keep/{i}", None, MS_BIND | MS_REC)
    s.mount(stage, "/tmp", None, MS_MOVE)
    os.rmdir(stage)  # through the working folder, still the host's /tmp: nothing is left behind there
    os.chdir("/")
    for path in setup.get("hide") or []:
        if os.path.isdir(path):
            s.mount("shipyard-private", path, "tmpfs", MS_NOSUID | MS_NODEV, "mode=700,size=64k")
    for i, (path, read_only) in enumerate(kept):
        os.makedirs(path, exist_ok=True)
        s.mount(f"/tmp/.keep/{i}", path, None, MS_MOVE)
        os.rmdir(f"/tmp/.keep/{i}")
        if read_only:
            _bind(s, path, path, read_only=True)
    os.rmdir("/tmp/.keep")
    job = setup.get("opt_ml") or ""
    if job:
        _opt_ml(s, job)
    for root in setup.get("read_only") or []:
        try:
            _bind(s, root, root, read_only=True)
        except OSError:
            pass


def _opt_ml(s: _Sys, job: str) -> None:
    if os.path.isdir("/opt/ml"):  # the host's own /opt/ml is covered here, never written
        s.mount(job, "/opt/ml", None, MS_BIND | MS_REC)
        return
    if not os.path.isdir("/opt"):
        _say("no /opt on this host: the job's folder is not shown at /opt/ml (the SM_* variables name it)")
        return
    # A tmpfs /opt holding the host's /opt entries (bound back) and ml/, moved over /opt.
    stage = "/tmp/.shipyard-opt"
    os.mkdir(stage)
    s.mount("shipyard-opt", stage, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755")
    for name in os.listdir("/opt"):
        source, target = f"/opt/{name}", f"{stage}/{name}"
        if os.path.isdir(source):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        try:
            s.mount(source, target, None, MS_BIND | MS_REC)
        except OSError:
            pass
    os.mkdir(f"{stage}/ml")
    s.mount(job, f"{stage}/ml", None, MS_BIND | MS_REC)
    s.mount(stage, "/opt", None, MS_MOVE)
    os.rmdir(stage)


def _end_like(status: int) -> None:
    """Exit as a process with wait status ``status`` did: its exit code, or its signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            import resource

            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # the program's core (if any) is its own business
        except (ImportError, ValueError, OSError):
            pass
        if sig not in (signal.SIGKILL, signal.SIGSTOP):  # those two cannot be caught, blocked or reset
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, [sig])
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process (SIGCHLD, ...) cannot have ended it
    os._exit(os.WEXITSTATUS(status) if os.WIFEXITED(status) else 1)


def _pass_on(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _supervise(s: _Sys, cmd: list[str]) -> None:
    read_end, write_end = os.pipe()
    init = os.fork()
    if init == 0:
        os.close(read_end)
        _init(s, cmd, write_end)
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


def _init(s: _Sys, cmd: list[str], report_fd: int) -> None:
    # PID 1 gets only the signals it handles, so the handlers come first: a stop that the supervisor passed on
    # while this init was still mounting /proc was dropped, and the program then ran to its end. Until the
    # program exists a signal waits in ``held``; around the fork the signals are blocked, so none is lost
    # in the child before it resets them for the program.
    program = 0
    held: list[int] = []

    def on_signal(signum: int, _frame: object) -> None:
        if program:
            _pass_on(program, signum)
        else:
            held.append(signum)

    try:
        for sig in FORWARDED:
            signal.signal(sig, on_signal)
        s.libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the supervisor gone (SIGKILLed): the namespace goes too
        try:
            s.mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        except OSError as e:
            _say(f"cannot mount /proc for the job ({e})")
            os._exit(126)
        signal.pthread_sigmask(signal.SIG_BLOCK, FORWARDED)
        child = os.fork()
        if child == 0:
            os.close(report_fd)
            _exec(cmd, unblock=FORWARDED)
        program = child
        for signum in held:  # each passed on once, in the order they came
            _pass_on(program, signum)
        held.clear()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, FORWARDED)  # what came during the fork goes on now
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


def _exec(cmd: list[str], unblock: tuple = ()) -> None:
    for sig in RESTORED:
        signal.signal(sig, signal.SIG_DFL)
    if unblock:  # a signal held back during the fork now acts as it would on the program
        signal.pthread_sigmask(signal.SIG_UNBLOCK, unblock)
    try:
        os.execvp(cmd[0], cmd)
    except OSError as e:
        _say(f"cannot start {cmd[0]!r}: {e}")
    os._exit(127)


def run(setup: dict, cmd: list[str]) -> None:
    for procs in setup.get("cgroup_procs") or []:
        try:
            _write(procs, str(os.getpid()))
        except OSError as e:
            _say(f"cannot join the job's cgroup ({procs}: {e}): its memory and CPU limits do not apply")
    if not setup.get("namespaces", True):
        os.chdir(setup.get("cwd") or ".")
        _joined(setup)
        _exec(cmd)
    s = _Sys()  # ctypes only where namespaces are wanted
    isolated = _namespaces(s, setup)
    if isolated:
        try:
            _view(s, setup)
        except OSError as e:
            _say(f"cannot set up the job's view of the file system: {e}")
            os._exit(126)
    os.chdir(setup.get("cwd") or ".")
    _joined(setup)
    if isolated and setup.get("pid", True):
        try:
            s.unshare(CLONE_NEWPID)
        except OSError as e:
            _say(f"other processes stay visible to the program (no PID namespace here: {e})")
        else:
            _supervise(s, cmd)
    _exec(cmd)


def _joined(setup: dict) -> None:
    """Wait until the caller has put this process in the job's cgroup (``joined=<fd>``): the caller attaches
    it from outside while this interpreter starts and builds the view (on cgroup v1 a move into a memory cgroup
    waits for an RCU grace period, ~10 ms, which would otherwise add to every start). Before any fork or exec,
    so the program and everything it starts are in the cgroup. A closed pipe (the caller died) goes on."""
    fd = setup.get("joined")
    if fd:
        try:
            os.read(int(fd), 1)
            os.close(int(fd))
        except (OSError, ValueError):
            pass


LISTS = ("hide", "keep", "keep_ro", "ro", "procs")


def parse(words: list[str]) -> dict:
    """The setup from ``key=value`` words (list keys repeat): the inverse of ``sandbox._setup_words``."""
    setup: dict = {k: [] for k in LISTS}
    for word in words:
        key, _, value = word.partition("=")
        if key in LISTS:
            setup[key].append(value)
        else:
            setup[key] = value
    return {"namespaces": setup.get("ns", "1") == "1", "network": setup.get("net", "1") == "1",
            "pid": setup.get("pid", "1") == "1", "opt_ml": setup.get("opt_ml", ""), "cwd": setup.get("cwd", ""),
            "hide": setup["hide"], "keep": [(p, False) for p in setup["keep"]] + [(p, True) for p in setup["keep_ro"]],
            "read_only": setup["ro"], "cgroup_procs": setup["procs"], "joined": setup.get("joined", "")}


if __name__ == "__main__":
    if "--" in sys.argv[1:]:
        split = sys.argv.index("--")
        if split + 1 < len(sys.argv):
            run(parse(sys.argv[1:split]), sys.argv[split + 1:])
    sys.stderr.write("usage: python -I -S _sandbox_init.py [key=value ...] -- <program> [args...]\n")
    sys.exit(2)
