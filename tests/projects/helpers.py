"""What the project tests share: waits bounded in time, and the real ``git`` CLI run like a user's."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any, Callable

WAIT_S = 120.0


def wait_for(what: str, probe: Callable[[], Any], timeout: float = WAIT_S, every: float = 0.5) -> Any:
    """``probe()``'s first truthy answer; an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"{what}: not seen in {timeout:.0f} s (last answer {last!r})")


def git(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run git as a user would (no global configuration; a fixed author); its output."""
    full = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1", "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "Test",
            "GIT_COMMITTER_EMAIL": "t@example.com", **(env or {})}
    done = subprocess.run(["git", *args], cwd=cwd, env=full, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout


def wait_project(sm, name: str, status: str = "CreateCompleted") -> dict:
    def probe():
        d = sm.describe_project(ProjectName=name)
        assert d["ProjectStatus"] not in ("CreateFailed", "DeleteFailed"), d
        return d if d["ProjectStatus"] == status else None

    return wait_for(f"project {name} {status}", probe)


def tags_of(sm, arn: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in sm.list_tags(ResourceArn=arn)["Tags"]}
