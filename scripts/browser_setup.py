"""Install a headless browser for the console's browser tests (tests/ui) and print its path.

The tests drive Debian's own Chromium through Playwright for Python (``executable_path``), so nothing is
downloaded by Playwright itself (``playwright install`` is never run). When ``chromium`` is missing this runs
``apt-get update`` once and ``apt-get install -y chromium`` (root, or through ``sudo`` when available).

Usage: ``python scripts/browser_setup.py`` -> prints the browser's path, exit status 0; 1 when it cannot be
installed (not Debian/Ubuntu, no root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

CANDIDATES = ("chromium", "chromium-browser")


def find_chromium() -> str | None:
    """The system Chromium's path, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _apt(args: list[str]) -> None:
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise SystemExit("chromium is missing and installing it needs root (or sudo): "
                             "run `apt-get install -y chromium` as root")
        prefix = ["sudo", "-n"]
    subprocess.run(prefix + ["apt-get", *args], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def main() -> int:
    path = find_chromium()
    if path is None:
        if shutil.which("apt-get") is None:
            print("chromium is missing and apt-get is not available: install Chromium with your package manager",
                  file=sys.stderr)
            return 1
        _apt(["update"])
        _apt(["install", "-y", "--no-install-recommends", "chromium"])
        path = find_chromium()
        if path is None:
            print("apt-get installed chromium but no chromium binary is on PATH", file=sys.stderr)
            return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
