"""The pattern stage of the monitor, a Faust agent: labeled traces in; error patterns and retrain requests out.

Traces are keyed by model, so each model's traces reach one worker, which keeps that model's
:class:`pioneer.monitor.ModelWatch` (clusters, detector, trigger). Every trace is counted; failures and a
sample of passes are embedded in batches off the event loop and learned. A model is checked every
``check_every`` traces (never twice within ``check_interval`` seconds) and as soon as the trainer answers
(:mod:`streams.monitor.answers`); the findings are published and each trigger decision is counted and logged
when its reason changes.

State: every ``checkpoint_interval`` the watch is written to a Faust table (one ``bytes`` value per model,
changelogged to Kafka) together with the source offset it includes. Events are held unacknowledged until
the checkpoint that includes them is written, so Faust never commits past the checkpoint; after a crash the
events since the checkpoint are delivered again and learned once (offsets at or below the checkpoint's are
skipped). Pattern and request events have deterministic ids, so re-publishing them is harmless.

A trace whose embedding raises, or comes out of the wrong width or not finite, is dead-lettered with the reason
(before anything is learned, so it leaves no trace in the clusters) and the stage goes on.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import faust
import numpy as np

from pioneer.clustering.state import pack, unpack
from pioneer.embedding import Embedder
from pioneer.events import Event, EventCodec, LabeledTrace, TriggerDecision
from pioneer.monitor import Findings, ModelWatch
from streams.io import EventPublisher, decode_or_dead_letter, send_dead_letter
from streams.kafka import KafkaSettings
from streams.monitor.config import MonitorConfig
from streams.monitor.metrics import MonitorMetrics

log = logging.getLogger(__name__)
ANSWERS_KEPT = 1024


@dataclass(slots=True)
class _Model:
    watch: ModelWatch
    watermarks: dict[int, int] = field(default_factory=dict)  # partition -> last offset learned
    last_check: float = 0.0
    last_checkpoint: float = 0.0
    unchecked: int = 0  # traces learned since the last check
    answered: bool = False  # the trainer answered since the last check: check at once
    deferred: asyncio.Task | None = None  # a check of an answer that came within check_interval of the last one
    last_reason: str | None = None
    dirty: bool = False


class PatternStage:
    """Registers the pattern agent and its table on a Faust app."""

    def __init__(
        self,
        app: faust.App,
        settings: KafkaSettings,
        config: MonitorConfig,
        *,
        publisher: EventPublisher,
        metrics: MonitorMetrics,
        embedder: Embedder | None = None,
        clock: Any = time.monotonic,
    ) -> None:
        self.app = app
        self.settings = settings
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.embedder = embedder or Embedder(config.embed_model)
        self.clock = clock
        self.codec = EventCodec()
        spec = settings.catalogue.by_event_type("labeled_trace")
        self.topic = app.topic(spec.name, key_type=bytes, value_type=bytes, key_serializer="raw",
                               value_serializer="raw", partitions=spec.partitions)
        self.table = app.Table(
            "watches",
            default=None,
            partitions=spec.partitions,
            key_type=bytes,  # bytes keys and values travel raw
            value_type=bytes,
            # Changelog records go to the partition of the model's traces (murmur2 of the same key), so the
            # worker that owns a model's traces owns its checkpoint too.
            use_partitioner=True,
            extra_topic_configs={"max.message.bytes": str(16 * 1024 * 1024)},
        )
        self.models: dict[str, _Model] = {}
        self.answers: list[Event] = []
        """The trainer's latest answers, replayed into a model's watch when this worker takes the model over."""
        self._new_watch = config.watch_factory()
        self.agent = app.agent(self.topic, name="patterns", concurrency=1)(self._consume)

    # ------------------------------------------------------------------------------------------ the agent

    async def _consume(self, stream: faust.StreamT) -> None:
        await self.publisher.start()
        held: list[faust.EventT] = []
        async for events in stream.take_events(self.config.embed_batch, within=self.config.embed_within):
            for event in events:
                event.message.incref()  # held until a checkpoint includes it
            held.extend(events)
            started = time.perf_counter()
            await self.process(events)
            self.metrics.batch_seconds.labels("patterns").observe(time.perf_counter() - started)
            if await self.checkpoint_due():
                for event in held:
                    await stream.ack(event)
                held.clear()

    async def process(self, events: list[faust.EventT]) -> None:
        by_model: dict[str, list[tuple[LabeledTrace, Any]]] = defaultdict(list)
        for event in events:
            message = event.message
            self.metrics.events_in.labels(message.topic).inc()
            trace = await self._decode(message)
            if trace is None:
                continue
            model = self._model(trace.model.name)
            if message.offset <= model.watermarks.get(message.partition, -1):
                continue  # learned before the last checkpoint: a replay after a restart
            by_model[trace.model.name].append((trace, message))
        for name, items in by_model.items():
            model = self.models[name]
            traces, embeddings = await self._prepare(items)
            model.watch.learn(traces, embeddings)
            for trace in model.watch.select(traces):
                self.metrics.embedded.labels(trace.outcome).inc()
            for _, message in items:
                model.watermarks[message.partition] = max(message.offset, model.watermarks.get(message.partition, -1))
            model.dirty = True
            model.unchecked += len(traces)
            await self._check(name, model)

    async def _prepare(self, items: list[tuple[LabeledTrace, Any]]) -> tuple[list[LabeledTrace], np.ndarray]:
        """The batch's traces and the embeddings of those the watch selects; if embedding the batch fails, each
        trace is embedded alone and those that fail are dead-lettered (nothing is learned before this)."""
        traces = [trace for trace, _ in items]  # counted in pioneer_traces_total by the join, which made them
        try:
            return traces, await self._embed_selected(traces)
        except Exception:  # noqa: BLE001 - find the trace that broke the batch
            log.warning("embedding a batch failed; embedding its traces one by one", extra={"traces": len(traces)})
        kept: list[LabeledTrace] = []
        rows: list[np.ndarray] = []
        for trace, message in items:
            try:
                row = await self._embed_selected([trace])
            except Exception as exc:  # noqa: BLE001 - one trace must never stop the stage
                reason = f"embedding the trace raised {type(exc).__name__}: {exc}"
                await send_dead_letter(self.publisher, self.metrics, message, "processing", reason,
                                       f"{self.config.group_id}-patterns")
                continue
            kept.append(trace)
            rows.extend(row)
        return kept, np.stack(rows) if rows else np.zeros((0, 0), dtype=np.float32)

    async def _embed_selected(self, traces: list[LabeledTrace]) -> np.ndarray:
        """Embeddings of the traces the watch selects, one finite row of the embedder's width each."""
        selected = self.models[traces[0].model.name].watch.select(traces)
        if not selected:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = await self._embed([t.input.text for t in selected])
        width = self.embedder.dimension_
        if vectors.shape != (len(selected), width) or not np.isfinite(vectors).all():
            raise ValueError(f"embeddings of shape {vectors.shape} (finite: {bool(np.isfinite(vectors).all())}); "
                             f"expected ({len(selected)}, {width}), finite")
        return vectors

    async def _decode(self, message: Any) -> LabeledTrace | None:
        return await decode_or_dead_letter(
            self.codec, self.publisher, self.metrics, message, f"{self.config.group_id}-patterns", LabeledTrace
        )

    async def _embed(self, texts: list[str]) -> np.ndarray:
        started = time.perf_counter()
        # Embedding is CPU-bound: run it off the event loop so heartbeats and other agents keep going.
        vectors = await asyncio.get_running_loop().run_in_executor(None, self.embedder.encode, texts)
        self.metrics.embed_seconds.observe(time.perf_counter() - started)
        return vectors

    async def answer(self, event: Event) -> None:
        """The trainer answered (a release, rejection, rollback or failure): tell the model's watch, check at once."""
        self.answers.append(event)
        del self.answers[: -ANSWERS_KEPT]
        for name, model in list(self.models.items()):
            if model.watch.answer(event):
                model.answered = model.dirty = True
                await self._check(name, model)

    async def _check(self, name: str, model: _Model) -> None:
        # Checks follow traces (every check_every of them) or an answer; check_interval only bounds the CPU.
        if not model.answered and model.unchecked < self.config.check_every:
            return
        waited = self.clock() - model.last_check
        if waited < self.config.check_interval:
            if model.answered and model.deferred is None:
                # No trace may follow an answer (quiet traffic): check it once the interval has passed.
                model.deferred = asyncio.ensure_future(self._check_later(name, model, self.config.check_interval - waited))
            return
        model.last_check, model.unchecked, model.answered = self.clock(), 0, False
        findings = model.watch.check()
        if findings.patterns or findings.requests:
            await self.publisher.send_many([*findings.patterns, *findings.requests])
        self.metrics.patterns.labels(name).inc(len(findings.patterns))
        self.metrics.triggers.labels(name).inc(len(findings.requests))
        self.metrics.clusters_live.labels(name).set(model.watch.clusterer.n_clusters_)
        self.metrics.patterns_emerging.labels(name).set(len(model.watch.emerging_))
        decision = findings.decision
        if decision is not None:
            self.metrics.record_decision(name, decision, requested=bool(findings.requests))
            if findings.requests or decision.pacing != model.last_reason:
                self._log_decision(name, decision, findings)
            model.last_reason = None if findings.requests else decision.pacing

    async def _check_later(self, name: str, model: _Model, delay: float) -> None:
        await asyncio.sleep(delay)
        model.deferred = None
        if self.models.get(name) is model:  # not revoked meanwhile
            await self._check(name, model)

    @staticmethod
    def _log_decision(name: str, decision: TriggerDecision, findings: Findings) -> None:
        figures = {"model": name, "mode": decision.mode, "pacing": decision.pacing, "traces": decision.traces,
                   "failures": decision.failures, "new_failures": decision.new_failures,
                   "required_failures": decision.required_failures, "pattern_share": decision.pattern_share,
                   "top_share": decision.top_share, "clusters": decision.clusters, "labels": decision.labels,
                   "detail": decision.detail}
        for request in findings.requests:
            log.info("retrain requested", extra={**figures, "request_id": request.request_id,
                                                  "patterns": [p.pattern_id for p in request.patterns]})
        if not findings.requests:
            log.info("retrain not requested", extra=figures)

    # ------------------------------------------------------------------------------------------ state

    def _model(self, name: str) -> _Model:
        model = self.models.get(name)
        if model is None:
            blob = self.table.get(name.encode())
            if blob is not None:
                arrays, meta = unpack(blob)
                watch = ModelWatch.from_bytes(arrays["watch"].tobytes())
                watermarks = {int(p): int(o) for p, o in meta["watermarks"].items()}
                log.info("restored a model's clusters", extra={"model": name, "watermarks": watermarks})
            else:
                watch, watermarks = self._new_watch(name), {}
            model = self.models[name] = _Model(watch=watch, watermarks=watermarks, last_checkpoint=self.clock())
            for event in self.answers:  # answers read before this worker owned the model (each counts once)
                watch.answer(event)
        return model

    async def checkpoint_due(self) -> bool:
        """Checkpoint dirty models if the interval passed; True when every held event is now covered."""
        if not any(m.dirty for m in self.models.values()):
            return True
        if not any(self.clock() - m.last_checkpoint >= self.config.checkpoint_interval for m in self.models.values() if m.dirty):
            return False
        await self.checkpoint()
        return True

    async def checkpoint(self) -> None:
        """Write every dirty model's watch to the table, and make sure it (and the findings) reached Kafka."""
        for name, model in self.models.items():
            if not model.dirty:
                continue
            blob = pack(
                {"watch": np.frombuffer(model.watch.to_bytes(), dtype=np.uint8)},
                {"watermarks": {str(p): o for p, o in model.watermarks.items()}},
            )
            self.table[name.encode()] = blob
            model.dirty, model.last_checkpoint = False, self.clock()
            log.info("checkpointed a model's clusters", extra={"model": name, "bytes": len(blob), **self.describe()[name]})
        await self.publisher.flush()
        await self.app.producer.flush()

    def describe(self) -> dict[str, Any]:
        """A summary per model (for logs and the demo's progress display)."""
        return {
            name: {
                "traces": m.watch.traces_seen,
                "failures": m.watch.failures_seen,
                "clusters": m.watch.clusterer.n_clusters_ if m.watch.clusterer.n_updates_ else 0,
                "emerging": list(m.watch.emerging_),
            }
            for name, m in self.models.items()
        }



