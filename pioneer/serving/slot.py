"""The model a serving process answers with, held so that a swap is one reference assignment.

A :class:`ServedModel` is built only after its adapter is loaded *and* warmed up, and is never changed after;
the :class:`ModelSlot` holds exactly one at a time. A request (or a micro-batch of requests) reads the slot once
and uses what it got for the whole prediction, so it sees either the old model or the new one, whole, and the
version it reports is the version that computed its answer. Rebinding an attribute is atomic in CPython, so
readers need no lock; writers take one only to keep the swap history in order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pioneer.errors import PioneerError
from pioneer.training.base import TaskAdapter


class ModelNotReady(PioneerError):
    """No model has been loaded yet (the server is alive but not ready)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ServedModel:
    """One loaded, warmed-up model version, immutable."""

    name: str
    version: str
    task: str
    adapter: TaskAdapter = field(repr=False, compare=False)
    loaded_at: float = field(default_factory=time.time)
    load_seconds: float = 0.0
    """Time to load the adapter from the registry (0 when it came from the cache)."""
    warmup_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class Swap:
    """One change of the served model (for logs, metrics and ``/readyz``)."""

    from_version: str | None
    to_version: str
    kind: str
    """``initial``, ``release``, ``rollback`` or ``pin``."""
    at: float
    seconds: float
    """From the moment the swap was asked for to the moment the new model served (load + warm-up + wait)."""


class ModelSlot:
    """Holds the current :class:`ServedModel`; see the module docstring.

    ``on_swap`` listeners run in the swapping thread after the new model is in place (metrics, logs).
    """

    def __init__(self) -> None:
        self._current: ServedModel | None = None
        self._lock = threading.Lock()
        self.history: list[Swap] = []
        self.listeners: list[Callable[[ServedModel | None, ServedModel, Swap], None]] = []

    @property
    def current(self) -> ServedModel | None:
        """The model serving now, or None before the first load."""
        return self._current

    def get(self) -> ServedModel:
        """The model serving now; raises :class:`ModelNotReady` before the first load."""
        served = self._current
        if served is None:
            raise ModelNotReady("no model is loaded yet")
        return served

    @property
    def version(self) -> str | None:
        served = self._current
        return None if served is None else served.version

    def swap(self, new: ServedModel, *, kind: str, requested_at: float | None = None) -> Swap:
        """Make ``new`` the served model in one assignment and record the swap."""
        with self._lock:
            old = self._current
            self._current = new  # the swap: every read after this line sees the new model, whole
            now = time.time()
            record = Swap(
                from_version=None if old is None else old.version,
                to_version=new.version,
                kind=kind,
                at=now,
                seconds=now - (requested_at if requested_at is not None else now),
            )
            self.history.append(record)
            del self.history[:-100]
        for listener in list(self.listeners):
            listener(old, new, record)
        return record
