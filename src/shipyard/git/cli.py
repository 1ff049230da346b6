"""Running ``git``: one function, a clean environment, bounded time, failures as ValidationError.

Git reads the user's global and system configuration and may prompt for a password on a terminal; the server
must do neither (a prompt would hang a controller). So every call runs with ``GIT_TERMINAL_PROMPT=0``, no
system or global configuration, and a fixed author, and is given a timeout.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..errors import ValidationError

TIMEOUT_S = 60.0
AUTHOR = ("Shipyard", "shipyard@localhost")
# what git keeps of the server's environment: the locale, and the operator's trust and proxy settings (a private
# CA for an internal Git server: GIT_SSL_CAINFO). Not SSH_AUTH_SOCK: the server's SSH keys are never lent.
SSH = "ssh -o BatchMode=yes -o IdentityAgent=none -o IdentitiesOnly=yes -o IdentityFile=none"
PASSED = ("PATH", "LANG", "LC_ALL", "TMPDIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH", "SSL_CERT_FILE", "SSL_CERT_DIR",
          "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy")


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment git runs in: the host's PATH and locale, no prompts, no user configuration."""
    env = {k: v for k, v in os.environ.items() if k in PASSED}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
                "HOME": os.environ.get("HOME", "/tmp"), "GIT_AUTHOR_NAME": AUTHOR[0],
                "GIT_AUTHOR_EMAIL": AUTHOR[1], "GIT_COMMITTER_NAME": AUTHOR[0], "GIT_COMMITTER_EMAIL": AUTHOR[1],
                "GIT_SSH_COMMAND": SSH})
    env.update(extra or {})
    return env


def git(args: list[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
        timeout: float = TIMEOUT_S, what: str = "git") -> str:
    """``git <args>``'s standard output as text (see :func:`git_bytes`)."""
    return git_bytes(args, cwd=cwd, env=env, timeout=timeout, what=what).decode("utf-8", "replace")


def git_bytes(args: list[str], *, cwd: str | Path | None = None, env: dict[str, str] | None = None,
              timeout: float = TIMEOUT_S, what: str = "git") -> bytes:
    """``git <args>``'s standard output; a failure (or a timeout) is a ValidationError naming ``what`` with
    git's own message, which says what to fix (a wrong URL, refused credentials, a missing branch)."""
    try:
        done = subprocess.run(["git", *args], cwd=cwd, env=environment(env), stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ValidationError(f"{what}: git {args[0]} took longer than {timeout:.0f} s.") from None
    except FileNotFoundError:
        raise ValidationError(f"{what}: the git command is not installed on the server.") from None
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ValidationError(f"{what}: git {args[0]} failed: {' '.join(message[-3:]) or done.returncode}")
    return bytes(done.stdout)
