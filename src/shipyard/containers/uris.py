"""ECR image URIs and the local registry: ``<account>.dkr.ecr.<region>.amazonaws.com/<repo>:<tag>`` names an
image in the registry Shipyard serves for that account and region, so a URI copied from AWS (or built by the
SageMaker SDK) works unchanged in ``TrainingImage``, ``ImageUri`` or a model's ``Image``.

:func:`to_local` rewrites such a URI to ``127.0.0.1:<port>/<repo>:<tag>`` (what ``docker pull``/``push`` talk
to: the engine treats loopback registries as plain HTTP); a reference that is not an ECR URI (a local image
such as ``shipyard/test-base:1``) is returned unchanged. See ``docs/containers.md``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# botocore's endpoint rules: dkr.ecr[-fips].<region>.amazonaws.com (.com.cn in China).
_ECR_HOST = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr(?:-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
# ECR's repositoryName pattern (botocore's ecr model).
REPOSITORY_NAME = re.compile(r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


class ImageUriError(ValueError):
    """An image URI that cannot be mapped; the message says which part is wrong."""


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into its parts (``registry`` is "" for an engine-local name)."""

    registry: str
    repository: str
    tag: str = ""
    digest: str = ""

    def __str__(self) -> str:
        name = f"{self.registry}/{self.repository}" if self.registry else self.repository
        return name + (f"@{self.digest}" if self.digest else f":{self.tag}" if self.tag else "")


def parse(reference: str) -> ImageRef:
    """Split ``[registry/]repository[:tag][@digest]`` the way the engine does: the first part is a registry
    only when it has a dot or a port, or is ``localhost``."""
    rest, _, digest = reference.partition("@")
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
    else:
        registry, path = "", rest
    name, colon, tag = path.rpartition(":")
    if not colon or "/" in tag:
        name, tag = path, ""
    if not name:
        raise ImageUriError(f"Image {reference!r} names no repository.")
    if tag and not _TAG.match(tag):
        raise ImageUriError(f"Image {reference!r} has an invalid tag {tag!r}.")
    if digest and not _DIGEST.match(digest):
        raise ImageUriError(f"Image {reference!r} has an invalid digest {digest!r}.")
    return ImageRef(registry, name, tag, digest)


def ecr_host(account: str, region: str) -> str:
    return f"{account}.dkr.ecr.{region}.amazonaws.com"


def repository_uri(account: str, region: str, repository: str) -> str:
    """ECR's ``repositoryUri`` of a repository, as DescribeRepositories answers it."""
    return f"{ecr_host(account, region)}/{repository}"


def is_ecr(reference: str) -> bool:
    return bool(_ECR_HOST.match(parse(reference).registry))


def to_local(reference: str, registry_host: str, account: str, region: str) -> str:
    """The reference the engine should use for ``reference``: an ECR URI of ``account`` in ``region`` becomes
    ``<registry_host>/<repo>[:tag|@digest]`` (``:latest`` when it names neither, as docker assumes); anything
    that is not an ECR URI is returned as it is. An ECR URI of another account or region is refused: its image
    cannot be in this registry."""
    ref = parse(reference)
    m = _ECR_HOST.match(ref.registry)
    if m is None:
        return reference
    if m["account"] != account or m["region"] != region:
        raise ImageUriError(f"Image {reference!r} is in the registry of account {m['account']} in "
                            f"{m['region']}; this Shipyard serves account {account} in {region}: use "
                            f"{ecr_host(account, region)}/{ref.repository}.")
    if not REPOSITORY_NAME.match(ref.repository):
        raise ImageUriError(f"Image {reference!r}: {ref.repository!r} is not a valid ECR repository name.")
    local = ImageRef(registry_host, ref.repository, ref.tag or ("" if ref.digest else "latest"), ref.digest)
    return str(local)


def to_ecr(reference: str, registry_host: str, account: str, region: str) -> str:
    """The inverse of :func:`to_local`: a reference into the local registry as its ECR URI."""
    ref = parse(reference)
    if ref.registry != registry_host:
        return reference
    return str(ImageRef(ecr_host(account, region), ref.repository, ref.tag, ref.digest))
