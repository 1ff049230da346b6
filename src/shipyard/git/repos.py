"""Bare repositories the server hosts, and what the server does with any repository: read a branch's head,
clone, commit seed files, export a commit's tree.

Hosted repositories live under ``<home>/git/<name>.git`` and are reached by ``file://`` URLs (see the package
docstring for why). Every function takes a URL, so the same calls work against an external HTTPS or SSH server;
credentials come in through ``env`` (:func:`shipyard.git.credentials.helper_env`).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ..io.archives import safe_extract
from .cli import git, git_bytes

DEFAULT_BRANCH = "main"


def hosted_root(home: str | Path) -> Path:
    return Path(home) / "git"


def hosted_path(home: str | Path, name: str) -> Path:
    """Where the hosted repository ``name`` lives (the caller checks ``name`` is a plain name)."""
    return hosted_root(home) / f"{name}.git"


def file_url(path: Path) -> str:
    return path.resolve().as_uri()


def init_bare(path: Path, branch: str = DEFAULT_BRANCH) -> None:
    """Create an empty bare repository whose default branch is ``branch``; an existing one is kept."""
    if (path / "HEAD").exists():
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    git(["init", "--quiet", "--bare", f"--initial-branch={branch}", str(path)], what=f"repository {path.name}")


def head(url: str, branch: str = DEFAULT_BRANCH, env: dict[str, str] | None = None) -> str | None:
    """The commit ``branch`` points at in the repository at ``url``, or None when the branch does not exist."""
    out = git(["ls-remote", "--heads", url, f"refs/heads/{branch}"], env=env, what=f"repository {url}")
    for line in out.splitlines():
        sha, _, ref = line.partition("\t")
        if ref.strip() == f"refs/heads/{branch}":
            return sha.strip()
    return None


def local_head(bare: Path, branch: str = DEFAULT_BRANCH) -> str | None:
    """:func:`head` of a hosted repository read from its files (its loose ref, else ``packed-refs``): no process
    is started, so a controller may ask every second."""
    loose = bare / "refs" / "heads" / branch
    if loose.is_file():
        return loose.read_text().strip() or None
    packed = bare / "packed-refs"
    if packed.is_file():
        for line in packed.read_text().splitlines():
            sha, _, ref = line.partition(" ")
            if ref.strip() == f"refs/heads/{branch}":
                return sha.strip()
    return None


def commit_files(url: str, files: dict[str, bytes], message: str, branch: str = DEFAULT_BRANCH,
                 env: dict[str, str] | None = None) -> str:
    """Commit ``files`` (path -> content) on top of ``branch`` (created when missing) and push; the new commit."""
    with tempfile.TemporaryDirectory(prefix="shipyard-git-") as tmp:
        work = Path(tmp) / "work"
        git(["clone", "--quiet", url, str(work)], env=env, what=f"repository {url}")
        if head(url, branch, env) is not None:
            git(["checkout", "--quiet", branch], cwd=work, env=env, what=f"repository {url}")
        else:
            git(["checkout", "--quiet", "--orphan", branch], cwd=work, env=env, what=f"repository {url}")
        for rel, content in files.items():
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        git(["add", "--all"], cwd=work, what=f"repository {url}")
        git(["commit", "--quiet", "--allow-empty", "-m", message], cwd=work, what=f"repository {url}")
        git(["push", "--quiet", "origin", f"HEAD:refs/heads/{branch}"], cwd=work, env=env,
            what=f"repository {url}")
        return git(["rev-parse", "HEAD"], cwd=work, what=f"repository {url}").strip()


def read_file(bare: Path, commit: str, path: str) -> bytes | None:
    """One file of ``commit`` in the hosted repository ``bare``, or None when the commit has no such file."""
    listing = git(["--git-dir", str(bare), "ls-tree", "--name-only", commit, "--", path], what=bare.name)
    if not listing.strip():
        return None
    return git_bytes(["--git-dir", str(bare), "show", f"{commit}:{path}"], what=bare.name)


def export(bare: Path, commit: str, dest: Path) -> None:
    """Write ``commit``'s tree of the hosted repository ``bare`` into ``dest`` (its archive, safely extracted:
    a pushed tree is user input)."""
    with tempfile.TemporaryDirectory(prefix="shipyard-git-") as tmp:
        archive = Path(tmp) / "tree.tar"
        git(["--git-dir", str(bare), "archive", "--format=tar", f"--output={archive}", commit], what=bare.name)
        safe_extract(archive, dest, what=f"commit {commit[:12]} of {bare.name}")


def clone(url: str, dest: Path, branch: str | None = None, env: dict[str, str] | None = None) -> None:
    """Clone ``url`` into ``dest`` (which must not exist yet), on ``branch`` when given."""
    args = ["clone", "--quiet"] + (["--branch", branch] if branch else []) + [url, str(dest)]
    git(args, env=env, timeout=300, what=f"repository {url}")


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
