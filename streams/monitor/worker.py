"""Assembling a monitor worker: the join (aiokafka consumer group) and the pattern stage (Faust agent) on
one Faust app, sharing one producer and one metrics registry."""

from __future__ import annotations

import asyncio
import logging
import signal
from dataclasses import dataclass

import faust

from pioneer.embedding import Embedder
from pioneer.settings import Paths
from streams.app import create_app
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from streams.monitor.answers import read_answers
from streams.monitor.config import MonitorConfig
from streams.monitor.join import JoinWorker
from streams.monitor.metrics import MonitorMetrics
from streams.monitor.patterns import PatternStage

log = logging.getLogger(__name__)


@dataclass
class Monitor:
    app: faust.App
    publisher: EventPublisher
    metrics: MonitorMetrics
    join: JoinWorker
    patterns: PatternStage


def build_monitor(
    settings: KafkaSettings, config: MonitorConfig, *, embedder: Embedder | None = None, with_join: bool = True
) -> Monitor:
    """The monitor's Faust app: the pattern stage, and the join beside it unless ``with_join`` is False."""
    metrics = MonitorMetrics()
    publisher = EventPublisher(settings, metrics=metrics)
    partitions = settings.catalogue.by_event_type("labeled_trace").partitions
    app = create_app(
        settings,
        app_id=f"{settings.topic_prefix}{config.group_id}",
        datadir=Paths.from_env().state / "faust" / config.group_id,
        partitions=partitions,
    )
    join = _join_worker(settings, config, publisher, metrics)
    patterns = PatternStage(app, settings, config, publisher=publisher, metrics=metrics, embedder=embedder)

    if with_join:

        @app.task
        async def run_join() -> None:
            await publisher.start()
            try:
                await join.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the join stage crashed; stopping the worker")
                await app.crash(RuntimeError("join stage crashed"))

    @app.task
    async def run_answers() -> None:
        await publisher.start()
        try:
            await read_answers(settings, publisher, metrics, patterns.answer)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("the answer reader crashed; stopping the worker")
            await app.crash(RuntimeError("answer reader crashed"))

    @app.on_partitions_revoked.connect
    async def forget_revoked(app: faust.App, revoked: set, **kwargs: object) -> None:
        # Another worker owns these traces now and restores their models from the table.
        partitions = {tp.partition for tp in revoked if tp.topic == patterns.topic.get_topic_name()}
        for name in [n for n, m in patterns.models.items() if set(m.watermarks) & partitions]:
            del patterns.models[name]

    @app.on_before_shutdown.connect
    async def close_publisher(app: faust.App, **kwargs: object) -> None:
        await publisher.stop()

    if config.metrics_port:
        metrics.serve(config.metrics_port)
    return Monitor(app=app, publisher=publisher, metrics=metrics, join=join, patterns=patterns)


def _join_worker(settings: KafkaSettings, config: MonitorConfig, publisher: EventPublisher, metrics: MonitorMetrics) -> JoinWorker:
    return JoinWorker(
        settings,
        publisher,
        metrics=metrics,
        group_id=f"{settings.topic_prefix}{config.group_id}-join",  # like the app id: one group per deployment
        window=config.join_window,
        max_pending=config.join_max_pending,
        batch_size=config.join_batch,
    )


def run_join_stage(settings: KafkaSettings, config: MonitorConfig) -> None:
    """Run the join alone (no Faust app, no embedder) until SIGINT or SIGTERM; it finishes its batch first."""

    async def until_signalled() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        metrics = MonitorMetrics()
        if config.metrics_port:
            metrics.serve(config.metrics_port)
        async with EventPublisher(settings, metrics=metrics) as publisher:
            await _join_worker(settings, config, publisher, metrics).run(stop)

    asyncio.run(until_signalled())
