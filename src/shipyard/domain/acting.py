"""Who is acting: the person on whose behalf a resource is created, recorded on it as ``_user`` (usage by
user, ``shipyard usage --by user``).

Why a context variable rather than a parameter: the server knows who signed a request, the resource modules
create the rows, and controllers create jobs for a tuning job, a pipeline execution or a monitoring schedule
long after the request that made it; passing a name through every create function would touch every
signature for one field. The server sets it around each handler (:func:`acting_as`), a controller around the
work it does for a parent resource (the parent's own ``_user``), and the create functions :func:`stamp` it.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator

ROOT = "root"  # the server's own key: the account's administrator, as AWS calls an account's first identity
_ACTING: ContextVar[str] = ContextVar("shipyard_acting", default="")


@contextmanager
def acting_as(name: str) -> Iterator[None]:
    """Resources created inside the block are recorded as created by ``name`` ("" records nothing)."""
    token = _ACTING.set(name or "")
    try:
        yield
    finally:
        _ACTING.reset(token)


def acting() -> str:
    return _ACTING.get()


def stamp(doc: dict[str, Any]) -> dict[str, Any]:
    """``doc`` with ``_user`` set to whoever is acting (unchanged when no one is: a test calling a resource
    module directly, or a doc that already names its creator)."""
    name = _ACTING.get()
    if name and not doc.get("_user"):
        doc["_user"] = name
    return doc


def user_of(doc: dict[str, Any]) -> str:
    return str(doc.get("_user") or "")
