"""The built-in project templates, as the Service Catalog products AWS offers them.

=====================================  =========================================  ================================
ProductId                              AWS's product of the same shape            ProvisioningParameters
=====================================  =========================================  ================================
``prod-shipyard-model-building``       MLOps template for model building and      none
                                       training
``prod-shipyard-model-deployment``     MLOps template for model deployment        ``SourceModelPackageGroupName``
                                                                                  (required)
=====================================  =========================================  ================================

Each has one provisioning artifact, ``pa-shipyard-v1`` (ProvisioningArtifactId may be left out).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources

BUILD = "prod-shipyard-model-building"
DEPLOY = "prod-shipyard-model-deployment"
ARTIFACT = "pa-shipyard-v1"
SOURCE_GROUP = "SourceModelPackageGroupName"
PRODUCTION_APPROVAL = "ProductionApproval"  # CustomerMetadataProperties key: the second (production) approval


@dataclass(frozen=True)
class Template:
    product_id: str
    title: str
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = field(default=())

    @property
    def parameters(self) -> tuple[str, ...]:
        return self.required + self.optional


TEMPLATES = {
    BUILD: Template(BUILD, "MLOps template for model building and training"),
    DEPLOY: Template(DEPLOY, "MLOps template for model deployment", required=(SOURCE_GROUP,)),
}


def seed_files(template: str = "modelbuild") -> dict[str, bytes]:
    """The seed repository's files (path -> content), read from the package data under ``seeds/``."""
    root = resources.files(__package__).joinpath("seeds").joinpath(template)
    out: dict[str, bytes] = {}

    def walk(node, prefix: str) -> None:
        for child in node.iterdir():
            if child.name == "__pycache__":
                continue
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            else:
                out[f"{prefix}{child.name}"] = child.read_bytes()

    walk(root, "")
    return out
