"""Credentials for HTTPS repositories, handed to git through its ``store`` credential helper.

A code repository's secret (``{"username": ..., "password": ...}``, the form SageMaker reads from Secrets
Manager) becomes one line of a git credential-store file (``https://user:password@host``, mode 0600). The
server's clones name that file with ``credential.helper`` for one command only (:func:`helper_env`, through
``GIT_CONFIG_*`` variables, so no password is ever on a command line); a notebook's clone records it in its own
``.git/config`` so that the notebook's user pulls and pushes with the repository's credentials, never with the
server's keys.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote, urlsplit


def store_line(url: str, username: str, password: str) -> str | None:
    """The credential-store line for ``url`` (None for a URL that is not HTTP(S): SSH and file URLs do not
    take a username and password)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname + (f":{parts.port}" if parts.port else "")
    return f"{parts.scheme}://{quote(username, safe='')}:{quote(password, safe='')}@{host}"


def write_store(path: Path, lines: list[str]) -> Path:
    """Write the credential-store file (only its owner may read it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("".join(line + "\n" for line in lines))
    os.chmod(path, 0o600)
    return path


def helper_value(path: Path) -> str:
    return f"store --file={path}"


def helper_env(path: Path | None) -> dict[str, str]:
    """Environment that makes one git command use the store at ``path`` (nothing when there is none)."""
    if path is None:
        return {}
    return {"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "credential.helper",
            "GIT_CONFIG_VALUE_0": helper_value(path)}
