"""Loaded at start-up in every Shipyard framework environment (through ``_shipyard_compat.pth``).

The ``sagemaker-containers`` toolkit (which older framework scripts import) predates Python 3.10 and uses
the ``collections`` aliases of the ``collections.abc`` classes that 3.10 removed; put them back.
"""

import collections
import collections.abc

for _name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Callable", "Set"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
del _name
