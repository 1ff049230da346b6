"""A small client of the distribution server's HTTP API v2, for the ECR operations: which tags a repository
has, what each points to (digest, media type, size) and deleting images.

Two things the v2 API cannot do are read from the registry's own storage, whose layout is the filesystem
driver's documented one (``docker/registry/v2/repositories/<name>/_manifests/{tags,revisions}``): when a
manifest was pushed (its revision link's time) and removing one tag of an image that keeps other tags
(distribution 2.8 deletes manifests, and with them every tag, but not single tags).
"""

from __future__ import annotations

import base64
import json
import shutil
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import INDEX_TYPES, MANIFEST_TYPES, RegistryInfo

TIMEOUT = 30.0


class RegistryError(RuntimeError):
    """The registry answered something unexpected (the message carries its status and error body)."""


@dataclass
class Image:
    """One manifest in a repository, with every tag that points to it (ECR's ``imageDetail``)."""

    digest: str
    media_type: str
    size: int
    pushed_at: float | None
    tags: list[str] = field(default_factory=list)
    artifact_media_type: str = ""


class RegistryClient:
    def __init__(self, info: RegistryInfo):
        self.info = info
        self._auth = "Basic " + base64.b64encode(f"{info.user}:{info.password}".encode()).decode()

    def _request(self, method: str, path: str, accept: str = "") -> tuple[int, Any, bytes]:
        req = urllib.request.Request(self.info.url + path, method=method)
        req.add_header("Authorization", self._auth)
        if accept:
            req.add_header("Accept", accept)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()
        except OSError as e:
            raise RegistryError(f"the registry at {self.info.host} did not answer {method} {path}: {e}") from None

    @staticmethod
    def _path(repo: str, *rest: str) -> str:
        return "/v2/" + urllib.parse.quote(repo, safe="/") + "/" + "/".join(rest)

    def tags(self, repo: str) -> list[str]:
        """The repository's tags; [] for a repository nothing was pushed to yet."""
        status, _, body = self._request("GET", self._path(repo, "tags", "list"))
        if status == 404:
            return []
        if status != 200:
            raise RegistryError(f"GET tags of {repo} answered {status}: {body[:500]!r}")
        return sorted(json.loads(body).get("tags") or [])

    def manifest(self, repo: str, reference: str) -> Image | None:
        """The manifest ``reference`` (a tag or a digest) points to, or None when there is none."""
        status, headers, body = self._request("GET", self._path(repo, "manifests", urllib.parse.quote(reference)),
                                              accept=", ".join(MANIFEST_TYPES))
        if status == 404:
            return None
        if status != 200:
            raise RegistryError(f"GET manifest {repo}:{reference} answered {status}: {body[:500]!r}")
        doc = json.loads(body)
        media_type = headers.get("Content-Type", "").split(";")[0] or doc.get("mediaType", "")
        digest = headers.get("Docker-Content-Digest", "")
        if media_type in INDEX_TYPES:  # ECR: a manifest list's size is its largest image's
            sizes = [self._size_of(repo, m["digest"]) for m in doc.get("manifests", [])]
            size = max(sizes, default=0)
        else:
            size = sum(int(layer.get("size", 0)) for layer in doc.get("layers", []))
        config_type = (doc.get("config") or {}).get("mediaType", "")
        return Image(digest, media_type, size, self.pushed_at(repo, digest), artifact_media_type=config_type)

    def _size_of(self, repo: str, digest: str) -> int:
        child = self.manifest(repo, digest)
        return child.size if child else 0

    def images(self, repo: str) -> list[Image]:
        """Every image of the repository: tagged ones (grouped by digest) and untagged revisions."""
        by_digest: dict[str, Image] = {}
        for tag in self.tags(repo):
            image = self.manifest(repo, tag)
            if image is None:  # deleted between the two calls
                continue
            by_digest.setdefault(image.digest, image).tags.append(tag)
        for digest in self._revisions(repo):
            if digest not in by_digest:
                image = self.manifest(repo, digest)
                if image is not None:
                    by_digest[digest] = image
        return sorted(by_digest.values(), key=lambda i: (i.pushed_at or 0, i.digest))

    def delete(self, repo: str, digest: str) -> bool:
        """Delete the manifest ``digest`` (and so every tag pointing to it). False when it was not there."""
        status, _, body = self._request("DELETE", self._path(repo, "manifests", digest))
        if status == 404:
            return False
        if status not in (200, 202):
            raise RegistryError(f"DELETE {repo}@{digest} answered {status}: {body[:500]!r}")
        return True

    # --- what the v2 API does not offer: read from (and, for untagging, written to) the storage ---
    def _repo_dir(self, repo: str) -> Path:
        return self.info.root / "storage" / "docker" / "registry" / "v2" / "repositories" / repo

    def _revisions(self, repo: str) -> list[str]:
        base = self._repo_dir(repo) / "_manifests" / "revisions"
        if not base.is_dir():
            return []
        return sorted(f"{algo.name}:{rev.name}" for algo in base.iterdir() if algo.is_dir()
                      for rev in algo.iterdir() if (rev / "link").is_file())

    def pushed_at(self, repo: str, digest: str) -> float | None:
        algo, _, hexpart = digest.partition(":")
        try:
            return (self._repo_dir(repo) / "_manifests" / "revisions" / algo / hexpart / "link").stat().st_mtime
        except OSError:
            return None

    def untag(self, repo: str, tag: str) -> None:
        """Remove one tag, leaving the manifest and its other tags (the filesystem driver's tag folder)."""
        path = self._repo_dir(repo) / "_manifests" / "tags" / tag
        if "/" in tag or tag in ("", ".", ".."):
            raise RegistryError(f"{tag!r} is not a tag")
        shutil.rmtree(path, ignore_errors=True)

    def forget(self, repo: str) -> None:
        """Remove a repository's folder from the storage (DeleteRepository); blobs are left to the registry's
        garbage collector, as after any delete."""
        shutil.rmtree(self._repo_dir(repo), ignore_errors=True)
