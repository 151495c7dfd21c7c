"""The texts a model was asked, read from the inference-log topic: cold start's unlabelled pool (``--from-logs``).

A one-off snapshot, not a consumer-group member: every partition is read from its start up to the end it had
when the read began, with no offsets committed. A record that does not decode as an inference log is counted
and skipped (the monitor, not a snapshot, dead-letters it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, TopicPartition

from pioneer.coldstart.sources import text_key
from pioneer.events import EventCodec, InferenceLog
from pioneer.events.codec import DecodeError
from streams.admin import existing_partitions
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(slots=True, kw_only=True)
class LogTexts:
    """What a read of the inference logs found."""

    texts: list[str] = field(default_factory=list)
    """Distinct input texts of the model's logs, oldest first."""
    records: int = 0
    other_models: int = 0
    undecodable: int = 0
    complete: bool = True
    """False when the read stopped at ``limit`` or the timeout before reaching the end."""


async def read_inference_texts(settings: KafkaSettings, model: str, *, limit: int | None = None,
                               timeout: float = 60.0) -> LogTexts:
    """Distinct input texts that ``model`` was asked, from the inference-log topic (see the module docstring)."""
    topic = settings.topic("inference_log")
    codec = EventCodec()
    found = LogTexts()
    seen: set[str] = set()
    client = AIOKafkaClient(**settings.client_kwargs())
    await client.bootstrap()
    try:
        counts = await existing_partitions(client, [topic])  # asks without creating the topic
    finally:
        await client.close()
    tps = [TopicPartition(topic, p) for p in range(counts.get(topic, 0))]
    if not tps:
        return found
    consumer = AIOKafkaConsumer(**settings.consumer_kwargs(None))
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() >= deadline or (limit is not None and len(found.texts) >= limit):
                found.complete = False
                break
            fetched = await consumer.getmany(*tps, timeout_ms=500, max_records=1000)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset < ends[tp]:
                        _take(record.value, codec, model, found, seen, limit)
    finally:
        await consumer.stop()
    log.info("inference texts read", extra={"topic": topic, "model": model, "texts": len(found.texts),
                                             "records": found.records, "undecodable": found.undecodable})
    return found


def _take(raw: bytes | None, codec: EventCodec, model: str, found: LogTexts, seen: set[str], limit: int | None) -> None:
    found.records += 1
    try:
        event = codec.decode(raw or b"", InferenceLog)
    except DecodeError:
        found.undecodable += 1
        return
    if event.model.name != model:
        found.other_models += 1
        return
    key = text_key(event.input.text)
    if key and key not in seen and (limit is None or len(found.texts) < limit):
        seen.add(key)
        found.texts.append(event.input.text)


def inference_texts(settings: KafkaSettings, model: str, *, limit: int | None = None,
                    timeout: float = 60.0) -> LogTexts:
    """:func:`read_inference_texts` for synchronous callers (the CLI)."""
    return asyncio.run(read_inference_texts(settings, model, limit=limit, timeout=timeout))
