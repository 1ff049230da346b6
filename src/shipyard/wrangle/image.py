"""Data Wrangler's processing image (``sagemaker.image_uris.retrieve("data-wrangler", region)``, repository
``sagemaker-data-wrangler-container``): a processing job on it runs :mod:`shipyard.wrangle.job` (this module
stays import-light: the processing admission path asks it about every image)."""

from __future__ import annotations

from ..environments.image_uri import repository_and_tag

REPOSITORY = "sagemaker-data-wrangler-container"
MODULE = "shipyard.wrangle.job"
# The account AWS publishes the image from in us-east-1 (the SDK's image_uris table has the rest)
DEFAULT_ACCOUNT = "663277389841"


def is_wrangler_image(image: str) -> bool:
    """Whether ``image`` is Data Wrangler's container (any account, region, registry or tag)."""
    return bool(image) and repository_and_tag(image)[0] == REPOSITORY


def image_uri(region: str = "us-east-1", version: str = "3.x") -> str:
    """The image URI ``sagemaker.image_uris.retrieve("data-wrangler", region)`` gives, read from the SDK's own
    table (``image_uri_config/data-wrangler.json``) without importing the SDK (slow, and it prints to
    stdout); without the SDK, the same repository under AWS's us-east-1 account (all Shipyard looks at)."""
    import importlib.util
    import json
    import os

    account = DEFAULT_ACCOUNT
    try:
        spec = importlib.util.find_spec("sagemaker")
        folder = list(spec.submodule_search_locations or [])[0] if spec else None
        if folder:
            with open(os.path.join(folder, "image_uri_config", "data-wrangler.json")) as f:
                versions = json.load(f)["processing"]["versions"]
            account = versions.get(version, versions[sorted(versions)[-1]])["registries"].get(region, account)
    except (OSError, KeyError, IndexError, ValueError):
        pass
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{domain}/{REPOSITORY}:{version}"
