"""The verbs of a trigger: update with new evidence, then read what fired (as River's drift detectors do)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import Generic, Self, TypeVar

from pioneer.base import ParamsMixin
from pioneer.events import Event

EvidenceT = TypeVar("EvidenceT")
ModelT = TypeVar("ModelT")


class Trigger(ParamsMixin, ABC, Generic[EvidenceT, ModelT]):
    """Turns evidence about one model into events; ``update`` returns ``self`` and ``fired`` holds that update's
    events. A subclass names the evidence it reads and how it names the model: ``Trigger[Snapshot, ModelRef]``."""

    @abstractmethod
    def update(self, evidence: EvidenceT, /, *, model: ModelT) -> Self:
        """Consume new evidence about ``model`` (never modifying it) and return ``self``."""

    @property
    @abstractmethod
    def fired(self) -> Sequence[Event]:
        """Events produced by the last :meth:`update` (empty when nothing fired)."""
