"""Container image URIs, split once: ``[registry host/]path/repository[:tag][@digest]``.

Both the built-in registry (which algorithm an image names) and the environment resolver (which framework
version) need the repository and the tag of a ``TrainingImage``; they share this parser so that they agree.
As Docker does, the first path component is a registry host only when it looks like one (it has a ``.`` or a
``:`` port, or is ``localhost``), so ``localhost:5000/sagemaker-xgboost:1.7-1`` is repository
``sagemaker-xgboost`` with tag ``1.7-1``, not repository ``localhost`` with tag ``5000/...``.
"""

from __future__ import annotations


def split_image(image: str) -> tuple[str, str, str]:
    """``(registry, path, tag)`` of an image URI; ``registry`` and ``tag`` are "" when it names none.

    ``path`` is the repository path under the registry (``org/repo``); ``tag`` is the text after ``:`` in the
    last component, or, when there is no tag, the digest after ``@`` (``sha256:...``)."""
    rest = image.strip()
    registry = ""
    first, slash, after = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, rest = first, after
    rest, at, digest = rest.partition("@")
    head, _, last = rest.rpartition("/")
    last, colon, tag = last.partition(":")
    path = f"{head}/{last}" if head else last
    return registry, path, (tag if colon else digest if at else "")


def repository_and_tag(image: str) -> tuple[str, str]:
    """The repository's own name (the last path component, lower case) and the tag: what names a built-in
    algorithm or a framework image, whatever account, region or registry the URI points at."""
    _, path, tag = split_image(image)
    return path.rsplit("/", 1)[-1].lower(), tag
