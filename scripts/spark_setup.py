"""CI setup for Spark processing jobs (PySparkProcessor): a Java runtime that the installed pyspark can use.

Run by .ci/run before `make test`; safe to run by hand (as root, to install). pyspark itself comes with the
``spark`` extra (``pip install -e '.[spark]'``, part of ``test``); Spark 4 runs on Java 17 or later. When
``java`` is missing or older, this installs Debian's ``default-jre-headless`` (OpenJDK 17 on Debian 12) with
apt-get. Exits 0 with a message when Java cannot be had, so CI goes on and the Spark tests skip saying why.

    python scripts/spark_setup.py           # install Java where missing, then report
    python scripts/spark_setup.py --check   # report only
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

MIN_JAVA = 17
PACKAGE = "default-jre-headless"
APT_TIMEOUT = 900


def say(message: str) -> None:
    print(f"[spark setup] {message}", flush=True)


def java_path() -> str | None:
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """The major version ``java -version`` reports (``17.0.15`` -> 17, ``1.8.0_392`` -> 8)."""
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if not m:
        return None
    major = int(m.group(1))
    return int(m.group(2) or 0) if major == 1 else major


def apt_install(package: str) -> str:
    """Install a Debian package; "" on success, else why not."""
    if shutil.which("apt-get") is None:
        return "apt-get is not available here"
    if os.geteuid() != 0:
        return "installing needs root"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Slim Debian images drop /usr/share/man; the OpenJDK packages' post-install step fails without man1.
    Path("/usr/share/man/man1").mkdir(parents=True, exist_ok=True)
    for cmd in (["apt-get", "update", "-q"],
                ["apt-get", "install", "-y", "-q", "--no-install-recommends", package]):
        try:
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=APT_TIMEOUT)
        except subprocess.TimeoutExpired:
            return f"{' '.join(cmd)} took more than {APT_TIMEOUT} s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
            return f"{' '.join(cmd)} failed ({done.returncode}): {' / '.join(tail)}"
    return ""


def ensure_java(install: bool) -> str | None:
    """A Java >= 17 (installing it if asked and missing); None with a message when there is none."""
    java = java_path()
    major = java_major(java) if java else None
    if java and major is not None and major >= MIN_JAVA:
        say(f"Java {major} at {java}")
        return java
    found = f"Java {major} at {java} is older than {MIN_JAVA}" if java else "no java on PATH or JAVA_HOME"
    if not install:
        say(f"{found}; run without --check to install {PACKAGE}")
        return None
    say(f"{found}: installing {PACKAGE} with apt-get")
    started = time.monotonic()
    problem = apt_install(PACKAGE)
    if problem:
        say(f"could not install {PACKAGE} ({problem}); the Spark tests will skip")
        return None
    java = java_path()
    major = java_major(java) if java else None
    if not java or major is None or major < MIN_JAVA:
        say(f"{PACKAGE} installed but no Java >= {MIN_JAVA} answers; the Spark tests will skip")
        return None
    say(f"installed Java {major} at {java} in {time.monotonic() - started:.0f} s")
    return java


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="report only, install nothing")
    args = p.parse_args(argv)
    ensure_java(install=not args.check)
    if importlib.util.find_spec("pyspark") is None:
        say("pyspark is not installed (pip install -e '.[spark]'); the Spark tests will skip")
    else:
        from importlib.metadata import version

        say(f"pyspark {version('pyspark')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
