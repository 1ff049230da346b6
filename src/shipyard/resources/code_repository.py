"""Code repositories: a Git URL, a branch and (for a private HTTPS repository) a secret holding credentials.

CreateCodeRepository records the repository; notebook instances name it (``DefaultCodeRepository``,
``AdditionalCodeRepositories``) and start with it cloned (:func:`clone_for_notebook`). As on AWS the URL is
not contacted at creation. URLs: ``https://`` (and ``http://``, for a Git server on the operator's own
network), ``ssh://`` / ``user@host:path`` (the server's SSH agent and keys are *not* lent: an SSH repository
works only where it needs no key, so give HTTPS with a secret), and ``file://`` for a bare repository on the
server's host (a project's seed repository is one, see :mod:`shipyard.git`). ``GitConfig.SecretArn`` names a
Secrets Manager secret (:mod:`.secret`) with ``{"username", "password"}``; UpdateCodeRepository may change
only the secret, as on AWS.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from ..context import Services
from ..errors import ResourceInUse, ValidationError
from ..git import credentials as git_credentials
from ..git import http as git_http
from ..git import repos
from ..git.cli import git
from ..metastore.base import Resource
from . import secret

KIND = "code-repository"
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^/].*$")
SCHEMES = ("https://", "http://", "ssh://", "file://", "git://")
CREDENTIALS_DIR = ".shipyard"  # inside a notebook's folder: its repositories' credential store


def public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


def check_url(url: str, field: str = "GitConfig.RepositoryUrl") -> None:
    if not url or not (url.startswith(SCHEMES) or _SCP_LIKE.match(url)):
        raise ValidationError(f"{field} {url!r} is not a Git URL: give https://host/path.git (or ssh://, "
                              "user@host:path, or file:// for a bare repository on the server's host).")


def _check_git_config(services: Services, config: dict) -> dict:
    check_url(config.get("RepositoryUrl", ""))
    branch = config.get("Branch")
    if branch is not None and (not branch or branch.startswith("-") or " " in branch or ".." in branch):
        raise ValidationError(f"GitConfig.Branch {branch!r} is not a branch name.")
    if config.get("SecretArn"):
        secret.git_credentials(services, config["SecretArn"])
    return {k: config[k] for k in ("RepositoryUrl", "Branch", "SecretArn") if config.get(k)}


def get(services: Services, name: str) -> Resource:
    found = services.meta.find(KIND, name)
    if found is None:
        raise ValidationError(f"Cannot find CodeRepository with name {name!r}: create it with "
                              "CreateCodeRepository (ListCodeRepositories lists them).")
    return found


def git_config(services: Services, r: Resource) -> dict:
    """The repository's GitConfig; a hosted one's URL is its smart-HTTP URL on this server as it runs now."""
    config = dict(r.doc.get("GitConfig") or {})
    if r.doc.get("_hosted"):
        config["RepositoryUrl"] = git_http.url_for(services.settings.endpoint_url, r.name)
    return config


def describe(services: Services, name: str) -> dict:
    r = get(services, name)
    return {**public(r.doc), "GitConfig": git_config(services, r), "CreationTime": r.created,
            "LastModifiedTime": r.modified}


def create(services: Services, params: dict, *, tags: list[dict] | None = None, hosted: bool = False) -> dict:
    """CreateCodeRepository; ``hosted``: the repository is one of the server's own (``<home>/git/<name>.git``,
    a project's), served at ``/git/<name>.git``."""
    name = params["CodeRepositoryName"]
    if not _NAME.match(name):
        raise ValidationError(f"CodeRepositoryName {name!r} must be 1-63 letters, digits and hyphens, starting "
                              "and ending with a letter or digit.")
    config = _check_git_config(services, params.get("GitConfig") or {})
    arn = services.arn(KIND, name)
    now = time.time()
    doc: dict[str, Any] = {"CodeRepositoryName": name, "CodeRepositoryArn": arn, "GitConfig": config,
                           "CreationTime": now}
    if hosted:
        doc["_hosted"] = True
    all_tags = list(params.get("Tags") or []) + list(tags or [])
    if all_tags:
        doc["_tags"] = [{"Key": t["Key"], "Value": t.get("Value", "")} for t in all_tags]
    try:
        services.meta.create(KIND, name, arn, "Created", doc)
    except ResourceInUse:
        raise ValidationError(f"Cannot create CodeRepository {name!r}: a code repository with this name "
                              "already exists.") from None
    return {"CodeRepositoryArn": arn}


