"""The trainer worker, a Faust app with three agents:

* ``traces``: labeled traces → the local trace store (idempotent by event id);
* ``patterns``: error-pattern updates → pattern membership in the trace store (which request ids belong to
  which pattern, as the monitor assigned them);
* ``requests``: retrain requests → :func:`pioneer.retrain.handle_request` in a worker thread (diagnose,
  curriculum, candidates, gate, registry) → the decision's events (release or rejection, with progress on
  the way) published. Faust acknowledges a request only after its events are published, so offsets are
  committed only then: a crash replays the request, and the registry's record of the decision (keyed by
  request id) turns the replay into a re-publish of the same events, never a second training or alias move;
  once the events are acknowledged the record says so, and a replay after that publishes nothing.

A request whose serving raises (a bug, an input the retrainer cannot take) is dead-lettered with the reason and
the worker goes on. An outage (a full disk, a database error) is no fault of the request: the worker stops
without acknowledging it, and its successor serves it again.

Requests are keyed by model, and the agent has one actor: one job at a time, in order, per worker.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import logging
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import faust

from pioneer.diagnosis import Diagnoser
from pioneer.events import (
    ErrorPattern,
    EventCodec,
    LabeledTrace,
    RetrainRequest,
    TrainingProgress,
)
from pioneer.faults import failpoint
from pioneer.gates import RegressionGate
from pioneer.judging.base import Judge
from pioneer.registry import Registry, RegistryError, open_registry
from pioneer.retrain import Retrainer, handle_request
from pioneer.retrain.commit import mark_published, published
from pioneer.settings import Paths
from pioneer.traces import TraceStore
from streams.app import create_app
from streams.io import EventPublisher, decode_or_dead_letter, send_dead_letter
from streams.kafka import KafkaSettings
from streams.metrics import StreamMetrics
from streams.trainer.config import TrainerConfig

log = logging.getLogger(__name__)

OUTAGES = (OSError, sqlite3.OperationalError)
"""Errors of the disk or the database, not of a record: the agent stops and its records are read again later."""


def is_outage(exc: BaseException) -> bool:
    return isinstance(exc, OUTAGES) or (isinstance(exc, RegistryError) and exc.code == "STORAGE_ERROR")


class OutageWatch:
    """A registry that remembers the first outage any call met.

    The retrainer answers every error with a ``failed`` decision; an outage under it must not be acknowledged
    as one, or the request would never be served once the disk has room again.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self.outage: BaseException | None = None

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._registry, name)
        if not callable(attr):
            return attr

        @functools.wraps(attr)
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                if self.outage is None and is_outage(exc):
                    self.outage = exc
                raise

        return call


@dataclass
class Trainer:
    app: faust.App
    publisher: EventPublisher
    metrics: StreamMetrics
    registry: Registry
    store: TraceStore
    decisions: list[Any]
    handler: Any
    """Serves one request: ``handler(request, registry=..., traces=..., progress=...)``."""


@dataclass(frozen=True)
class RetrainHandler:
    """The default handler: :func:`handle_request` with one retrainer, built from the worker's config."""

    retrainer: Retrainer

    @classmethod
    def from_config(cls, config: TrainerConfig, *, checker: Judge | None = None) -> RetrainHandler:
        """``checker``, when given, judges the task's answers in the diagnosis (see :class:`Diagnoser`)."""
        gate = RegressionGate(epsilon=config.epsilon, cross_checkpoint_epsilon=config.epsilon,
                              pattern_fix_floor=config.pattern_fix_floor, pattern_confidence=config.pattern_confidence,
                              progress_confidence=config.progress_confidence)
        diagnoser = None if checker is None else Diagnoser(checker=checker)
        return cls(Retrainer(gate=gate, diagnoser=diagnoser, coverage_below=config.coverage_below,
                             max_passes=config.max_passes, band_score=config.band_score))

    def __call__(self, request: RetrainRequest, **kwargs: Any) -> Any:
        return handle_request(request, retrainer=self.retrainer, **kwargs)


