"""Apache Kafka, the reference engine: consumer groups split and hand over partitions, restarts keep data."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from pioneer.events import EventCodec, InferenceLog, Input, ModelRef, Output
from pioneer.settings import Paths
from streams.admin import ensure_topics, list_topics
from streams.brokers import ApacheKafkaBroker, free_port
from streams.io import EventPublisher, EventReader
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]


def _logs(n: int, prefix: str = "e") -> list[InferenceLog]:
    return [
        InferenceLog(
            event_id=f"{prefix}-{i}",
            timestamp=1.0 + i,
            request_id=f"req-{i}",
            model=ModelRef(name="m", version="v1"),
            task="classification",
            input=Input(text=f"text {i}"),
            prediction=Output(label="a"),
            latency_ms=1.0,
        )
        for i in range(n)
    ]


async def _wait_settled(*readers: EventReader, partitions: int = 4, timeout: float = 30.0) -> None:
    """Wait until the group has settled: every member owns some partitions and together they own all."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        owned = [reader.consumer.assignment() for reader in readers]
        if all(owned) and sum(len(o) for o in owned) == partitions:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"group did not settle: {[r.consumer.assignment() for r in readers]}")


def test_two_consumers_split_partitions_and_take_over(kafka_settings: KafkaSettings) -> None:
    topic = kafka_settings.topic("inference_log")
    events = _logs(400)

    async def scenario():
        async with EventPublisher(kafka_settings) as publisher:
            await publisher.publish(events)
            a = EventReader(kafka_settings, [topic], group_id="g", publisher=publisher, name="a", max_poll_records=20)
            b = EventReader(kafka_settings, [topic], group_id="g", publisher=publisher, name="b", max_poll_records=20)
            await a.start()
            await b.start()
            seen_a: list[str] = []
            seen_b: list[str] = []
            committed_by_a: list[str] = []
            uncommitted_by_a: list[str] = []
            await _wait_settled(a, b)
            part_a, part_b = set(a.consumer.assignment()), set(b.consumer.assignment())
            # a processes and commits one batch, then processes another without committing, then dies.
            batches = a.batches(max_records=20, timeout_ms=500)
            first = await batches.__anext__()
            seen_a += [d.event.event_id for d in first]
            committed_by_a += [d.event.event_id for d in first]
            await a.commit()
            second = await batches.__anext__()
            seen_a += [d.event.event_id for d in second]
            uncommitted_by_a += [d.event.event_id for d in second]
            await batches.aclose()
            await a.consumer.stop()  # no commit: as if it crashed after processing
            # b goes on alone until it has everything not committed by a.
            async for batch in b.batches(max_records=100, timeout_ms=500):
                seen_b += [d.event.event_id for d in batch]
                await b.commit()
                if len(set(seen_b) | set(committed_by_a)) >= len(events):
                    break
            part_b_after = set(b.consumer.assignment())
            await b.stop()
            return part_a, part_b, part_b_after, seen_a, seen_b, committed_by_a, uncommitted_by_a

    part_a, part_b, part_b_after, seen_a, seen_b, committed_by_a, uncommitted_by_a = asyncio.run(
        asyncio.wait_for(scenario(), 120)
    )
    # the group split the four partitions between the two members
    assert part_a and part_b and not (part_a & part_b) and len(part_a | part_b) == 4
    # after a left, b owns them all
    assert len(part_b_after) == 4
    all_ids = {e.event_id for e in events}
    # nothing lost
    assert set(seen_b) | set(committed_by_a) == all_ids
    # nothing read twice past the committed offsets: the only records b re-read are the ones a had
    # processed but not committed
    assert not set(committed_by_a) & set(seen_b)
    assert set(seen_a) & set(seen_b) == set(uncommitted_by_a)
    assert len(seen_b) == len(set(seen_b))


def test_broker_restart_keeps_topics_data_and_offsets(tmp_path: Path) -> None:
    broker = ApacheKafkaBroker(port=free_port(), data_dir=tmp_path / "kafka", cache_dir=Paths.from_env().cache)
    broker.start()
    settings = KafkaSettings(bootstrap_servers=broker.bootstrap, topic_prefix="restart.")
    topic = settings.topic("inference_log")
    events = _logs(50)
    try:

        async def before() -> None:
            await ensure_topics(settings)
            async with EventPublisher(settings) as publisher:
                await publisher.publish(events)
                reader = EventReader(settings, [topic], group_id="keep", publisher=publisher, name="r")
                async with reader:
                    consumed = 0
                    async for batch in reader.batches(max_records=20):
                        consumed += len(batch)
                        await reader.commit()
                        if consumed >= 20:
                            break

        asyncio.run(before())
    finally:
        broker.stop()

    broker.start()
    try:

        async def after():
            topics = await list_topics(settings)
            records = await read_all(settings, topic, len(events))
            consumer = AIOKafkaConsumer(topic, **settings.consumer_kwargs("keep"))
            await consumer.start()
            try:
                partitions = [TopicPartition(topic, p) for p in range(topics[topic])]
                committed = sum([(await consumer.committed(tp)) or 0 for tp in partitions])
            finally:
                await consumer.stop()
            return topics, records, committed

        topics, records, committed = asyncio.run(after())
    finally:
        broker.stop()
    assert all(spec.name in topics for spec in settings.catalogue)
    assert sorted(r.value for r in records) == sorted(EventCodec().encode(e) for e in events)
    assert committed >= 20
