"""``open_registry``: the one place that turns a registry location into a backend.

``s3://bucket/prefix`` opens an :class:`~pioneer.registry.s3.S3Registry`; anything else is a directory for
:class:`~pioneer.registry.file.FileRegistry`. With no location, ``$PIONEER_REGISTRY`` is read, then
``$PIONEER_HOME/registry``.

>>> import tempfile
>>> open_registry(tempfile.mkdtemp()).__class__.__name__
'FileRegistry'
"""

from __future__ import annotations

import os
from pathlib import Path

from pioneer.registry.base import Registry


def open_registry(location: str | Path | None = None) -> Registry:
    """The registry at ``location`` (an ``s3://`` URL or a directory), or the one the environment names."""
    if location is None or str(location) == "":
        location = os.environ.get("PIONEER_REGISTRY") or None
    if location is None:
        from pioneer.settings import pioneer_home

        location = pioneer_home() / "registry"
    if isinstance(location, str) and location.startswith("s3://"):
        from pioneer.registry.s3 import S3Registry

        return S3Registry(location)
    from pioneer.registry.file import FileRegistry

    return FileRegistry(location)
