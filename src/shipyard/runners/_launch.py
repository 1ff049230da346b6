"""The tiny launcher the local runner puts in front of every command, so an exit code outlives the server.

``python -m shipyard.runners._launch <exit-file> -- cmd ...`` runs ``cmd`` as its child (same process group,
same stdout/stderr), waits, and writes the child's exit code to ``<exit-file>`` atomically (temp file +
rename); then kills what is left of its process group, itself included. A server started later reads the
file to learn how work it did not launch ended. Stops are signalled to the whole group (see
:class:`~.local.LocalHandle`), so the child receives SIGTERM directly, exactly once; the launcher ignores
it and keeps waiting. Imports only light standard-library modules: it is on every job's start-up path.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys


def _write_exit(path: str, code: int) -> None:
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w") as f:
        f.write(str(code))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main(argv: list[str]) -> int:
    if len(argv) < 3 or argv[1] != "--":
        sys.stderr.write("usage: python -m shipyard.runners._launch <exit-file> -- cmd ...\n")
        return 2
    exit_file, cmd = argv[0], argv[2:]
    # The runner signals the whole process group, so the child receives every SIGTERM/SIGINT directly;
    # forwarding too would deliver it twice (a user's handler re-entered mid-print fails). The launcher only
    # has to outlive the child to record its exit code. Set before the child starts; exec resets them there.
    signal.signal(signal.SIGTERM, lambda *_: None)
    signal.signal(signal.SIGINT, lambda *_: None)
    try:
        child = subprocess.Popen(cmd)
    except OSError as e:
        sys.stderr.write(f"cannot start {cmd[0]!r}: {e}\n")
        _write_exit(exit_file, 127)
        return 127

    while True:
        try:
            code = child.wait()
            break
        except InterruptedError:  # pragma: no cover - PEP 475 retries, kept for clarity
            continue
    _write_exit(exit_file, code)
    # Whatever the command left behind in its group (a training program whose executor was killed, a
    # daemon a script forked) ends with it, as a container's processes end with the container. The exit
    # file is already written, so the launcher's own SIGKILL here changes nothing a reader sees.
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.killpg(0, signal.SIGKILL)
    except OSError:
        pass
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
