"""Everything a serving process runs besides HTTP: the model slot and swapper, the micro-batcher, the event
shipper with its disk spill, and the release follower, started and stopped in the right order.

Kafka is optional: without settings the server answers requests but logs nothing and follows no releases
(benchmarks use this to measure what logging costs; a pinned ``version`` follows no releases either).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pioneer.events import Event, EventCodec, Input, Output
from pioneer.registry import Registry
from pioneer.registry.file import NAME_RE
from pioneer.serving import (
    WARMUP_TEXT,
    MicroBatcher,
    ModelSlot,
    ModelSwapper,
    ServedModel,
    SpillQueue,
    Swap,
    accelerate,
    inference_log,
)
from streams.kafka import KafkaSettings
from streams.serving.follower import ReleaseFollower
from streams.serving.metrics import ServingMetrics
from streams.serving.shipper import EventShipper

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServeConfig:
    """How one serving process behaves (``pioneer serve`` flags map onto these fields)."""

    model: str
    alias: str = "production"
    version: str | None = None
    """Serve this version and ignore releases (for debugging and canaries)."""
    follow_releases: bool = True
    log_inferences: bool = True
    spill_dir: Path | None = None
    """Where events wait while Kafka is away (required when logging)."""
    spill_max_bytes: int = 1 << 30
    max_queued_events: int = 100_000
    delivery_timeout: float = 5.0
    retry_interval: float = 1.0
    max_batch: int = 32
    max_batch_chars: int = 65_536
    """Most characters per forward pass: a request of long texts is answered in slices, others in between."""
    max_wait_ms: float = 0.0
    load_wait_ms: float = 2.0
    """Under load, how long a batch may wait for the requests the recent load says are coming (see
    :class:`~pioneer.serving.MicroBatcher`); a lone request never waits."""
    max_batch_request: int = 256
    feedback_rate: float = 50.0
    """Feedback accepted per second from each source (human, judge, rule); beyond it, 429."""
    feedback_burst: int = 100
    """Feedback one source may send at once before its rate applies."""
    """Most inputs one batch request may carry."""
    inference_threads: int = 1
    engine: str = "onnx"
    """What runs the model: ``onnx`` (the fast path, where the model has one) or ``torch`` (as trained)."""
    engine_threads: int | None = None
    """Intra-op threads per forward pass; None = :func:`pioneer.inference.default_threads`."""
    warmup_text: str = WARMUP_TEXT
    warmup_rounds: int = 2
    keep_versions: int = 2
    freeze_gc: bool = True
    """After the first model loads, move every object alive then (torch, transformers, the app: over a million)
    out of the garbage collector's reach (``gc.freeze``), so full collections stop rescanning them and pausing
    every thread, which is p99 latency (docs/benchmarks.md)."""

    def __post_init__(self) -> None:
        if self.engine not in ("onnx", "torch"):
            raise ValueError(f"engine={self.engine!r}; use onnx or torch")
        if NAME_RE.fullmatch(self.model) is None:  # the name becomes part of paths (the spill directory): check it first
            raise ValueError(f"model name {self.model!r} is not a registry name: use 1 to 128 letters, digits, "
                             "'.', '_' or '-', starting with a letter or digit")


@dataclass(slots=True)
class Answered:
    """One input answered within a request, to be logged."""

    request_id: str
    item: Input
    prediction: Output
    metadata: dict[str, Any] | None = field(default=None)


class ServingRuntime:
    """The serving process minus HTTP; see the module docstring."""

    def __init__(
        self,
        config: ServeConfig,
        *,
        registry: Registry,
        kafka: KafkaSettings | None,
        metrics: ServingMetrics | None = None,
        codec: EventCodec | None = None,
    ) -> None:
        self.config = config
        self.registry = registry
        self.kafka = kafka
        self.metrics = metrics or ServingMetrics()
        self.codec = codec or EventCodec()
        self.slot = ModelSlot()
        self.slot.listeners.append(self._on_swap)
        self.inference_pool = ThreadPoolExecutor(config.inference_threads, thread_name_prefix="inference")
        self.load_pool = ThreadPoolExecutor(1, thread_name_prefix="model-load")
        self.batcher = MicroBatcher(
            self.slot, self.inference_pool, max_batch=config.max_batch, max_batch_chars=config.max_batch_chars,
            max_wait_ms=config.max_wait_ms, load_wait_ms=config.load_wait_ms,
            workers=config.inference_threads,
        )
        self.batcher.listeners.append(lambda size: self.metrics.batch_size.observe(size))
        self.swapper = ModelSwapper(
            self.slot,
            model=config.model,
            load=self._load,
            executor=self.load_pool,
            warmup_text=config.warmup_text,
            warmup_rounds=config.warmup_rounds,
            keep=config.keep_versions,
        )
        self.swapper.failure_listeners.append(lambda version, exc: self.metrics.swap_failures.inc())
        self.shipper: EventShipper | None = None
        if kafka is not None and config.log_inferences:
            if config.spill_dir is None:
                raise ValueError("logging inferences needs a spill directory (spill_dir)")
            spill = SpillQueue(config.spill_dir, max_bytes=config.spill_max_bytes)
            self.shipper = EventShipper(
                kafka, spill, metrics=self.metrics, codec=self.codec, max_queued=config.max_queued_events,
                delivery_timeout=config.delivery_timeout, retry_interval=config.retry_interval,
            )
        self.follower: ReleaseFollower | None = None
        if kafka is not None and config.follow_releases and config.version is None:
            self.follower = ReleaseFollower(
                kafka, model=config.model, alias=config.alias, codec=self.codec,
                on_target=lambda version, kind, reason: self.swapper.set_target(version, kind=kind, reason=reason),
            )
        self.started_at: float | None = None
        self._froze_gc = False

    # ------------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Start every part; the first model loads in the background (``/readyz`` says when it serves)."""
        self.started_at = time.time()
        await self.batcher.start()
        await self.swapper.start()
        if self.shipper is not None:
            await self.shipper.start()
        if self.config.version is not None:
            self.swapper.set_target(self.config.version, kind="pin", reason="--version")
        else:
            version = await asyncio.to_thread(self.registry.get_alias, self.config.model, self.config.alias)
            if version is not None:
                self.swapper.set_target(version, kind="initial", reason=f"registry alias {self.config.alias}")
            else:
                log.warning(
                    "the registry has no such alias yet; waiting for a release",
                    extra={"model": self.config.model, "alias": self.config.alias},
                )
        if self.follower is not None:
            await self.follower.start()

    async def stop(self) -> None:
        """Stop following, finish answering, then ship (or spill) every event still in memory."""
        if self.follower is not None:
            await self.follower.stop()
        await self.swapper.stop()
        await self.batcher.stop()
        if self.shipper is not None:
            await self.shipper.stop()
            self.shipper.spill.close()
        self.inference_pool.shutdown(wait=False, cancel_futures=True)
        self.load_pool.shutdown(wait=False, cancel_futures=True)
        if self._froze_gc:
            gc.unfreeze()  # let the interpreter's final collection see these objects again (native extensions
            self._froze_gc = False  # report objects still alive at exit as leaks)

    # ------------------------------------------------------------------------------------------------ serving

    async def predict(self, inputs: list[Input]) -> tuple[ServedModel, list[Output]]:
        """Answer ``inputs`` with one model version (micro-batched with concurrent requests)."""
        served, outputs = await self.batcher.predict(inputs)
        self.metrics.inferences.labels(served.version).inc(len(inputs))
        return served, outputs

    def log_answers(self, served: ServedModel, answered: list[Answered], latency_ms: float) -> None:
        """Hand one inference log per answered input to the shipper (no wait)."""
        if self.shipper is None:
            return
        now = time.time()
        for answer in answered:
            self.shipper.offer(
                inference_log(
                    request_id=answer.request_id, served=served, item=answer.item, prediction=answer.prediction,
                    latency_ms=latency_ms, metadata=answer.metadata, timestamp=now,
                )
            )

    def emit(self, event: Event) -> bool:
        """Ship any other event (labels from feedback); False when it cannot be taken (no Kafka, memory full)."""
        return self.shipper is not None and self.shipper.offer(event)

    # ------------------------------------------------------------------------------------------------ internals

    def _load(self, version: str):
        adapter = self.registry.load_adapter(self.config.model, version)
        current = self.slot.current
        return accelerate(adapter, self.config.engine, threads=self.config.engine_threads,
                          like=None if current is None else current.adapter)

    def _on_swap(self, old: ServedModel | None, new: ServedModel, swap: Swap) -> None:
        if old is None and self.config.freeze_gc and not self._froze_gc:
            gc.collect()
            gc.freeze()  # before the first request: see ServeConfig.freeze_gc
            self._froze_gc = True
        if old is not None:
            try:
                self.metrics.model_info.remove(old.name, old.version, old.task)
            except KeyError:
                pass
        self.metrics.model_info.labels(new.name, new.version, new.task).set(1)
        self.metrics.swaps.labels(swap.kind).inc()
        self.metrics.swap_seconds.observe(swap.seconds)
