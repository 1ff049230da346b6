"""ECR operations (``ecr``, JSON 1.1, ``X-Amz-Target: AmazonEC2ContainerRegistry_V20150921.<Op>``) in front of
the local registry: CreateRepository, DescribeRepositories, DeleteRepository, DescribeImages, ListImages,
BatchDeleteImage, GetAuthorizationToken.

Repositories are resources in the metadata store (kind ``ecr-repository``); images are whatever was pushed to
the registry, read through its HTTP API v2 each time (``containers/registry_client.py``), so a ``docker push``
shows up at once with nothing to keep in step. The registry is started on first need (GetAuthorizationToken,
or a repository that has storage) and found again after a restart (``containers/registry.py``). A push to a
repository nobody created is refused by nothing in the registry itself: the ECR operations list and delete only
created repositories, as ECR does. See ``docs/containers.md``.
"""

from __future__ import annotations

import base64
import re
import time
from typing import Any

from ..containers import uris
from ..containers.registry import RegistryInfo, RegistryUnavailable, ensure_registry
from ..containers.registry_client import Image, RegistryClient, RegistryError
from ..errors import ResourceInUse, ServiceUnavailable, ShipyardError, ValidationError
from ..metastore.base import ListQuery
from .registry import operation

KIND = "ecr-repository"
TOKEN_LIFETIME = 12 * 3600.0  # ECR's tokens last 12 hours; the registry's password does not expire
_DIGEST = re.compile(r"^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-fA-F0-9]{32,}$")


class RepositoryNotFound(ShipyardError):
    code = "RepositoryNotFoundException"
    http_status = 400


class RepositoryAlreadyExists(ShipyardError):
    code = "RepositoryAlreadyExistsException"
    http_status = 400


class RepositoryNotEmpty(ShipyardError):
    code = "RepositoryNotEmptyException"
    http_status = 400


class ImageNotFound(ShipyardError):
    code = "ImageNotFoundException"
    http_status = 400


class InvalidParameter(ShipyardError):
    code = "InvalidParameterException"
    http_status = 400


# --- helpers ---
def _settings(services):
    return services.settings


def _check_registry_id(services, registry_id: str | None) -> None:
    account = _settings(services).account
    if registry_id is not None and registry_id != account:
        raise InvalidParameter(f"Invalid parameter at 'registryId' failed to satisfy constraint: this Shipyard "
                               f"serves registry {account} only (got {registry_id}).")


def _arn(services, name: str) -> str:
    s = _settings(services)
    return f"arn:aws:ecr:{s.region}:{s.account}:repository/{name}"


def _not_found(services, name: str) -> RepositoryNotFound:
    return RepositoryNotFound(f"The repository with name '{name}' does not exist in the registry with id "
                              f"'{_settings(services).account}'. Create it first with CreateRepository.")


def _repository(services, name: str) -> dict:
    found = services.meta.find(KIND, name)
    if found is None:
        raise _not_found(services, name)
    return found.doc


def _registry(services) -> RegistryInfo:
    s = _settings(services)
    try:
        return ensure_registry(s.home, s.registry_binary or "docker-registry")
    except RegistryUnavailable as e:
        raise ServiceUnavailable(f"The image registry is not available: {e}") from None


def _has_storage(services, name: str) -> bool:
    """Whether anything was ever pushed to the repository (its folder in the registry's storage): if not, the
    image operations answer without starting a registry."""
    root = _settings(services).home / "registry" / "storage" / "docker" / "registry" / "v2" / "repositories"
    return (root / name).is_dir()


def _images(services, name: str) -> list[Image]:
    if not _has_storage(services, name):
        return []
    try:
        return RegistryClient(_registry(services)).images(name)
    except RegistryError as e:
        raise ServiceUnavailable(f"The image registry failed to list {name}: {e}") from None


def _page(items: list, params: dict, default: int = 100) -> tuple[list, str | None]:
    """Offset paging for lists read live from the registry; the token is opaque to clients."""
    token = params.get("nextToken")
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("i/"))
        except (ValueError, UnicodeDecodeError):
            raise InvalidParameter(f"Invalid parameter at 'nextToken': {token!r} is not a token this "
                                   "operation returned.") from None
    size = params.get("maxResults") or default
    if not 1 <= size <= 1000:
        raise InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: "
                               "'Member must have value between 1 and 1000'.")
    end = start + size
    more = base64.urlsafe_b64encode(f"i/{end}".encode()).decode() if end < len(items) else None
    return items[start:end], more


def _tag_filter(params: dict) -> str:
    return ((params.get("filter") or {}).get("tagStatus")) or "ANY"


def _wanted(image: Image, tag_status: str) -> bool:
    return tag_status == "ANY" or (tag_status == "TAGGED") == bool(image.tags)


