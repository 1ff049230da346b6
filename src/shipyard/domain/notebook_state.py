"""The private state of a notebook instance: the ``_`` keys of its stored document, typed.

A notebook instance's document is its DescribeNotebookInstance response plus what only the controller reads:
the JupyterLab process it started (pid, port, login token) and whether the OnCreate script has run (it runs
once in the instance's life; OnStart runs on every start).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .doc_state import DocState

# field name -> the document key it is stored under (never rename one: old databases keep these names)
_KEYS = {
    "pid": "_pid",
    "port": "_port",
    "token": "_token",
    "created_ran": "_on_create_ran",
}


@dataclass
class NotebookState(DocState):
    """The ``_`` keys of a notebook-instance document. ``None`` means the key is not there."""

    KEYS: ClassVar[dict[str, str]] = _KEYS

    pid: int | None = None        # the JupyterLab process (leader of its own process group)
    port: int | None = None       # where it listens, on loopback
    token: str | None = None      # the login token it accepts (the presigned URL carries it)
    created_ran: bool | None = None  # the OnCreate script has run

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> "NotebookState":
        return cls(**{name: doc.get(key) for name, key in _KEYS.items()})
