"""Run a job's program where the Shipyard home is not visible: only its own job folder (and the environments).

The program runs as the server's user, so file modes alone cannot keep it from the home's credentials file,
database, objects or other jobs' folders. Where this process may create a mount namespace (root, or an
unprivileged user namespace), the program starts in one in which the home is an empty private ``tmpfs`` with
the job folder bound back at its path and the environments folder bound read-only: the same paths work,
nothing else of the home is there. ``unshare`` execs the program in place (no fork), so its pid, process group
and signals are the program's own. Where namespaces are not available the program runs as before (the caller
logs it). Stdlib only: it sits on every job's start-up path.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

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
    return [*args, "sh", "-c", _SCRIPT, "shipyard-job", str(home), str(job_dir), str(Path(cwd).resolve()), envs,
            *cmd]
