"""Framework images are environments: a venv per AWS framework image version, built on first use.

User scripts import what AWS's framework images provide (``sagemaker_training``, ``sagemaker_inference``,
``sagemaker_containers``, ``sagemaker_xgboost_container.encoder``, the framework at the image's version).
Shipyard resolves a framework image URI to an :class:`~.spec.EnvSpec` (:mod:`.spec`, using AWS's list of
published versions in :mod:`.catalog`), builds it once into ``<home>/environments/<key>-...`` (or
``SHIPYARD_ENVIRONMENTS_CACHE``) with :mod:`.builder`, and runs the job's code with that venv's interpreter:
script-mode training (:mod:`shipyard.training.script`) and script-mode model servers
(:mod:`shipyard.serving.containers`) alike. ``shipyard images list|prepare|prune`` manages them.

Settings: ``SHIPYARD_ENVIRONMENTS`` = ``auto`` (default: build, fall back to the server's Python with a
warning when that fails), ``server`` (never build) or ``strict`` (a failed build fails the job);
``SHIPYARD_ENVIRONMENTS_CACHE`` = a folder shared by every home (CI and test runs reuse it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Callable

from .builder import (SERVER_SITE_ENV, EnvironmentError_, Prepared, ensure, list_environments, mode, prepare, remove,
                      root_for, server_site_packages, touch)
from .spec import EnvSpec, check_image, parse_image, spec_for_image

__all__ = ["SERVER_SITE_ENV", "EnvSpec", "EnvironmentError_", "Prepared", "check_image", "ensure",
           "ensure_for_image", "list_environments", "mode", "parse_image", "prepare", "remove", "root_for",
           "server_lib", "server_site_packages", "spec_for_image", "touch"]


def ensure_for_image(image: str, home: str | Path | None, log: Callable[[str], None] = print) -> Prepared:
    """The interpreter a job using ``image`` runs with (the server's own for non-framework images)."""
    try:
        spec = spec_for_image(image) if image else None
    except Exception as e:  # noqa: BLE001 - a bad tag was refused at Create*; here it only means "no env"
        log(f"WARNING: image {image!r}: {getattr(e, 'message', None) or e}; running on the server's Python")
        spec = None
    prepared = ensure(spec, root_for(home), log)
    if prepared.path is not None and not prepared.built:
        log(f"using environment {spec.key} ({prepared.python})"
            + (f", built on rung {prepared.rung}/4" if prepared.rung > 1 else ""))
    if prepared.path is not None and prepared.note:
        log(f"WARNING: {prepared.note}")
    touch(prepared)
    return prepared


def server_lib(root: Path) -> Path:
    """A folder holding only ``shipyard`` and ``httptools`` (links into the server's installation), for the
    PYTHONPATH of a model server running on an environment's interpreter: the server's code without the rest
    of its site-packages, whose versions would mix with the image's."""
    import httptools

    import shipyard

    targets = {"shipyard": Path(shipyard.__file__).resolve().parent,
               "httptools": Path(httptools.__file__).resolve().parent}
    digest = hashlib.sha256(repr(sorted(targets.items())).encode()).hexdigest()[:10]
    lib = root / "_server" / digest
    if all((lib / name).exists() for name in targets):
        return lib
    tmp = root / "_server" / f".{digest}.{os.getpid()}"
    tmp.mkdir(parents=True, exist_ok=True)
    for name, target in targets.items():
        link = tmp / name
        if not link.exists():
            link.symlink_to(target, target_is_directory=True)
    try:
        os.replace(tmp, lib)
    except OSError:  # another process made it first
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return lib
