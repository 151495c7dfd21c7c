"""Reading a compacted changelog topic back into memory, partition by partition.

A worker that keeps state per source partition writes every change to a changelog topic with the same
partition number (co-partitioned), and after a restart or rebalance replays the changelog partitions it
was assigned, from the beginning up to the end offsets seen when the replay started.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka import KafkaSettings


async def replay_changelog(
    settings: KafkaSettings,
    topic: str,
    partitions: Iterable[int],
    apply: Callable[[int, str, bytes | None], None],
    timeout: float = 120.0,
) -> int:
    """Call ``apply(partition, key, value)`` for every record of ``topic``'s ``partitions`` in order.

    Returns the number of records replayed. A None value is a tombstone (the key was deleted).
    """
    tps = [TopicPartition(topic, p) for p in partitions]
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(**settings.consumer_kwargs(None))
    await consumer.start()
    replayed = 0
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        remaining = {tp for tp in tps if ends[tp] > 0}
        deadline = time.monotonic() + timeout
        while remaining:
            if time.monotonic() > deadline:
                raise TimeoutError(f"replaying {topic} took longer than {timeout:.0f}s")
            fetched = await consumer.getmany(*remaining, timeout_ms=500, max_records=5000)
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= ends[tp]:
                        break
                    key = b"" if record.key is None else record.key
                    apply(tp.partition, key.decode(errors="backslashreplace"), record.value)
                    replayed += 1
            for tp in list(remaining):
                if await consumer.position(tp) >= ends[tp]:
                    remaining.discard(tp)
    finally:
        await consumer.stop()
    return replayed
