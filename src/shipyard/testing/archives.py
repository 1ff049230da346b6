"""In-memory ``.tar.gz`` archives as jobs and models exchange them: for tests and benchmarks.

A model artifact (``model.tar.gz``), a script-mode source dir (``sourcedir.tar.gz``) and a job's output are
gzipped tarballs of plain files; these two functions build one from ``{name: bytes}`` and read one back the
same way, so a test or a benchmark states its files and checks what came back without touching the disk.
"""

from __future__ import annotations

import io
import tarfile


def tarball(files: dict[str, bytes]) -> bytes:
    """A gzipped tarball holding ``files`` (name -> content), regular files only, in the given order."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def untar(data: bytes) -> dict[str, bytes]:
    """The regular files of the (possibly compressed) tarball ``data``: name -> content."""
    out: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        for member in tar.getmembers():
            f = tar.extractfile(member) if member.isfile() else None
            if f is not None:
                out[member.name] = f.read()
    return out
