"""The name a request acts as (:mod:`shipyard.domain.acting`), from the key that signed it.

A person's key acts as the person. A notebook instance's key and a job's key act for whoever created the
notebook or the job (their ``_user``), so work started from a notebook, or by a job's own boto3, is counted
to that person; where that is unknown, as the key's own name (``notebook-instance/<name>``,
``job/<kind>/<name>``). The server's own key is the account's administrator, :data:`~shipyard.domain.acting.ROOT`.
"""

from __future__ import annotations

from typing import Any

from ..domain.acting import ROOT, user_of
from ..domain.users import NOTEBOOK_OWNER
from ..metastore.base import MetaStore


def acting_name(meta: MetaStore, job: Any = None, user: Any = None) -> str:
    """``job``: the signing key's JobScope, if a job's; ``user``: its User, if a person's or a notebook's."""
    if job is not None:
        found = meta.find(job.kind, job.name)
        return (user_of(found.doc) if found is not None else "") or f"job/{job.kind}/{job.name}"
    if user is not None:
        if user.owner.startswith(NOTEBOOK_OWNER):
            found = meta.find("notebook-instance", user.owner[len(NOTEBOOK_OWNER):])
            return (user_of(found.doc) if found is not None else "") or user.name
        return str(user.name)
    return ROOT
