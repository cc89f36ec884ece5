"""Path containment: a path is inside a directory only after normalising (``..``, ``//``)."""

from __future__ import annotations

import posixpath


def under(path: str, directory: str) -> bool:
    """``path`` is inside ``directory`` after normalising (``images_evil`` is not ``images``)."""
    path, directory = posixpath.normpath(path), posixpath.normpath(directory)
    return posixpath.commonpath([path, directory]) == directory and path != directory
