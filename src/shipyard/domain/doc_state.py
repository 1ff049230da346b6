"""What the typed private states of resource documents share: field <-> stored ``_`` key, and change sets.

A subclass (a dataclass) names its stored keys in ``KEYS`` (field name -> document key) and turns a field
into its stored form in :meth:`_value` where that is not the value itself (nested dataclasses). Writing goes
through :meth:`to_changes` so that the document keeps its old key names (``None`` deletes a key).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, ClassVar


class DocState:
    KEYS: ClassVar[dict[str, str]] = {}

    def _value(self, name: str) -> Any:
        return getattr(self, name)

    def to_changes(self, *names: str) -> dict[str, Any]:
        """Document changes writing these fields (all of them if none are named); ``None`` deletes a key."""
        for name in names:
            if name not in self.KEYS:
                raise KeyError(f"{type(self).__name__} has no field {name!r}")
        return {self.KEYS[n]: self._value(n) for n in (names or tuple(self.KEYS))}

    def to_doc(self) -> dict[str, Any]:
        """The keys that are set, as a new document stores them."""
        return {k: v for k, v in self.to_changes().items() if v is not None}

    def changes(self, **updates: Any) -> dict[str, Any]:
        """The document changes that set these fields: ``state.changes(attempt=2, failure=None)``."""
        return replace(self, **updates).to_changes(*updates)  # type: ignore[type-var]
