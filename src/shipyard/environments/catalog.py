"""Which framework image versions exist: AWS's own list, as the SageMaker Python SDK ships it.

``image_versions.json`` (next to this module) is a snapshot of the SDK's ``sagemaker/image_uri_config/*.json``
for the framework containers, reduced to ``{repository: {"framework", "versions", "aliases"}}``: every ECR
repository name those files mention, the versions published under it, and the short aliases (``2.0`` ->
``2.0.1``). :func:`snapshot_from_sdk` rebuilds it from an installed SDK (``shipyard images`` does not need the
SDK; a test checks the snapshot still matches the SDK pinned in the test extras).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

SNAPSHOT = Path(__file__).with_name("image_versions.json")
FRAMEWORK_FILES = ("sklearn", "xgboost", "pytorch", "tensorflow", "huggingface")
# Repositories named like a framework that are not framework containers (the legacy built-in ``xgboost:1``).
SKIP_REPOS = {"xgboost"}


def snapshot_from_sdk(config_dir: str | Path) -> dict[str, dict]:
    """Reduce the SDK's image_uri_config JSON files to the snapshot format."""
    out: dict[str, dict] = {}
    for fw in FRAMEWORK_FILES:
        data = json.loads((Path(config_dir) / f"{fw}.json").read_text())
        for scope in data.values():
            if not isinstance(scope, dict) or "versions" not in scope:
                continue
            for version, info in scope["versions"].items():
                repos = {info["repository"]} if "repository" in info else set()
                repos |= {sub["repository"] for sub in info.values() if isinstance(sub, dict) and "repository" in sub}
                if "repository" in scope:
                    repos.add(scope["repository"])
                for repo in repos - SKIP_REPOS:
                    entry = out.setdefault(repo, {"framework": fw, "versions": [], "aliases": {}})
                    if version not in entry["versions"]:
                        entry["versions"].append(version)
            for alias, target in (scope.get("version_aliases") or {}).items():
                for entry in out.values():
                    if entry["framework"] == fw and target in entry["versions"]:
                        entry["aliases"].setdefault(alias, target)
    return {k: out[k] for k in sorted(out)}


@lru_cache(maxsize=1)
def repositories() -> dict[str, dict]:
    return json.loads(SNAPSHOT.read_text())


def _vkey(v: str) -> tuple:
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.\-]", v))


def versions(repo: str) -> list[str]:
    """Published versions of ``repo``, oldest first (empty for a repository AWS has no framework image in)."""
    entry = repositories().get(repo)
    return sorted(entry["versions"], key=_vkey) if entry else []


def aliases(repo: str) -> dict[str, str]:
    entry = repositories().get(repo)
    return dict(entry["aliases"]) if entry else {}


def framework(repo: str) -> str | None:
    entry = repositories().get(repo)
    return entry["framework"] if entry else None


def latest(repo: str) -> str | None:
    vs = versions(repo)
    return vs[-1] if vs else None


if __name__ == "__main__":  # python -m shipyard.environments.catalog <sdk image_uri_config folder>
    import sys

    snap = snapshot_from_sdk(sys.argv[1])
    SNAPSHOT.write_text(json.dumps(snap, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT} ({len(snap)} repositories)")