def build_trainer(
    settings: KafkaSettings,
    config: TrainerConfig,
    *,
    registry: Registry | None = None,
    store: TraceStore | None = None,
    handler: Any = None,
    checker: Judge | None = None,
) -> Trainer:
    """The trainer's Faust app; ``handler`` (default: :func:`handle_request` with the config's gate and
    ``checker``) serves each request."""
    handler = RetrainHandler.from_config(config, checker=checker) if handler is None else handler
    paths = Paths.from_env()
    metrics = StreamMetrics()
    publisher = EventPublisher(settings, metrics=metrics)
    registry = registry or open_registry()
    paths.traces_db.parent.mkdir(parents=True, exist_ok=True)
    store = store or TraceStore(paths.traces_db)
    app = create_app(
        settings,
        app_id=f"{settings.topic_prefix}{config.group_id}",
        datadir=paths.state / "faust" / config.group_id,
        partitions=settings.catalogue.by_event_type("labeled_trace").partitions,
    )
    work = TrainerWork(config, publisher=publisher, metrics=metrics, registry=registry, store=store, handler=handler)
    _add_agents(app, settings, work)
    if config.metrics_port:
        metrics.serve(config.metrics_port)
    return Trainer(app=app, publisher=publisher, metrics=metrics, registry=registry, store=store,
                   decisions=work.decisions, handler=handler)


def _add_agents(app: faust.App, settings: KafkaSettings, work: TrainerWork) -> None:
    """The three agents: each takes its records and hands them to ``work``."""

    def raw_topic(event_type: str) -> faust.TopicT:
        spec = settings.catalogue.by_event_type(event_type)
        return app.topic(spec.name, key_type=bytes, value_type=bytes, key_serializer="raw",
                         value_serializer="raw", partitions=spec.partitions)

    @app.agent(raw_topic("labeled_trace"), name="traces")
    async def store_traces(stream: faust.StreamT) -> None:
        await work.publisher.start()
        async for events in stream.take_events(1000, within=0.5):
            await work.store_traces(events)

    @app.agent(raw_topic("error_pattern"), name="patterns")
    async def store_patterns(stream: faust.StreamT) -> None:
        await work.publisher.start()
        async for events in stream.take_events(100, within=0.5):
            await work.store_patterns(events)

    @app.agent(raw_topic("retrain_request"), name="requests", concurrency=1)
    async def serve_requests(stream: faust.StreamT) -> None:
        await work.publisher.start()
        async for event in stream.events():
            outage = await work.serve_event(event)
            if outage is not None:
                await app.crash(outage)
                return

    @app.on_before_shutdown.connect
    async def close(app: faust.App, **kwargs: object) -> None:
        await work.close()


