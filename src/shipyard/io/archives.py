"""Unpacking an archive someone else made: every tar Shipyard unpacks goes through :func:`safe_extract`.

That is a model.tar.gz for an endpoint, a transform job or a multi-model endpoint's model, a training job's
``sourcedir.tar.gz``, a worker host's model part. The rules:

- the bytes written (counted as they are written, not taken from the headers) stay under
  ``SHIPYARD_MAX_EXTRACT_BYTES`` (default 20 GiB), the members under ``SHIPYARD_MAX_EXTRACT_MEMBERS``
  (default 100,000): a small archive that expands to fill the disk is refused, not unpacked;
- extended headers (GNU long names, PAX attributes), which tarfile reads into memory whole, count against
  both caps *before* they are read, and one over 1 MiB is refused outright: a 1 GB PAX header costs a
  header block to refuse, not a gigabyte of memory;
- every member lands inside ``dest`` (:func:`shipyard.domain.paths.safe_join`): no absolute names, no ``..``
  climbing out, no writing through a symbolic link that points outside;
- symbolic links must point inside ``dest``; hard links must name a member already unpacked (the file is
  copied, and counted again); device files, FIFOs and anything else are refused;
- modes keep the permission bits a user needs (``rwx`` for the owner, ``r-x`` for others), never setuid.

A refused archive raises :class:`~shipyard.errors.ArchiveRefused`, whose message is the FailureReason; what was
unpacked before the refusal is left for the caller to remove (callers unpack into a temporary or fresh folder).

The caps are the *server's* settings (:class:`shipyard.config.Settings`), never the unpacking process's
environment: a job's or model's ``Environment`` reaches the processes that unpack its archives, and must not
raise its own cap. The server calls :func:`configure` at start, and passes the caps to each job in its
``job.json`` (``archive_caps``), whose executor calls :func:`configure` with them; a process that was told
nothing uses the defaults.
"""

from __future__ import annotations

import io
import os
import posixpath
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..domain.paths import safe_join
from ..errors import ArchiveRefused, UnsafePath

DEFAULT_MAX_BYTES = 20 << 30
DEFAULT_MAX_MEMBERS = 100_000
BYTES_SETTING = "SHIPYARD_MAX_EXTRACT_BYTES"      # the server's settings that set the caps (config.py)
MEMBERS_SETTING = "SHIPYARD_MAX_EXTRACT_MEMBERS"
_CHUNK = 1 << 20


MAX_HEADER_BYTES = 1 << 20  # one GNU long name or PAX header: names and attributes are never this long


@dataclass(frozen=True)
class Caps:
    """The caps on what one archive may unpack to (the server's settings)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_members: int = DEFAULT_MAX_MEMBERS

    def to_json(self) -> dict[str, int]:
        return {"max_bytes": self.max_bytes, "max_members": self.max_members}

    @classmethod
    def from_json(cls, data: dict | None) -> "Caps":
        """Caps from a job.json entry; a missing or invalid value is the default."""
        data = data if isinstance(data, dict) else {}
        return cls(max_bytes=_positive(data.get("max_bytes"), DEFAULT_MAX_BYTES),
                   max_members=_positive(data.get("max_members"), DEFAULT_MAX_MEMBERS))


def _positive(value, default: int) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return default
    return number if number > 0 else default


_caps = Caps()


def configure(caps: Caps) -> None:
    """Set this process's caps: the server from its Settings, an executor from its job.json."""
    global _caps
    _caps = caps


def max_extract_bytes() -> int:
    return _caps.max_bytes


def max_extract_members() -> int:
    return _caps.max_members


@dataclass
class Extracted:
    files: int = 0
    members: int = 0
    bytes: int = 0


