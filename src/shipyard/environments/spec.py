"""Framework image URI -> environment spec: which Python packages make a venv behave like that image.

Pure (no I/O beyond the version snapshot): :func:`parse_image` splits a URI into repository and version,
:func:`check_image` refuses a tag AWS never published (listing the valid ones), :func:`spec_for_image`
returns the :class:`EnvSpec` to build, or None for an image that is not a framework image (a built-in
algorithm, or Shipyard's plain ``python`` image, which runs on the server's own Python).

Framework versions follow the AWS images: the container tag ``1.2-1`` of scikit-learn is scikit-learn 1.2.1,
XGBoost ``1.7-1`` is xgboost 1.7.6, PyTorch ``2.0`` (an alias) is torch 2.0.1. Every environment also gets AWS's
toolkits from PyPI (``sagemaker-training``, ``sagemaker-inference``, ``sagemaker-containers``) and our
``sagemaker_xgboost_container`` shim, and pins ``numpy<2`` where the framework was built against NumPy 1.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass, field

from ..errors import ValidationError
from . import catalog
from .image_uri import repository_and_tag

# Shipyard's short names for framework images (``sklearn``, ``pytorch``) -> the ECR repository they stand for.
SHORT_NAMES = {"sklearn": "sagemaker-scikit-learn", "scikit-learn": "sagemaker-scikit-learn",
               "pytorch": "pytorch-training", "tensorflow": "tensorflow-training"}
# AWS's toolkits as the framework images carry them. sagemaker-training 5 needs protobuf 5, which the
# generated code of sagemaker-containers (the toolkit older scripts import) cannot load; that toolkit also
# needs Flask 1.1's companions at the versions of its day.
TOOLKITS = ("sagemaker-training<5", "sagemaker-inference", "sagemaker-containers", "protobuf<3.21",
            "Jinja2<3.1", "itsdangerous<2.1", "Werkzeug<2.1", "MarkupSafe<2.1")
SHIM_PACKAGES = ("sagemaker_xgboost_container",)

# container tag -> the framework release inside the AWS image
SKLEARN = {"0.20.0": "0.20.0", "0.23-1": "0.23.2", "1.0-1": "1.0.2", "1.2-1": "1.2.1", "1.4-2": "1.4.2"}
XGBOOST = {"0.90-1": "0.90", "0.90-2": "0.90", "1.0-1": "1.0.2", "1.2-1": "1.2.0", "1.2-2": "1.2.1",
           "1.3-1": "1.3.3", "1.5-1": "1.5.2", "1.7-1": "1.7.6", "3.0-5": "3.0.5"}


@dataclass(frozen=True)
class EnvSpec:
    framework: str            # sklearn | xgboost | pytorch | tensorflow | huggingface
    version: str              # the image's version (container tag), e.g. "1.2-1"
    packages: tuple[str, ...]  # pip requirements, framework first
    python: str = field(default_factory=lambda: f"{sys.version_info[0]}.{sys.version_info[1]}")
    image: str = ""

    @property
    def key(self) -> str:
        """What the user sees: ``sklearn-1.2-1``."""
        return f"{self.framework}-{self.version}"

    @property
    def digest(self) -> str:
        blob = json.dumps([self.framework, self.version, list(self.packages), self.python, SHIM_PACKAGES])
        return hashlib.sha256(blob.encode()).hexdigest()[:8]

    @property
    def dirname(self) -> str:
        """The folder under the environments root; a changed package list gets a new folder."""
        return f"{self.key}-py{self.python.replace('.', '')}-{self.digest}"

    def to_json(self) -> dict:
        return {"key": self.key, "framework": self.framework, "version": self.version,
                "packages": list(self.packages), "python": self.python, "image": self.image}


def parse_image(image: str) -> tuple[str, str]:
    """(repository, tag) of an image URI; the tag is "" when the URI names none."""
    repo, tag = repository_and_tag(image)
    return SHORT_NAMES.get(repo, repo), tag


def tag_version(repo: str, tag: str) -> str:
    """The framework version a tag names: ``1.2-1-cpu-py3`` -> ``1.2-1``, ``2.0.1-gpu-py310-cu118`` -> ``2.0.1``,
    ``2.1.0-transformers4.36.0-gpu-...`` -> ``4.36.0`` (Hugging Face images are versioned by transformers)."""
    if catalog.framework(repo) == "huggingface":
        m = re.search(r"transformers(\d+(?:\.\d+)*)", tag)
        return m.group(1) if m else tag
    m = re.match(r"^(\d+(?:\.\d+)*(?:-\d+)?)(?=-|$)", tag)
    return m.group(1) if m else tag


def _torch_version(tag: str) -> str | None:
    m = re.match(r"^(\d+\.\d+\.\d+)-transformers", tag)
    return m.group(1) if m else None


def check_image(image: str) -> str | None:
    """The canonical version of a framework image, None when ``image`` is no AWS framework repository.

    A tag AWS never published under that repository raises ValidationError listing the valid versions."""
    repo, tag = parse_image(image)
    if catalog.framework(repo) is None:
        return None
    valid = catalog.versions(repo)
    aliases = catalog.aliases(repo)
    if not tag:
        return catalog.latest(repo)
    if tag.startswith("sha256:"):  # a digest: cannot be checked, use the latest
        return catalog.latest(repo)
    version = tag_version(repo, tag)
    if version in valid:
        return version
    if version in aliases:
        return aliases[version]
    shown = ", ".join(valid)
    raise ValidationError(
        f"Image {image!r}: no {repo} image has the tag {tag!r}. Valid {catalog.framework(repo)} versions for "
        f"{repo}: {shown}" + (f" (aliases: {', '.join(sorted(aliases))})" if aliases else "") + ".")


def _major_minor(v: str) -> tuple[int, int]:
    parts = [int(p) for p in re.findall(r"\d+", v)[:2]] + [0, 0]
    return parts[0], parts[1]


def packages_for(framework: str, version: str, tag: str = "") -> tuple[str, ...]:
    """pip requirements for a framework at an image version (toolkits added)."""
    mm = _major_minor(version)
    if framework == "sklearn":
        release = SKLEARN.get(version) or f"{version.split('-')[0]}.*"
        pkgs = [f"scikit-learn=={release}", "numpy<2", "pandas<2.2" if mm < (1, 4) else "pandas", "scipy"]
    elif framework == "xgboost":
        release = XGBOOST.get(version) or f"{version.split('-')[0]}.*"
        pkgs = [f"xgboost=={release}", "numpy<2", "pandas<2.2", "scipy", "scikit-learn"]
    elif framework == "pytorch":
        pkgs = [f"torch=={version}", "numpy<2" if mm < (2, 3) else "numpy"]
    elif framework == "tensorflow":
        pkgs = [f"tensorflow=={version}", "numpy<2" if mm < (2, 18) else "numpy"]
    elif framework == "huggingface":
        torch = _torch_version(tag)
        pkgs = [f"transformers=={version}", f"torch=={torch}" if torch else "torch", "numpy<2", "datasets"]
    else:
        raise ValueError(f"unknown framework {framework!r}")
    return tuple(pkgs) + TOOLKITS


def spec_for_image(image: str) -> EnvSpec | None:
    """The environment an AWS framework image stands for; None for other images. Raises on a bad tag."""
    version = check_image(image)
    if version is None:
        return None
    repo, tag = parse_image(image)
    fw = catalog.framework(repo)
    return EnvSpec(framework=fw, version=version, packages=packages_for(fw, version, tag), image=image)