# --- repositories ---
@operation("ecr", "CreateRepository")
def create_repository(services, params: dict) -> dict:
    _check_registry_id(services, params.get("registryId"))
    name = params["repositoryName"]
    if not uris.REPOSITORY_NAME.match(name):
        raise InvalidParameter(f"Invalid parameter at 'repositoryName' failed to satisfy constraint: {name!r} "
                               "must be lower-case letters and digits, separated by '.', '_', '-' or '/'.")
    s = _settings(services)
    doc: dict[str, Any] = {
        "repositoryArn": _arn(services, name),
        "registryId": s.account,
        "repositoryName": name,
        "repositoryUri": uris.repository_uri(s.account, s.region, name),
        "createdAt": time.time(),
        "imageTagMutability": params.get("imageTagMutability", "MUTABLE"),
        "imageScanningConfiguration": params.get("imageScanningConfiguration") or {"scanOnPush": False},
        "encryptionConfiguration": params.get("encryptionConfiguration") or {"encryptionType": "AES256"},
    }
    if params.get("imageTagMutabilityExclusionFilters"):
        doc["imageTagMutabilityExclusionFilters"] = params["imageTagMutabilityExclusionFilters"]
    stored = {**doc, "_tags": params.get("tags") or []}
    try:
        services.meta.create(KIND, name, doc["repositoryArn"], "ACTIVE", stored)
    except ResourceInUse:
        raise RepositoryAlreadyExists(f"The repository with name '{name}' already exists in the registry with "
                                      f"id '{s.account}'.") from None
    return {"repository": doc}


def _public(doc: dict) -> dict:
    return {k: v for k, v in doc.items() if not k.startswith("_")}


@operation("ecr", "DescribeRepositories")
def describe_repositories(services, params: dict) -> dict:
    _check_registry_id(services, params.get("registryId"))
    names = params.get("repositoryNames")
    if names:
        if params.get("nextToken") or params.get("maxResults"):
            raise InvalidParameter("Invalid parameter: nextToken and maxResults cannot be used with "
                                   "repositoryNames; list the names or page through all repositories.")
        return {"repositories": [_public(_repository(services, n)) for n in names]}
    size = params.get("maxResults") or 100
    if not 1 <= size <= 1000:
        raise InvalidParameter("Invalid parameter at 'maxResults' failed to satisfy constraint: "
                               "'Member must have value between 1 and 1000'.")
    try:
        page = services.meta.list(KIND, ListQuery(sort_by="name", descending=False, max_results=size,
                                                  next_token=params.get("nextToken")))
    except ValidationError as e:
        raise InvalidParameter(f"Invalid parameter at 'nextToken': {e.message}") from None
    out: dict[str, Any] = {"repositories": [_public(r.doc) for r in page.items]}
    if page.next_token:
        out["nextToken"] = page.next_token
    return out


@operation("ecr", "DeleteRepository")
def delete_repository(services, params: dict) -> dict:
    _check_registry_id(services, params.get("registryId"))
    name = params["repositoryName"]
    doc = _repository(services, name)
    images = _images(services, name)
    if images and not params.get("force"):
        raise RepositoryNotEmpty(f"The repository with name '{name}' in registry with id "
                                 f"'{_settings(services).account}' cannot be deleted because it still contains "
                                 f"{len(images)} image(s); delete them (BatchDeleteImage) or pass force=True.")
    if _has_storage(services, name):
        client = RegistryClient(_registry(services))
        try:
            for image in images:
                client.delete(name, image.digest)
        except RegistryError as e:
            raise ServiceUnavailable(f"The image registry failed to delete the images of {name}: {e}") from None
        client.forget(name)
    services.meta.delete(KIND, name)
    return {"repository": _public(doc)}


# --- images ---
def _detail(services, name: str, image: Image) -> dict:
    detail: dict[str, Any] = {
        "registryId": _settings(services).account,
        "repositoryName": name,
        "imageDigest": image.digest,
        "imageSizeInBytes": image.size,
        "imageManifestMediaType": image.media_type,
        "imageStatus": "ACTIVE",
    }
    if image.tags:
        detail["imageTags"] = list(image.tags)
    if image.pushed_at is not None:
        detail["imagePushedAt"] = image.pushed_at
    if image.artifact_media_type:
        detail["artifactMediaType"] = image.artifact_media_type
    return detail


def _find(images: list[Image], image_id: dict) -> Image | None:
    digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
    for image in images:
        if (digest is None or image.digest == digest) and (tag is None or tag in image.tags):
            return image
    return None


