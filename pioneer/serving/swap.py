"""Hot swap: load a version, warm it up, then swap it in; the newest request wins; failures keep the old model.

Whoever decides what should serve (the release follower, the startup code, a pin) calls
:meth:`ModelSwapper.set_target`; it returns at once. One task does the work, off the event loop: load the
adapter (from a small cache of recently served versions, else the registry), run a warm-up prediction, and
only then rebind the slot (:mod:`pioneer.serving.slot`). Until that moment the old model keeps answering, so
no request waits on a load and none sees a half-loaded model.

Targets that arrive while a load runs are not queued: when the load ends, the swapper moves straight to the
newest target (a release followed at once by its rollback never serves the release). A load or warm-up that
fails leaves the old model serving and is retried with backoff until it works or the target changes. Version
ids are content hashes, so a cached adapter for a version id is always the right weights; this is what makes
a rollback to the previous version a swap without a load.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from pioneer.serving.inference import WARMUP_TEXT, warm_up
from pioneer.serving.slot import ModelSlot, ServedModel
from pioneer.training.base import TaskAdapter

log = logging.getLogger(__name__)

Loader = Callable[[str], TaskAdapter]
"""Loads the adapter of a version id (blocking; runs in the executor)."""


@dataclass(frozen=True, slots=True)
class Target:
    """What should serve, and why."""

    version: str
    kind: str
    """``initial``, ``release``, ``rollback`` or ``pin``."""
    reason: str
    at: float


class ModelSwapper:
    """Keeps the slot on the latest target version; see the module docstring.

    Parameters
    ----------
    slot
        The slot to swap.
    model
        The model's name (reported with every answer).
    load
        Loads a version's adapter (for example ``lambda v: registry.load_adapter(model, v)``).
    executor
        Where loading and warm-up run. A different one from inference keeps answers flowing during a load.
    keep
        Loaded versions kept in memory (the serving one included): 2 makes a rollback to the previous
        version instant.
    retry_delays
        Seconds between attempts of a failing load (the last one repeats).
    """

    def __init__(
        self,
        slot: ModelSlot,
        *,
        model: str,
        load: Loader,
        executor: Executor,
        warmup_text: str = WARMUP_TEXT,
        warmup_rounds: int = 2,
        keep: int = 2,
        retry_delays: Sequence[float] = (1.0, 2.0, 5.0, 10.0, 30.0),
    ) -> None:
        if keep < 1:
            raise ValueError(f"keep={keep!r} must be ≥ 1")
        self.slot = slot
        self.model = model
        self.load = load
        self.executor = executor
        self.warmup_text = warmup_text
        self.warmup_rounds = warmup_rounds
        self.keep = keep
        self.retry_delays = tuple(retry_delays) or (1.0,)
        self.target: Target | None = None
        self.failures = 0
        self.last_error: str | None = None
        self.failure_listeners: list[Callable[[str, BaseException], None]] = []
        self._cache: OrderedDict[str, ServedModel] = OrderedDict()
        self._wake = asyncio.Event()
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.loading: str | None = None
        """The version being loaded now, if any (for ``/readyz``)."""

    # ------------------------------------------------------------------------------------------------ control

    def set_target(self, version: str, *, kind: str, reason: str = "") -> None:
        """Ask for ``version`` to serve. Returns at once; the swap happens in the background."""
        if self.target is not None and self.target.version == version and self.target.kind == kind:
            return
        self.target = Target(version=version, kind=kind, reason=reason, at=time.time())
        log.info("serving target set", extra={"model": self.model, "version": version, "kind": kind, "reason": reason})
        self._wake.set()

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="model-swapper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def wait_serving(self, version: str, timeout: float) -> bool:
        """Wait until ``version`` serves; False if it did not within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while self.slot.version != version:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
            except TimeoutError:
                pass
        return True

    # ------------------------------------------------------------------------------------------------ work

    async def _run(self) -> None:
        attempt = 0
        while True:
            await self._wake.wait()
            self._wake.clear()
            target = self.target
            if target is None or target.version == self.slot.version:
                attempt = 0
                continue
            try:
                served = await self._prepare(target.version)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure keeps the old model serving
                self.failures += 1
                self.last_error = f"{type(exc).__name__}: {exc}"
                delay = self.retry_delays[min(attempt, len(self.retry_delays) - 1)]
                attempt += 1
                log.error(
                    "could not load a version; the current one keeps serving",
                    extra={"model": self.model, "version": target.version, "error": self.last_error, "retry_in": delay},
                )
                for listener in list(self.failure_listeners):
                    listener(target.version, exc)
                try:
                    await asyncio.wait_for(self._wake.wait(), delay)  # a new target cuts the wait short
                except TimeoutError:
                    self._wake.set()
                continue
            attempt = 0
            if self.target is not target:
                self._wake.set()  # a newer target came in while this one loaded: serve that one instead
                continue
            self.slot.swap(served, kind=target.kind, requested_at=target.at)
            self.last_error = None
            self._changed.set()
            log.info(
                "model swapped",
                extra={"model": self.model, "version": served.version, "kind": target.kind,
                       "load_s": round(served.load_seconds, 3), "warmup_s": round(served.warmup_seconds, 3)},
            )

    async def _prepare(self, version: str) -> ServedModel:
        """A loaded, warmed-up model for ``version`` (from the cache when it is there)."""
        cached = self._cache.get(version)
        if cached is not None:
            self._cache.move_to_end(version)
            return cached
        loop = asyncio.get_running_loop()
        self.loading = version
        try:
            started = time.perf_counter()
            adapter = await loop.run_in_executor(self.executor, self.load, version)
            loaded = time.perf_counter() - started
            warmup = await loop.run_in_executor(self.executor, warm_up, adapter, self.warmup_text, self.warmup_rounds)
        finally:
            self.loading = None
        served = ServedModel(
            name=self.model, version=version, task=adapter.task, adapter=adapter, load_seconds=loaded, warmup_seconds=warmup
        )
        self._cache[version] = served
        # Evict the least recently served, never the serving version nor the one about to serve.
        evictable = [v for v in self._cache if v not in (self.slot.version, version)]
        while len(self._cache) > self.keep and evictable:
            del self._cache[evictable.pop(0)]
        return served
