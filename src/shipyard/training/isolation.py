"""The older entry point of the job sandbox, kept for its callers: :mod:`shipyard.runners.sandbox` is the one
wrapper now (``/opt/ml`` at its real path, private ``/tmp``, the home hidden, network and cgroup limits).

:func:`wrap` gives what this module always gave: ``cmd`` run with the Shipyard home hidden but for ``job_dir``
(and the environments, read-only), in a PID namespace where the host allows, or None where no mount namespace
is available or the job folder does not lie inside the home.
"""

from __future__ import annotations

from pathlib import Path

from ..runners.sandbox import Sandbox, available, hides_processes
from ..runners.sandbox import wrap as _wrap

__all__ = ["available", "hides_processes", "wrap"]


def wrap(cmd: list[str], home: Path, job_dir: Path, cwd: Path, environments: Path | None) -> list[str] | None:
    if not available():
        return None
    home, job_dir = Path(home).resolve(), Path(job_dir).resolve()
    if home == job_dir or home not in job_dir.parents:
        return None
    read_only = []
    if environments is not None:
        environments = Path(environments).resolve()
        if home in environments.parents and environments.is_dir():
            read_only.append(str(environments))
    sandbox = Sandbox(opt_ml=str(job_dir), hide=[str(home)], read_only=read_only)
    return _wrap(cmd, sandbox, cwd).command