@operation("ecr", "DescribeImages")
def describe_images(services, params: dict) -> dict:
    _check_registry_id(services, params.get("registryId"))
    name = params["repositoryName"]
    _repository(services, name)
    images = _images(services, name)
    ids = params.get("imageIds")
    if ids:
        if params.get("nextToken") or params.get("maxResults"):
            raise InvalidParameter("Invalid parameter: nextToken and maxResults cannot be used with imageIds.")
        found = []
        for image_id in ids:
            image = _find(images, image_id)
            if image is None:
                raise ImageNotFound(f"The image with imageId {_show(image_id)} does not exist within the "
                                    f"repository with name '{name}'.")
            found.append(_detail(services, name, image))
        return {"imageDetails": found}
    tag_status = _tag_filter(params)
    page, token = _page([i for i in images if _wanted(i, tag_status)], params)
    out: dict[str, Any] = {"imageDetails": [_detail(services, name, i) for i in page]}
    if token:
        out["nextToken"] = token
    return out


def _show(image_id: dict) -> str:
    return "{" + ", ".join(f"{k}:'{v}'" for k, v in sorted(image_id.items())) + "}"


@operation("ecr", "ListImages")
def list_images(services, params: dict) -> dict:
    _check_registry_id(services, params.get("registryId"))
    name = params["repositoryName"]
    _repository(services, name)
    tag_status = _tag_filter(params)
    ids: list[dict] = []
    for image in _images(services, name):
        if _wanted(image, tag_status):
            ids += [{"imageDigest": image.digest, "imageTag": t} for t in image.tags] or \
                   [{"imageDigest": image.digest}]
    page, token = _page(ids, params, default=100)
    out: dict[str, Any] = {"imageIds": page}
    if token:
        out["nextToken"] = token
    return out


def _failure(image_id: dict, code: str, reason: str) -> dict:
    return {"imageId": image_id, "failureCode": code, "failureReason": reason}


@operation("ecr", "BatchDeleteImage")
def batch_delete_image(services, params: dict) -> dict:
    """Delete images by digest (the image and all its tags) or by tag (the tag; the image too when no other
    tag is left on it), as ECR does. Per-image problems are ``failures``, not errors."""
    _check_registry_id(services, params.get("registryId"))
    name = params["repositoryName"]
    _repository(services, name)
    images = _images(services, name)
    failures: list[dict] = []
    whole: dict[str, Image] = {}  # digest -> image to delete with all its tags
    untag: dict[str, tuple[Image, set[str]]] = {}  # digest -> (image, tags to remove)
    for image_id in params.get("imageIds") or []:
        digest, tag = image_id.get("imageDigest"), image_id.get("imageTag")
        if digest is None and tag is None:
            failures.append(_failure(image_id, "MissingDigestAndTag", "Missing image digest and image tag"))
            continue
        if digest is not None and not _DIGEST.match(digest):
            failures.append(_failure(image_id, "InvalidImageDigest", f"Invalid image digest {digest!r}"))
            continue
        image = _find(images, image_id)
        if image is None:
            if digest is not None and tag is not None and _find(images, {"imageTag": tag}) is not None:
                failures.append(_failure(image_id, "ImageTagDoesNotMatchDigest",
                                         f"Tag {tag!r} does not point to {digest}"))
            else:
                failures.append(_failure(image_id, "ImageNotFound", "Requested image not found"))
            continue
        if tag is None:
            whole[image.digest] = image
        else:
            untag.setdefault(image.digest, (image, set()))[1].add(tag)
    deleted: list[dict] = []
    if not (whole or untag):
        return {"imageIds": deleted, "failures": failures}
    client = RegistryClient(_registry(services))
    try:
        for digest, (image, tags) in untag.items():
            if digest in whole:
                continue
            if tags >= set(image.tags):
                whole[digest] = image
            else:
                for tag in sorted(tags):
                    client.untag(name, tag)
                    deleted.append({"imageDigest": digest, "imageTag": tag})
        for digest, image in whole.items():
            client.delete(name, digest)
            deleted += [{"imageDigest": digest, "imageTag": t} for t in image.tags] or [{"imageDigest": digest}]
    except RegistryError as e:
        raise ServiceUnavailable(f"The image registry failed to delete from {name}: {e}") from None
    return {"imageIds": deleted, "failures": failures}


# --- login ---
@operation("ecr", "GetAuthorizationToken")
def get_authorization_token(services, params: dict) -> dict:
    """One token for the local registry: ``base64("AWS:<password>")``, with the registry's loopback address as
    ``proxyEndpoint`` (what ``docker login`` needs; see ``docs/containers.md`` for the ECR host mapping)."""
    for registry_id in params.get("registryIds") or []:
        _check_registry_id(services, registry_id)
    info = _registry(services)
    return {"authorizationData": [{"authorizationToken": info.token(), "expiresAt": time.time() + TOKEN_LIFETIME,
                                   "proxyEndpoint": info.url}]}