def update(services: Services, params: dict) -> dict:
    r = get(services, params["CodeRepositoryName"])
    update_config = params.get("GitConfig") or {}
    config = dict(r.doc.get("GitConfig") or {})
    if update_config.get("SecretArn"):
        secret.git_credentials(services, update_config["SecretArn"])
        config["SecretArn"] = update_config["SecretArn"]
    services.meta.update(KIND, r.name, {"GitConfig": config})
    return {"CodeRepositoryArn": r.arn}


def delete(services: Services, name: str) -> None:
    r = get(services, name)
    services.meta.delete(KIND, r.name)


# -- notebooks ------------------------------------------------------------------------------------------------
def _folder_name(url: str) -> str:
    """The folder a repository given by URL is cloned into: the URL's last path part without ``.git``."""
    tail = url.rstrip("/").rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    tail = tail[:-4] if tail.endswith(".git") else tail
    return re.sub(r"[^A-Za-z0-9._-]", "-", tail) or "repository"


def resolve(services: Services, ref: str, field: str) -> dict:
    """A notebook's repository reference (a code repository's name or ARN, or a Git URL) as
    ``{"url", "branch", "secret", "folder"}``; refused, naming ``field``, when it is neither."""
    if ref.startswith(SCHEMES) or _SCP_LIKE.match(ref):
        return {"url": ref, "branch": None, "secret": None, "folder": _folder_name(ref), "hosted": False}
    name = ref.split(":code-repository/", 1)[-1]
    found = services.meta.find(KIND, name)
    if found is None:
        raise ValidationError(f"{field} {ref!r} is neither a code repository (CreateCodeRepository) nor a Git "
                              "URL.")
    config = git_config(services, found)
    return {"url": config["RepositoryUrl"], "branch": config.get("Branch"), "secret": config.get("SecretArn"),
            "folder": found.name, "hosted": bool(found.doc.get("_hosted"))}


def check_notebook_references(services: Services, params: dict) -> None:
    """CreateNotebookInstance / UpdateNotebookInstance: every repository named exists (or is a URL)."""
    for field, ref in notebook_references(params):
        resolve(services, ref, field)


def notebook_references(doc: dict) -> list[tuple[str, str]]:
    """``(field, reference)`` of each repository a notebook instance names, its default one first."""
    out = [("DefaultCodeRepository", doc["DefaultCodeRepository"])] if doc.get("DefaultCodeRepository") else []
    return out + [(f"AdditionalCodeRepositories[{i}]", ref)
                  for i, ref in enumerate(doc.get("AdditionalCodeRepositories") or [])]


def clone_for_notebook(services: Services, doc: dict, folder: Path,
                       own_key: tuple[str, str] | None = None) -> list[str]:
    """Clone each repository the notebook instance ``doc`` names into the notebook's ``folder`` (one already
    there is kept, as a restarted AWS instance keeps its clones). Credentials go into the notebook's own
    credential store (``<folder>/.shipyard/git-credentials``, rewritten at every start), which each clone's
    ``credential.helper`` names, so the notebook's user pulls and pushes with them: a private repository's
    secret, and for the server's hosted repositories the instance's own key ``own_key`` (issued at this start).
    Returns the folders cloned now."""
    store = folder / CREDENTIALS_DIR / "git-credentials"
    specs = [resolve(services, ref, field) for field, ref in notebook_references(doc)]
    lines: list[str] = []
    for spec in specs:
        username_password = (secret.git_credentials(services, spec["secret"]) if spec["secret"]
                             else own_key if spec["hosted"] else None)
        line = git_credentials.store_line(spec["url"], *username_password) if username_password else None
        if line and line not in lines:
            lines.append(line)
    helper = git_credentials.write_store(store, lines) if lines else None
    cloned: list[str] = []
    for spec in specs:
        dest = folder / spec["folder"]
        if dest.exists():
            continue
        repos.clone(spec["url"], dest, spec["branch"], env=git_credentials.helper_env(helper))
        if helper is not None:
            git(["config", "credential.helper", git_credentials.helper_value(helper)], cwd=dest,
                what=f"repository {spec['url']}")
        cloned.append(spec["folder"])
    return cloned
