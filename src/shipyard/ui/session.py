"""The console's sign-in session: a signed, expiring cookie and the CSRF token derived from it.

Why a cookie and not SigV4: a browser cannot sign requests, so the person proves once that they hold a key
pair the API accepts (the server's own, or a job's scoped key) and gets a session cookie naming that access
key. The cookie is ``HttpOnly`` and ``SameSite=Strict``, carries its expiry, and is HMAC-signed with a secret
kept in the server's home (``<home>/console/secret``, created once, mode 0600), so sessions survive a restart
and nobody without the home can forge one. The CSRF token is an HMAC of the session's random nonce: every POST
must send it back (form field or ``X-CSRF-Token`` header), which a cross-site page cannot read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import orjson

COOKIE = "shipyard_console"
SESSION_SECONDS = 8 * 3600
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


@dataclass(frozen=True)
class Session:
    """A verified session: whose key signed in, until when, and its nonce (the CSRF token's seed)."""

    access_key_id: str
    expires: float
    nonce: str


def load_secret(home: Path) -> bytes:
    """The signing secret, created on first use (exclusively, so two processes agree on one secret)."""
    folder = Path(home) / "console"
    path = folder / "secret"
    try:
        return bytes.fromhex(path.read_text().strip())
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    value = secrets.token_bytes(32)
    with os.fdopen(fd, "w") as f:
        f.write(value.hex())
    return value


class SessionSigner:
    """Issues and checks session cookies and CSRF tokens with one server-side secret."""

    def __init__(self, secret: bytes, lifetime: float = SESSION_SECONDS):
        self.secret = secret
        self.lifetime = lifetime

    def _mac(self, data: bytes) -> str:
        return hmac.new(self.secret, data, hashlib.sha256).hexdigest()

    def issue(self, access_key_id: str) -> tuple[str, Session]:
        session = Session(access_key_id, time.time() + self.lifetime, secrets.token_hex(16))
        payload = base64.urlsafe_b64encode(orjson.dumps(
            {"k": session.access_key_id, "e": session.expires, "n": session.nonce})).decode()
        return f"{payload}.{self._mac(payload.encode())}", session

    def verify(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None (missing, forged, malformed or expired)."""
        if not cookie or "." not in cookie:
            return None
        payload, _, mac = cookie.rpartition(".")
        if not hmac.compare_digest(mac, self._mac(payload.encode())):
            return None
        try:
            data = orjson.loads(base64.urlsafe_b64decode(payload.encode()))
            session = Session(str(data["k"]), float(data["e"]), str(data["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires > time.time() else None

    def csrf_token(self, session: Session) -> str:
        return self._mac(f"csrf:{session.nonce}".encode())

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))
