"""The small Debian base image bring-your-own test images start ``FROM``, built here because no public hub is
reachable: ``debootstrap --variant=minbase`` from the machine's own Debian source (``/etc/apt/sources.list*``),
plus python3 and numpy (what a ``scikit_bring_your_own``-style test image needs), then ``docker import``.

Both steps are cached: the root filesystem tarball stays in ``~/.cache/shipyard/`` (a later import on a fresh
daemon skips debootstrap), and nothing is built when the engine already has the image. A file lock keeps two
builders (CI's setup script and a test session, say) from racing on the same cache.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from .engine import Engine

BASE_IMAGE = "shipyard/test-base:1"
PACKAGES = ("python3", "python3-numpy")
# Trimmed from the root filesystem before import: caches and documentation nothing in a test image reads.
TRIM = ("var/cache/apt/archives", "var/lib/apt/lists", "usr/share/doc", "usr/share/man", "usr/share/info",
        "usr/share/locale")
KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"


def default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "shipyard"


@dataclass(frozen=True)
class DebianSource:
    mirror: str
    suite: str


@dataclass
class BaseImage:
    ref: str
    built: bool  # False when the engine already had it
    seconds: float
    tarball: Path | None


def debian_source(apt_dir: Path = Path("/etc/apt")) -> DebianSource | None:
    """The first Debian ``main`` source the machine's apt is configured with (not -security/-updates), read from
    ``sources.list.d/*.sources`` (deb822) and ``sources.list`` (one-line form)."""
    files = sorted((apt_dir / "sources.list.d").glob("*.sources")) if (apt_dir / "sources.list.d").is_dir() else []
    for path in files:
        for stanza in re.split(r"\n\s*\n", path.read_text(errors="replace")):
            fields: dict[str, str] = {}
            for line in stanza.splitlines():
                if line.startswith("#") or ":" not in line or line[:1].isspace():
                    continue
                key, _, value = line.partition(":")
                fields[key.strip().lower()] = value.strip()
            if fields.get("enabled", "yes").lower() == "no" or "deb" not in fields.get("types", "").split():
                continue
            if "main" not in fields.get("components", "").split():
                continue
            for suite in fields.get("suites", "").split():
                if not suite.endswith(("-security", "-updates", "-backports")):
                    for uri in fields.get("uris", "").split():
                        return DebianSource(uri, suite)
    one_line = apt_dir / "sources.list"
    if one_line.is_file():
        for line in one_line.read_text(errors="replace").splitlines():
            parts = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
            if len(parts) >= 4 and parts[0] == "deb" and "main" in parts[3:] \
                    and not parts[2].endswith(("-security", "-updates", "-backports")):
                return DebianSource(parts[1], parts[2])
    return None


def tarball_path(ref: str, cache_dir: Path) -> Path:
    return cache_dir / (re.sub(r"[^A-Za-z0-9_.-]+", "-", ref) + ".rootfs.tar")


def build_rootfs_tarball(target: Path, source: DebianSource, packages: tuple[str, ...] = PACKAGES,
                         timeout: float = 1200.0) -> None:
    """debootstrap a minbase root filesystem with ``packages`` and write it as an uncompressed tarball."""
    debootstrap = shutil.which("debootstrap")
    if debootstrap is None:
        raise BaseImageError("debootstrap is not installed (apt-get install -y debootstrap)")
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=target.parent) as work:
        root = Path(work) / "root"
        cmd = [debootstrap, "--variant=minbase", f"--include={','.join(packages)}", "--components=main"]
        if os.path.exists(KEYRING):
            cmd.append(f"--keyring={KEYRING}")
        cmd += [source.suite, str(root), source.mirror]
        _run(cmd, timeout)
        for rel in TRIM:
            path = root / rel
            if path.is_dir():
                for child in path.iterdir():
                    if child.is_dir() and not child.is_symlink():
                        shutil.rmtree(child)
                    else:
                        child.unlink()
        partial = target.with_suffix(".partial")
        _run(["tar", "--numeric-owner", "-C", str(root), "-cf", str(partial), "."], timeout)
        os.replace(partial, target)


def _run(cmd: list[str], timeout: float) -> None:
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise BaseImageError(f"{cmd[0]} did not finish within {timeout:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip()[-2000:]
        raise BaseImageError(f"{' '.join(cmd[:3])} ... failed ({done.returncode}): {tail}")


class BaseImageError(RuntimeError):
    """The base image could not be built; the message says which step failed and its own output."""


def ensure_base_image(engine: Engine, ref: str = BASE_IMAGE, cache_dir: Path | None = None,
                      packages: tuple[str, ...] = PACKAGES, source: DebianSource | None = None) -> BaseImage:
    """The base image ``ref`` in ``engine``: already there, imported from the cached tarball, or built."""
    started = time.monotonic()
    if engine.has_image(ref):
        return BaseImage(ref, False, time.monotonic() - started, None)
    cache = cache_dir or default_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    tarball = tarball_path(ref, cache)
    with open(cache / "base-image.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a second builder waits, then finds the image or the tarball
        if engine.has_image(ref):
            return BaseImage(ref, False, time.monotonic() - started, tarball)
        if not tarball.exists():
            found = source or debian_source()
            if found is None:
                raise BaseImageError("no Debian source is configured in /etc/apt/sources.list*; "
                                     "debootstrap needs a mirror")
            build_rootfs_tarball(tarball, found, packages)
        engine.run("import", "--change", "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "--change", "ENV LANG=C.UTF-8", "--change", 'CMD ["/bin/bash"]', str(tarball), ref, timeout=600)
    return BaseImage(ref, True, time.monotonic() - started, tarball)
