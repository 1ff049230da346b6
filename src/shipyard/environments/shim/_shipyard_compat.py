"""Loaded at start-up in every Shipyard framework environment (through ``_shipyard_compat.pth``).

The ``sagemaker-containers`` toolkit (which older framework scripts import) predates Python 3.10 and uses
the ``collections`` aliases of the ``collections.abc`` classes that 3.10 removed; put them back.
"""

import collections
import collections.abc
import os as _os

for _name in ("Mapping", "MutableMapping", "Sequence", "MutableSequence", "Iterable", "Callable", "Set"):
    if not hasattr(collections, _name):
        setattr(collections, _name, getattr(collections.abc, _name))
del _name

# SHIPYARD_SERVER_SITE (set by the server for an inference pipeline mixing built-in algorithm stages with script
# stages): the server's site-packages, after the environment's own, so the image's packages win.

if _os.environ.get("SHIPYARD_SERVER_SITE"):
    import site as _site

    for _dir in _os.environ["SHIPYARD_SERVER_SITE"].split(_os.pathsep):
        if _dir and _os.path.isdir(_dir):
            _site.addsitedir(_dir)
    del _site, _dir
del _os
