"""The verbs of a trigger: update with new evidence, then read what fired (as River's drift detectors do)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Any, Self

from pioneer.clustering.base import ParamsMixin
from pioneer.events import Event


class Trigger(ParamsMixin, ABC):
    """Turns evidence into events; ``update`` returns ``self`` and ``fired`` holds that update's events."""

    @abstractmethod
    def update(self, evidence: Any, **kwargs: Any) -> Self:
        """Consume new evidence (never modifying it) and return ``self``."""

    @property
    @abstractmethod
    def fired(self) -> Sequence[Event]:
        """Events produced by the last :meth:`update` (empty when nothing fired)."""
