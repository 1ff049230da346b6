"""The private state of the model registry's documents: the ``_`` keys of a model package group and a package.

A group keeps the last version it handed out (``_last_version``): CreateModelPackage takes the next one with a
compare-and-set on the group's store version, so two concurrent creates never get the same version and a
deleted package's number is never reused (as on AWS). A package keeps whether it is versioned (ListModelPackages
filters on it) and its tags. Code reads and writes them through these classes, never as ``doc.get("_x")``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .doc_state import DocState

APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")
PACKAGE_TYPES = ("Versioned", "Unversioned")


@dataclass
class GroupState(DocState):
    """The ``_`` keys of a model package group document."""

    KEYS: ClassVar[dict[str, str]] = {"last_version": "_last_version", "tags": "_tags"}

    last_version: int = 0
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> GroupState:
        return cls(last_version=int(doc.get("_last_version") or 0), tags=doc.get("_tags"))


@dataclass
class PackageState(DocState):
    """The ``_`` keys of a model package document."""

    KEYS: ClassVar[dict[str, str]] = {"package_type": "_package_type", "tags": "_tags"}

    package_type: str = "Unversioned"  # one of PACKAGE_TYPES
    tags: list[dict[str, Any]] | None = None

    @classmethod
    def of(cls, doc: dict[str, Any]) -> PackageState:
        return cls(package_type=str(doc.get("_package_type") or "Unversioned"), tags=doc.get("_tags"))
