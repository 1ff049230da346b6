"""Users with key pairs of their own, beside the server's key: who may sign API calls and console sessions.

The server's key (``<home>/credentials.json``) is the account's one administrator. ``shipyard users add`` gives
a person a key pair of their own with a role: ``admin`` may do everything the server's key may, ``viewer`` only
reads (:func:`shipyard.server.auth.authorize_user` holds the rule). A key is also issued to each running notebook
instance (:meth:`Users.issue_for_notebook`, owner ``notebook-instance/<name>``), so JupyterLab never holds the
server's key, and revoked when the instance stops.

The list lives in ``<home>/users.json`` (mode 0600, replaced atomically). Both the server and the CLI write it,
so every change takes an exclusive lock on ``users.json.lock``, re-reads the file and writes it back whole; a
reader re-reads it whenever its inode, size or mtime changed, which is how a running server sees a user the CLI
added or removed without a restart (a ``stat`` per lookup of a key that is not the server's).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import string
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

from ..errors import ResourceInUse, ResourceNotFound, ValidationError

FILE_NAME = "users.json"
KEY_PREFIX = "AKIA"  # AWS's prefix for a long-term (IAM user) access key
ROLES = ("admin", "viewer")
NOTEBOOK_OWNER = "notebook-instance/"
_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")  # IAM's user name rule
_KEY_ALPHABET = string.ascii_uppercase + string.digits
_SECRET_ALPHABET = string.ascii_letters + string.digits + "+/"


@dataclass(frozen=True)
class User:
    """One key pair and what it may do. ``owner`` is set for keys issued to a resource, not to a person."""

    name: str
    access_key_id: str
    secret_access_key: str
    role: str = "admin"
    created: float = 0.0
    owner: str = ""

    @property
    def read_only(self) -> bool:
        return self.role == "viewer"

    def public(self) -> dict[str, object]:
        """What ``shipyard users list`` shows: everything but the secret."""
        return {"name": self.name, "access_key_id": self.access_key_id, "role": self.role,
                "created": self.created, **({"owner": self.owner} if self.owner else {})}


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise ValidationError(f"Invalid user name {name!r}: use 1 to 64 letters, digits and +=,.@_- "
                              "(IAM's user name rule).")
    return name


def check_role(role: str) -> str:
    if role not in ROLES:
        raise ValidationError(f"Invalid role {role!r}: use one of {', '.join(ROLES)}.")
    return role


def _new_key_pair() -> tuple[str, str]:
    key_id = KEY_PREFIX + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(16))
    return key_id, "".join(secrets.choice(_SECRET_ALPHABET) for _ in range(40))


class Users:
    """The user list of one home (see the module docstring). Thread-safe; safe across processes."""

    def __init__(self, home: str | Path):
        self.path = Path(home) / FILE_NAME
        self._lock = threading.Lock()
        self._by_key: dict[str, User] = {}
        self._stamp: tuple[int, int, int] | None = None
        self._reload_if_changed()

    # --- reading ---
    def _file_stamp(self) -> tuple[int, int, int] | None:
        try:
            st = self.path.stat()
        except OSError:
            return None
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def _read(self) -> dict[str, User]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        out: dict[str, User] = {}
        for item in data.get("users") or []:
            try:
                user = User(**item)
            except TypeError:
                continue
            out[user.access_key_id] = user
        return out

    def _reload_if_changed(self) -> None:
        stamp = self._file_stamp()
        if stamp == self._stamp:
            return
        with self._lock:
            self._by_key = self._read() if stamp is not None else {}
            self._stamp = stamp

    def lookup(self, access_key_id: str) -> User | None:
        """The user (or resource) that holds this access key, as the file says now."""
        if not access_key_id:
            return None
        self._reload_if_changed()
        return self._by_key.get(access_key_id)

    def list(self) -> list[User]:
        self._reload_if_changed()
        return sorted(self._by_key.values(), key=lambda u: (bool(u.owner), u.name))

    def get(self, name: str) -> User | None:
        return next((u for u in self.list() if u.name == name), None)

    # --- changing (lock, re-read, change, write back) ---
    @contextmanager
    def _editing(self) -> Iterator[dict[str, User]]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path.with_name(FILE_NAME + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._lock:
                users = self._read()
                yield users
                self._write(users)
                self._by_key, self._stamp = users, self._file_stamp()
        finally:
            os.close(fd)  # closing releases the lock

    def _write(self, users: dict[str, User]) -> None:
        data = {"users": [asdict(u) for u in sorted(users.values(), key=lambda u: u.name)]}
        tmp = self.path.with_name(f"{FILE_NAME}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps(data, indent=1))
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)

    def add(self, name: str, role: str = "admin") -> User:
        """A new user with a fresh key pair (the only time the secret is handed out)."""
        check_name(name)
        check_role(role)
        key_id, secret = _new_key_pair()
        user = User(name, key_id, secret, role, time.time())
        with self._editing() as users:
            if any(u.name == name for u in users.values()):
                raise ResourceInUse(f"User {name} already exists: remove it first to issue a new key pair.",
                                    code="EntityAlreadyExists")
            users[key_id] = user
        return user

    def remove(self, name: str) -> User:
        """Remove a person's user (its key stops working at once); keys issued to resources are revoked with
        :meth:`revoke_owner`."""
        with self._editing() as users:
            found = next((u for u in users.values() if u.name == name and not u.owner), None)
            if found is None:
                raise ResourceNotFound(f"The user with name {name} cannot be found.", code="NoSuchEntity")
            del users[found.access_key_id]
        return found

    # --- keys issued to notebook instances ---
    def issue_for_notebook(self, instance: str) -> User:
        """A fresh admin key for a notebook instance's JupyterLab; an older one of the same instance is revoked.

        Admin because the instance acts for whoever created it. SageMaker would scope the instance's
        credentials by its RoleArn (an IAM role's policies); Shipyard does not model IAM policies, so the role
        is only recorded on the instance, not enforced."""
        owner = NOTEBOOK_OWNER + instance
        key_id, secret = _new_key_pair()
        user = User(owner, key_id, secret, "admin", time.time(), owner)
        with self._editing() as users:
            for k in [k for k, u in users.items() if u.owner == owner]:
                del users[k]
            users[key_id] = user
        return user

    def revoke_owner(self, owner: str) -> int:
        """Revoke every key issued to ``owner`` (``notebook-instance/<name>``); how many were."""
        if not any(u.owner == owner for u in self.list()):
            return 0
        with self._editing() as users:
            gone = [k for k, u in users.items() if u.owner == owner]
            for k in gone:
                del users[k]
        return len(gone)

    def revoke_notebook(self, instance: str) -> int:
        return self.revoke_owner(NOTEBOOK_OWNER + instance)

    def prune_notebooks(self, is_running: Callable[[str], bool]) -> int:
        """Revoke the keys of notebook instances that are not running (any more): called at server start."""
        stale = {u.owner for u in self.list()
                 if u.owner.startswith(NOTEBOOK_OWNER) and not _safe(is_running, u.owner[len(NOTEBOOK_OWNER):])}
        return sum(self.revoke_owner(owner) for owner in stale)


def _safe(fn: Callable[[str], bool], name: str) -> bool:
    try:
        return bool(fn(name))
    except Exception:  # noqa: BLE001 - an instance we cannot find is not running
        return False


_registry: dict[str, Users] = {}
_registry_lock = threading.Lock()


def for_home(home: str | Path) -> Users:
    """The one :class:`Users` of a home in this process (the app, the console and the controllers share it)."""
    path = str(Path(home).resolve())
    with _registry_lock:
        users = _registry.get(path)
        if users is None:
            users = _registry[path] = Users(Path(path))
        return users
