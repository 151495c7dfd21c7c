"""The trainer's answers, as the monitor reads them: releases, rollbacks, rejections and failed retrains.

The trigger asks for the next retrain only when the trainer has answered the last one, so every monitor worker
reads every answer (no consumer group: the answer topics are small, and any worker may own the model). Each
worker reads them from the beginning of the topics' retention, so a restarted worker learns of answers it
missed; the trigger counts each answer once. Records that do not decode are left to the topics' own
consumers to dead-letter (the trainer and the servers); here they are logged and skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pioneer.events import DecodeError, Event, EventCodec, TrainingProgress
from streams.io import EventPublisher, EventReader
from streams.kafka import KafkaSettings
from streams.monitor.metrics import MonitorMetrics

log = logging.getLogger(__name__)
ANSWER_TYPES = ("model_release", "release_rejection", "training_progress")


async def read_answers(
    settings: KafkaSettings,
    publisher: EventPublisher,
    metrics: MonitorMetrics,
    deliver: Callable[[Event], Awaitable[None]],
) -> None:
    """Read the answer topics forever and hand each answer (not progress along the way) to ``deliver``."""
    catalogue = settings.catalogue
    topics = sorted({catalogue.by_event_type(t).name for t in ANSWER_TYPES})
    reader = EventReader(settings, topics, group_id=None, publisher=publisher, name="monitor-answers", metrics=metrics)
    codec = EventCodec()
    await reader.start()
    try:
        while True:
            fetched = await reader.consumer.getmany(timeout_ms=500, max_records=500)
            for tp, records in fetched.items():
                metrics.events_in.labels(tp.topic).inc(len(records))
                for record in records:
                    try:
                        event = codec.decode(record.value)
                    except DecodeError as exc:
                        log.warning("skipped an answer that does not decode",
                                    extra={"topic": tp.topic, "offset": record.offset, "error": exc.kind})
                        continue
                    if isinstance(event, TrainingProgress) and event.stage != "failed":
                        continue
                    await deliver(event)
    finally:
        await reader.stop()