def _human(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024:
            return f"{n} bytes" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TiB"


def safe_extract(archive: str | os.PathLike, dest: str | os.PathLike, *, max_bytes: int | None = None,
                 max_members: int | None = None, what: str = "archive") -> Extracted:
    """Unpack the tar (any compression tarfile reads) ``archive`` into ``dest`` under the rules above.

    ``max_bytes`` / ``max_members`` default to the settings; ``what`` names the archive in messages
    ("the model artifact", "sagemaker_submit_directory", ...).
    """
    max_bytes = max_extract_bytes() if max_bytes is None else max_bytes
    max_members = max_extract_members() if max_members is None else max_members
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    done = Extracted()
    budget = _Budget(done, max_bytes, max_members, what)
    # a TarInfo class of this call's own, so the extended headers tarfile reads are counted before they are read
    capped = type("CappedTarInfo", (_CappedTarInfo,), {"budget": budget})
    try:
        with tarfile.open(archive, "r:*", tarinfo=capped) as tar:
            for member in tar:  # streamed: members are read one at a time, never all headers up front
                budget.member()
                _extract_member(tar, member, dest, done, max_bytes, what)
    except RecursionError:  # a chain of extended headers, each naming the next
        raise ArchiveRefused(f"The {what} holds a chain of extended tar headers too long to read.") from None
    except tarfile.TarError as e:
        raise ArchiveRefused(f"The {what} is not a readable tar archive: {e}") from None
    except UnsafePath as e:
        raise ArchiveRefused(f"The {what} holds a member that escapes its folder: {e.message}") from None
    except (EOFError, OSError, ValueError) as e:  # truncated gzip, bad zlib data, a full disk
        raise ArchiveRefused(f"The {what} could not be unpacked: {type(e).__name__}: {e}") from None
    return done


@dataclass
class _Budget:
    """What one archive may still unpack: members and bytes, extended headers included."""

    done: Extracted
    max_bytes: int
    max_members: int
    what: str

    def member(self) -> None:
        self.done.members += 1
        if self.done.members > self.max_members:
            raise ArchiveRefused(f"The {self.what} has more than {self.max_members} members ({MEMBERS_SETTING}).")

    def header(self, kind: str, size: int) -> None:
        """An extended header of ``size`` bytes is about to be read into memory: count it first."""
        if size > MAX_HEADER_BYTES:
            raise ArchiveRefused(f"The {self.what} holds a {kind} header of {_human(size)}; at most "
                                 f"{_human(MAX_HEADER_BYTES)} is read (names and attributes are never that long).")
        self.member()
        self.done.bytes += size
        if self.done.bytes > self.max_bytes:
            raise ArchiveRefused(f"The {self.what} expands to more than {_human(self.max_bytes)} ({self.max_bytes} "
                                 f"bytes, {BYTES_SETTING}); refused before unpacking the rest.")


class _CappedTarInfo(tarfile.TarInfo):
    """tarfile's TarInfo, counting GNU long-name and PAX headers against the budget before reading them."""

    budget: _Budget

    def _proc_gnulong(self, tarfile):
        self.budget.header("GNU long-name", self.size)
        return super()._proc_gnulong(tarfile)

    def _proc_pax(self, tarfile):
        self.budget.header("PAX", self.size)
        return super()._proc_pax(tarfile)


def _member_name(member: tarfile.TarInfo) -> str:
    return posixpath.normpath(member.name) if member.name else "."


def _clear(target: Path) -> None:
    """Remove what a previous member left at ``target`` (a file or link; tar's later-member-wins rule)."""
    if target.is_symlink() or target.is_file():
        target.unlink()


def _extract_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path, done: Extracted,
                    max_bytes: int, what: str) -> None:
    name = _member_name(member)
    if member.isdir():
        if name in (".", ""):
            return
        target = safe_join(dest, name, what="archive member")
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            _clear(target)
        target.mkdir(parents=True, exist_ok=True)
        return
    target = safe_join(dest, name, what="archive member")
    if member.isfile():
        target.parent.mkdir(parents=True, exist_ok=True)
        _clear(target)
        source = tar.extractfile(member)
        _write_counted(source, target, member.mode, done, max_bytes, what)
        return
    if member.issym():
        link = member.linkname
        if os.path.isabs(link):
            raise ArchiveRefused(f"The {what} holds a symbolic link {member.name!r} -> {link!r} to an absolute "
                                 "path; links must point inside the archive's folder.")
        safe_join(dest, posixpath.dirname(name) or ".", link, what=f"target of the link {member.name!r}")
        target.parent.mkdir(parents=True, exist_ok=True)
        _clear(target)
        os.symlink(link, target)
        return
    if member.islnk():
        source_path = safe_join(dest, posixpath.normpath(member.linkname or "."),
                                what=f"target of the hard link {member.name!r}")
        if not source_path.is_file():
            raise ArchiveRefused(f"The {what} holds a hard link {member.name!r} to {member.linkname!r}, which is "
                                 "not a file unpacked before it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        _clear(target)
        with open(source_path, "rb") as src:
            _write_counted(src, target, member.mode, done, max_bytes, what)
        return
    kind = ("a device file" if member.ischr() or member.isblk() else "a FIFO" if member.isfifo()
            else f"a member of type {member.type!r}")
    raise ArchiveRefused(f"The {what} holds {kind} ({member.name!r}); only files, folders and links are unpacked.")


def _write_counted(source, target: Path, mode: int, done: Extracted, max_bytes: int, what: str) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(target, flags, 0o600)
    with os.fdopen(fd, "wb") as out:
        if source is not None:
            while chunk := source.read(_CHUNK):
                done.bytes += len(chunk)
                if done.bytes > max_bytes:
                    out.close()
                    target.unlink(missing_ok=True)
                    raise ArchiveRefused(f"The {what} expands to more than {_human(max_bytes)} ({max_bytes} bytes, "
                                         f"{BYTES_SETTING}); refused before unpacking the rest.")
                out.write(chunk)
    os.chmod(target, (mode & 0o755) | 0o600)
    done.files += 1


def read_zip(data: bytes, *, max_bytes: int | None = None, max_members: int | None = None,
             what: str = "zip archive") -> dict[str, bytes]:
    """The files of an in-memory zip (an AWS-format model's inner archive) as member name -> bytes, under the same
    caps as :func:`safe_extract`, counted as they are inflated. Nothing is written to disk."""
    max_bytes = max_extract_bytes() if max_bytes is None else max_bytes
    max_members = max_extract_members() if max_members is None else max_members
    out: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = [i for i in z.infolist() if not i.is_dir()]
            if len(infos) > max_members:
                raise ArchiveRefused(f"The {what} has more than {max_members} members ({MEMBERS_SETTING}).")
            for info in infos:
                parts = []
                with z.open(info) as src:
                    while chunk := src.read(_CHUNK):
                        total += len(chunk)
                        if total > max_bytes:
                            raise ArchiveRefused(f"The {what} expands to more than {_human(max_bytes)} ({max_bytes} "
                                                 f"bytes, {BYTES_SETTING}).")
                        parts.append(chunk)
                out[info.filename] = b"".join(parts)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError) as e:
        raise ArchiveRefused(f"The {what} could not be read: {type(e).__name__}: {e}") from None
    return out

