"""The private state of a processing job: the ``_`` keys of its stored document, typed.

A processing job's document is its DescribeProcessingJob response plus keys only the server reads: which
program runs its image (``_program``), where its hosts run (``_hosts``, one :class:`Host` per ``algo-N``),
when the stop was sent, whether the outcome has been applied. Code reads and writes them through
:class:`ProcessingState` (the :class:`~.doc_state.DocState` base), never as ``doc.get("_x")`` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from .doc_state import DocState
from .training_state import Host

# field name -> the document key it is stored under (never rename one: old databases keep these names)
_KEYS = {
    "program": "_program",
    "tags": "_tags",
    "hosts": "_hosts",
    "started": "_started",
    "stop_requested": "_stop_requested",
    "stop_sent": "_stop_sent",
    "stop_reason": "_stop_reason",
    "done": "_done",
}


@dataclass
class ProcessingState(DocState):
    """The ``_`` keys of a processing-job document. ``None`` means the key is not there."""

    KEYS: ClassVar[dict[str, str]] = _KEYS

    # {"kind": "script", "framework", "image"} (a framework image: the host's Python environment for it) or
    # {"kind": "container", "image"} (a bring-your-own image on the container engine): see processing/program.py
    program: dict[str, Any] | None = None
    tags: list[dict[str, Any]] | None = None       # ListTags (shipyard.api.tags)
    hosts: list[Host] | None = None                # algo-1..N once started: runner handle, folder, log offset
    started: float | None = None                   # when the hosts were started (MaxRuntimeInSeconds)
    stop_requested: float | None = None            # when StopProcessingJob was called
    stop_sent: float | None = None                 # when the stop was sent to the hosts
    stop_reason: str | None = None                 # "MaxRuntimeExceeded" when the server stopped it
    done: bool | None = None                       # the outcome has been applied

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> ProcessingState:
        raw = {name: doc.get(key) for name, key in _KEYS.items()}
        hosts = raw.pop("hosts")
        return cls(**raw, hosts=[Host.from_dict(h) for h in hosts] if hosts is not None else None)

    def _value(self, name: str) -> Any:
        value = getattr(self, name)
        if name == "hosts" and value is not None:
            return [h.to_dict() for h in value]
        return value


PRIVATE_KEYS = frozenset(_KEYS.values())
