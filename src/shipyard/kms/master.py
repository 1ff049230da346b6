"""The operator's master key: the one secret that every KMS key's material is wrapped under.

Looked up in this order (:func:`load_master_key`):

1. ``SHIPYARD_KMS_MASTER_KEY``: 32 bytes, base64-encoded (``openssl rand -base64 32``);
2. ``SHIPYARD_KMS_MASTER_KEY_FILE``: a file holding the same base64 text (or the 32 raw bytes);
3. ``<home>/kms-master.key``: generated on first use with mode 0600.

The third is a convenience for a laptop: the key then sits next to the data it protects, so anyone who can read
the home folder can read the objects. Production operators supply their own key (1 or 2) and keep it elsewhere
(a secrets manager, a mounted secret). Losing the master key makes every KMS key, and every object encrypted
under one, unreadable: that is the point of it.
"""

from __future__ import annotations

import base64
import binascii
import os
import secrets
from pathlib import Path
from typing import Mapping

from ..errors import ValidationError

KEY_BYTES = 32
ENV_KEY = "SHIPYARD_KMS_MASTER_KEY"
ENV_FILE = "SHIPYARD_KMS_MASTER_KEY_FILE"
DEFAULT_FILE = "kms-master.key"


def _decode(text: bytes, where: str) -> bytes:
    raw = text.strip()
    if len(raw) == KEY_BYTES:  # a file holding the raw bytes
        return raw
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ValidationError(f"{where} must hold a {KEY_BYTES}-byte key, base64-encoded (for example the "
                              f"output of `openssl rand -base64 32`).")
    return key


def load_master_key(home: str | Path, env: Mapping[str, str] | None = None) -> bytes:
    """The master key from the environment, the named file, or ``<home>/kms-master.key`` (created 0600)."""
    env = os.environ if env is None else env
    if env.get(ENV_KEY):
        return _decode(env[ENV_KEY].encode(), ENV_KEY)
    if env.get(ENV_FILE):
        path = Path(env[ENV_FILE])
        try:
            return _decode(path.read_bytes(), f"{ENV_FILE} ({path})")
        except OSError as e:
            raise ValidationError(f"{ENV_FILE} names {path}, which cannot be read: {e.strerror}.") from None
    path = Path(home) / DEFAULT_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, even briefly
        with os.fdopen(fd, "wb") as f:
            f.write(base64.b64encode(secrets.token_bytes(KEY_BYTES)) + b"\n")
    return _decode(path.read_bytes(), str(path))
