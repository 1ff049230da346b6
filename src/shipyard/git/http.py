"""Hosted repositories over Git's smart HTTP: ``/git/<name>.git/...`` served by ``git http-backend``, behind
HTTP Basic auth with Shipyard keys (access key id as the username, secret as the password).

Why it exists beside ``file://`` URLs: a notebook's programs run in the job sandbox, where the server's home
(and so ``<home>/git``) is hidden; over HTTP they clone and push a project's repository with the notebook's own
key, and so can anyone with a key on another machine. Reading (clone, fetch) needs any valid key; pushing needs
one that may write (a viewer's key may only read). A wrong or missing key is answered 401 with a Basic
challenge, so git asks its credential helper.

The request body is spooled to a temporary file (a push may be large) and handed to ``git http-backend`` as a
CGI request; its answer is streamed back.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re
import tempfile
from pathlib import Path
from typing import Callable

from .cli import environment

PREFIX = "/git/"
_PATH = re.compile(r"^/git/([A-Za-z0-9][A-Za-z0-9-]{0,62})\.git(/.*)?$")
SPOOL_BYTES = 8 * 1024 * 1024
MAX_BODY_BYTES = 2 * 1024 * 1024 * 1024
CHUNK = 64 * 1024

# (access key id, secret) -> "write", "read", or None (not a key this server knows)
Authenticate = Callable[[str, str], "str | None"]


def wants(path: str) -> bool:
    return path.startswith(PREFIX)


def _credentials(headers: dict[str, str]) -> tuple[str, str] | None:
    value = headers.get("authorization", "")
    if not value.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(value[6:].strip()).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return user, password


async def _plain(send, status: int, text: str, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = text.encode()
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode()),
        *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


async def serve(scope, receive, send, headers: dict[str, str], root: Path, authenticate: Authenticate) -> None:
    """Answer one smart-HTTP request for a repository under ``root`` (``<home>/git``)."""
    match = _PATH.match(scope["path"])
    if not match:
        await _plain(send, 404, "No such repository: the hosted repositories are /git/<name>.git.\n")
        return
    query = scope.get("query_string", b"").decode("latin-1")
    pushing = "git-receive-pack" in (match.group(2) or "") or "service=git-receive-pack" in query
    given = _credentials(headers)
    access = authenticate(*given) if given else None
    if access is None or (pushing and access != "write"):
        challenge = [(b"www-authenticate", b'Basic realm="Shipyard Git"')]
        if access is None:
            await _plain(send, 401, "Give a Shipyard access key id as the username and its secret as the "
                                    "password.\n", challenge)
        else:
            await _plain(send, 403, "This key may read but not push: push with a key that may write.\n")
        return
    if not (root / f"{match.group(1)}.git" / "HEAD").is_file():  # said only to a caller with a key
        await _plain(send, 404, f"No repository {match.group(1)}.git is hosted here (ListCodeRepositories lists "
                                "them; a project's is <project>-<id>-modelbuild).\n")
        return
    with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as body:
        size = 0
        while True:
            message = await receive()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                await _plain(send, 413, "The request is larger than this server takes.\n")
                return
            body.write(chunk)
            if not message.get("more_body"):
                break
        body.seek(0)
        env = environment({
            "GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1", "REQUEST_METHOD": scope["method"],
            "PATH_INFO": f"/{match.group(1)}.git{match.group(2) or ''}", "QUERY_STRING": query,
            "CONTENT_TYPE": headers.get("content-type", ""), "CONTENT_LENGTH": str(size),
            "REMOTE_USER": given[0] if given else "", "REMOTE_ADDR": str((scope.get("client") or ("",))[0])})
        if headers.get("content-encoding"):
            env["HTTP_CONTENT_ENCODING"] = headers["content-encoding"]
        if headers.get("git-protocol"):
            env["GIT_PROTOCOL"] = headers["git-protocol"]
        proc = await asyncio.create_subprocess_exec("git", "http-backend", env=env, stdin=asyncio.subprocess.PIPE,
                                                    stdout=asyncio.subprocess.PIPE,
                                                    stderr=asyncio.subprocess.DEVNULL)
        assert proc.stdin is not None and proc.stdout is not None
        writer = asyncio.ensure_future(_feed(proc.stdin, body))
        try:
            await _relay(proc.stdout, send)
        finally:
            await writer
            await proc.wait()


async def _feed(stdin: asyncio.StreamWriter, body) -> None:
    """The spooled request body into git's standard input, a chunk at a time."""
    try:
        while True:
            chunk = body.read(CHUNK)
            if not chunk:
                break
            stdin.write(chunk)
            await stdin.drain()
    except (BrokenPipeError, ConnectionResetError):
        pass
    finally:
        stdin.close()


async def _relay(stdout: asyncio.StreamReader, send) -> None:
    """The CGI answer: its header block (``Status:`` and headers), then the body, streamed."""
    head = b""
    while b"\r\n\r\n" not in head and b"\n\n" not in head:
        chunk = await stdout.read(CHUNK)
        if not chunk:
            break
        head += chunk
    split = head.find(b"\r\n\r\n")
    sep = 4 if split >= 0 else 2
    if split < 0:
        split = head.find(b"\n\n")
    if split < 0:
        await _plain(send, 500, "git http-backend gave no answer.\n")
        return
    status, out_headers = 200, []
    for line in head[:split].decode("latin-1").splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() == "status":
            status = int(value.strip().split()[0])
        elif key.strip():
            out_headers.append((key.strip().lower().encode(), value.strip().encode("latin-1")))
    await send({"type": "http.response.start", "status": status, "headers": out_headers})
    rest = head[split + sep:]
    if rest:
        await send({"type": "http.response.body", "body": rest, "more_body": True})
    while True:
        chunk = await stdout.read(CHUNK)
        if not chunk:
            break
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def url_for(endpoint_url: str, name: str) -> str:
    """The smart-HTTP URL of the hosted repository ``name``."""
    return f"{endpoint_url.rstrip('/')}/git/{name}.git"