class TrainerWork:
    """What the trainer's agents do with their records, and the state they share.

    ``latest_trace`` is the newest trace time stored; ``seen_patterns`` the pattern ids whose emerging events (they
    carry the members) were stored, since the monitor publishes a pattern and the request naming it on different
    topics; ``decisions`` every decision published.
    """

    def __init__(
        self,
        config: TrainerConfig,
        *,
        publisher: EventPublisher,
        metrics: StreamMetrics,
        registry: Registry,
        store: TraceStore,
        handler: Any,
    ) -> None:
        self.config = config
        self.publisher = publisher
        self.metrics = metrics
        self.registry = registry
        self.store = store
        self.handler = handler
        self.codec = EventCodec()
        # One training at a time, off the event loop (it takes minutes; heartbeats must go on).
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="retrain")
        self.latest_trace = {"timestamp": 0.0}
        self.seen_patterns: set[str] = set()
        self.decisions: list[Any] = []

    async def decode(self, message: Any, expected: type) -> Any:
        self.metrics.events_in.labels(message.topic).inc()
        return await decode_or_dead_letter(self.codec, self.publisher, self.metrics, message, self.config.group_id,
                                           expected)

    async def guarded(self, message: Any, what: str, action: Any) -> None:
        """Run ``action()`` for one record; dead-letter the record if it raises (an outage stops the agent)."""
        try:
            action()
        except OUTAGES:
            raise
        except Exception as exc:  # noqa: BLE001 - one record must never stop the agent
            reason = f"{what} raised {type(exc).__name__}: {exc}"
            await send_dead_letter(self.publisher, self.metrics, message, "processing", reason, self.config.group_id)

    async def store_traces(self, events: Sequence[Any]) -> None:
        decoded = [(e.message, t) for e in events if (t := await self.decode(e.message, LabeledTrace)) is not None]
        traces = [t for _, t in decoded]
        try:
            self.store.add(traces)
        except OUTAGES:
            raise
        except Exception:  # noqa: BLE001 - one trace broke the batch: store the others one by one
            for message, trace in decoded:
                await self.guarded(message, "storing the trace", functools.partial(self.store.add, [trace]))
        if traces:
            self.latest_trace["timestamp"] = max(self.latest_trace["timestamp"], max(t.timestamp for t in traces))
        await self.publisher.flush()

    async def store_patterns(self, events: Sequence[Any]) -> None:
        for event in events:
            pattern = await self.decode(event.message, ErrorPattern)
            if pattern is not None and pattern.members:
                await self.guarded(event.message, "storing the pattern's members",
                                   functools.partial(self.store.attach_pattern, pattern.pattern_id, pattern.members))
            if pattern is not None and pattern.emerging:
                self.seen_patterns.add(pattern.pattern_id)
        await self.publisher.flush()

    async def serve_event(self, event: Any) -> BaseException | None:
        """Serve one request record; returns the outage that must stop the worker, if one happened."""
        request = await self.decode(event.message, RetrainRequest)
        if request is not None:
            try:
                await self.serve(request)
            except Exception as exc:  # one request must never stop the agent
                if is_outage(exc):
                    # Held (leaving the loop acks the current event): never committed, the request is
                    # served again by whoever takes the partition next.
                    event.message.incref()
                    log.exception("an outage while serving a retrain request; stopping the worker",
                                  extra={"request_id": request.request_id})
                    return exc
                reason = f"serving the request raised {type(exc).__name__}: {exc}"
                await send_dead_letter(self.publisher, self.metrics, event.message, "processing", reason,
                                       self.config.group_id)
        await self.publisher.flush()
        return None

    async def serve(self, request: RetrainRequest) -> None:
        """Serve ``request`` and publish its decision's events, unless a replay finds them published."""
        loop = asyncio.get_running_loop()
        await _catch_up(self.latest_trace, request.timestamp, self.config.catch_up_timeout)
        await _patterns_in(self.seen_patterns, request, self.store, self.config.catch_up_timeout)

        def progress(update: TrainingProgress) -> None:
            # Called from the training thread: hand the event to the loop.
            failpoint(f"trainer.progress.{update.stage}")
            loop.call_soon_threadsafe(asyncio.ensure_future, self.publisher.send(update))

        log.info("serving a retrain request", extra={"request_id": request.request_id, "model": request.model.name})
        watched = OutageWatch(self.registry)
        decision = await loop.run_in_executor(
            self.executor, lambda: self.handler(request, registry=watched, traces=self.store, progress=progress)
        )
        if watched.outage is not None:
            raise watched.outage
        failpoint("trainer.trained")  # decided (and applied), nothing of it published
        await asyncio.sleep(0)  # let queued progress sends run before the final events
        if published(self.registry, decision.model, decision.request_id):
            log.info("retrain request already published", extra={"request_id": request.request_id})
            return
        await self.publisher.publish(decision.events)
        mark_published(self.registry, decision)
        failpoint("trainer.published")  # published and recorded so, the request not acknowledged
        self.decisions.append(decision)
        log.info(
            "retrain request served",
            extra={"request_id": request.request_id, "outcome": decision.outcome, "version": decision.version},
        )

    async def close(self) -> None:
        await self.publisher.stop()
        self.executor.shutdown(wait=False, cancel_futures=True)


async def _patterns_in(seen: set[str], request: RetrainRequest, store: TraceStore, timeout: float) -> None:
    """Wait (up to ``timeout``) until every pattern the request names was seen emerging here or already has
    traces in the store (after a restart, the events read before it are not read again)."""
    deadline = time.monotonic() + timeout
    waiting = [p.pattern_id for p in request.patterns]
    while waiting and time.monotonic() < deadline:
        waiting = [pid for pid in waiting
                   if pid not in seen and not store.query(model=request.model.name, pattern_id=pid, limit=1)]
        if waiting:
            await asyncio.sleep(0.2)


async def _catch_up(latest: dict[str, float], until: float, timeout: float) -> None:
    """Wait (up to ``timeout``) until the trace store holds traces joined up to the request's time."""
    deadline = time.monotonic() + timeout
    while latest["timestamp"] < until and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
