"""Where Pioneer keeps things on disk, read from the environment (``PIONEER_*``) with flags taking precedence.

Settings are read inside functions that commands call, never at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_BROKER = "127.0.0.1:9092"


def pioneer_home() -> Path:
    """Root of Pioneer's local state: ``$PIONEER_HOME`` or ``~/.pioneer``."""
    return Path(os.environ.get("PIONEER_HOME") or Path.home() / ".pioneer").expanduser()


@dataclass(frozen=True, slots=True, kw_only=True)
class Paths:
    """Local directories, all under one home so a user can move or wipe Pioneer's state in one place."""

    home: Path

    @classmethod
    def from_env(cls) -> Paths:
        return cls(home=pioneer_home())

    @property
    def registry(self) -> Path:
        return Path(os.environ.get("PIONEER_REGISTRY") or self.home / "registry")

    @property
    def traces_db(self) -> Path:
        return Path(os.environ.get("PIONEER_TRACES_DB") or self.home / "traces.sqlite")

    @property
    def cache(self) -> Path:
        return self.home / "cache"

    @property
    def state(self) -> Path:
        """Worker state (clusterer checkpoints, Faust tables)."""
        return self.home / "state"

    @property
    def reports(self) -> Path:
        return self.home / "reports"
