"""One rule for turning a name that came from outside into a path: it must stay in its folder.

S3 keys (checkpoints, uncompressed models), channel names, archive members, a program's file name and a
``CheckpointConfig.LocalPath`` all become paths under a folder Shipyard owns (a job's stand-in for ``/opt/ml``,
a model folder). :func:`safe_join` is the only way such a name is joined to its folder: it refuses an absolute
name, one whose ``..`` climbs out, and one that leaves through a symbolic link already inside the folder, with
:class:`~shipyard.errors.UnsafePath` (a ValidationException; a job or endpoint fails with its message).

It reads the file system only to follow symbolic links (``os.path.realpath``); it never creates anything.
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path, PurePosixPath

from ..errors import UnsafePath

OPT_ML = "/opt/ml"


def _inside(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def safe_join(root: str | os.PathLike[str], *relative: str | os.PathLike[str], what: str = "name") -> Path:
    """``root`` joined with ``relative`` (each a relative, ``/``-separated name), normalized, strictly inside
    ``root`` (never ``root`` itself), also after following any symbolic link on the way.

    ``what`` names the thing in the error message ("S3 key", "channel name", ...).
    """
    root_s = os.path.normpath(os.fspath(root))
    parts = [os.fsdecode(os.fspath(r)) for r in relative]
    shown = "/".join(parts)
    for rel in parts:
        if "\x00" in rel:
            raise UnsafePath(f"The {what} {shown!r} contains a NUL character.", root=root_s, name=shown)
        if rel.startswith(("/", "\\")) or os.path.isabs(rel):
            raise UnsafePath(f"The {what} {shown!r} is an absolute path; it must be relative to its folder.",
                             root=root_s, name=shown)
    joined = os.path.normpath(os.path.join(root_s, *parts)) if parts else root_s
    if not _inside(joined, root_s):
        raise UnsafePath(f"The {what} {shown!r} leaves its folder (it resolves outside {root_s}).",
                         root=root_s, name=shown)
    real_root = os.path.realpath(root_s)
    real = os.path.realpath(joined)
    if not _inside(real, real_root):
        raise UnsafePath(f"The {what} {shown!r} leaves its folder through a symbolic link (it resolves to "
                         f"{real}, outside {real_root}).", root=root_s, name=shown)
    return Path(joined)


def is_safe_name(name: str) -> bool:
    """Whether ``name`` is one path component that stays where it is put (not empty, ``.``, ``..``, no ``/``)."""
    return bool(name) and name not in (".", "..") and "/" not in name and "\x00" not in name


def under_opt_ml(path: str, what: str = "path") -> str:
    """``path`` (an absolute container path such as ``CheckpointConfig.LocalPath``) relative to ``/opt/ml``,
    normalized; :class:`UnsafePath` if it is not strictly under ``/opt/ml``."""
    if not path.startswith("/"):
        raise UnsafePath(f"The {what} {path!r} must be an absolute path under {OPT_ML}.", name=path)
    norm = posixpath.normpath(path)
    if not norm.startswith(OPT_ML + "/"):
        raise UnsafePath(f"The {what} {path!r} is outside {OPT_ML}; a job may only use folders under {OPT_ML}.",
                         name=path)
    return str(PurePosixPath(norm).relative_to(OPT_ML))
