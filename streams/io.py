"""Putting typed events on their topics and taking them off, with dead-lettering of bad records.

:class:`EventPublisher` sends each event to the topic the catalogue assigns to its type, keyed as the
catalogue says. :class:`EventReader` consumes records in batches, decodes them, sends anything that fails
to decode or validate to the dead-letter topic (original bytes, source position, reason) and commits offsets
only when the caller says the batch is done: at-least-once, never silently dropping a record.

:func:`decode_or_dead_letter` and :func:`send_dead_letter` are the one way every consumer (these readers and
the Faust agents) turns a record it cannot use into a dead letter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.errors import CommitFailedError
from aiokafka.partitioner import murmur2

from pioneer.events import DeadLetter, DecodeError, Event, EventCodec, make_dead_letter
from pioneer.topics import TopicSpec
from streams.kafka import KafkaSettings
from streams.metrics import StreamMetrics

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)


def event_key(event: Event, spec: TopicSpec) -> bytes:
    """The record key the catalogue prescribes for ``event`` on ``spec``."""
    if spec.key == "request_id":
        key = event.request_id  # type: ignore[attr-defined]
    elif spec.key == "model":
        key = event.model.name  # type: ignore[attr-defined]
    elif spec.key == "source_topic":
        key = event.source.topic  # type: ignore[attr-defined]
    else:  # pragma: no cover - the catalogue test pins the key kinds
        raise ValueError(f"topic {spec.name} has an unknown key kind {spec.key!r}")
    return key.encode()


class EventPublisher:
    """An aiokafka producer that encodes (and validates) events and routes them by type.

    Use ``async with EventPublisher(settings) as publisher:``. :meth:`send` returns once the record is
    queued; :meth:`flush` (or leaving the ``async with``) waits until every queued record is acknowledged.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        codec: EventCodec | None = None,
        metrics: StreamMetrics | None = None,
        producer: AIOKafkaProducer | None = None,
    ) -> None:
        self.settings = settings
        self.codec = codec or EventCodec()
        self.metrics = metrics
        self._catalogue = settings.catalogue
        # Created on start: aiokafka clients must be built inside the running event loop.
        self._producer: AIOKafkaProducer | None = producer
        self._owns_producer = producer is None
        self._pending: list[asyncio.Future[Any]] = []
        self._partitions: dict[str, int] = {}
        self._started: asyncio.Future[None] | None = None

    async def start(self) -> None:
        """Start the producer; safe to call from several tasks (the first call starts, the others wait)."""
        if self._started is None:
            if self._owns_producer:
                self._producer = AIOKafkaProducer(**self.settings.producer_kwargs())
                self._started = asyncio.ensure_future(self._producer.start())
            else:
                self._started = asyncio.ensure_future(asyncio.sleep(0))
        await asyncio.shield(self._started)

    async def stop(self) -> None:
        if self._started is None:
            return
        try:
            await self.flush()
        finally:
            self._started = None
            if self._owns_producer:
                await self._producer.stop()

    async def __aenter__(self) -> EventPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def send(self, event: Event) -> None:
        spec = self._catalogue.by_event_type(event.event_type)
        await self.send_raw(spec.name, self.codec.encode(event), event_key(event, spec))

    async def send_raw(self, topic: str, value: bytes, key: bytes | None) -> None:
        """Queue already encoded bytes (used for pass-through and for tests of bad input)."""
        self._pending.append(await self._producer.send(topic, value=value, key=key))
        if self.metrics is not None:
            self.metrics.events_out.labels(topic).inc()
        if len(self._pending) >= 10_000:
            await self.flush()

    async def send_many(self, events: Iterable[Event]) -> None:
        """Queue many events through aiokafka's batch API: far cheaper per record than :meth:`send`.

        Records are partitioned exactly as :meth:`send` would (murmur2 of the key, as Java clients do), so
        keyed co-partitioning holds whichever path produced a record.
        """
        by_topic: dict[str, list[tuple[int | None, bytes | None, bytes]]] = {}
        for event in events:
            spec = self._catalogue.by_event_type(event.event_type)
            by_topic.setdefault(spec.name, []).append((None, event_key(event, spec), self.codec.encode(event)))
        for topic, records in by_topic.items():
            await self.send_records(topic, records)

    async def send_records(self, topic: str, records: Sequence[tuple[int | None, bytes | None, bytes | None]]) -> None:
        """Queue ``(partition, key, value)`` records; a None partition is chosen from the key."""
        if not records:
            return
        count = await self._partition_count(topic)
        by_partition: dict[int, list[tuple[bytes | None, bytes | None]]] = {}
        by_key: dict[bytes, int] = {}  # murmur2 is pure Python in aiokafka; batches repeat keys (model names)
        for partition, key, value in records:
            if partition is None:
                if key is None:
                    partition = 0
                elif (partition := by_key.get(key)) is None:
                    partition = by_key[key] = (murmur2(key) & 0x7FFFFFFF) % count
            by_partition.setdefault(partition, []).append((key, value))
        for partition, items in by_partition.items():
            batch = self._producer.create_batch()
            for key, value in items:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    self._pending.append(await self._producer.send_batch(batch, topic, partition=partition))
                    batch = self._producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            self._pending.append(await self._producer.send_batch(batch, topic, partition=partition))
        if self.metrics is not None:
            self.metrics.events_out.labels(topic).inc(len(records))

    async def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            count = self._partitions[topic] = len(await self._producer.partitions_for(topic))
        return count

    async def publish(self, events: Iterable[Event]) -> None:
        """Send every event and wait until all are acknowledged."""
        for event in events:
            await self.send(event)
        await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        if pending:
            await asyncio.gather(*pending)


async def publish_async(events: Sequence[Event], settings: KafkaSettings) -> None:
    async with EventPublisher(settings) as publisher:
        await publisher.publish(events)


def publish_events(events: Sequence[Event], *, broker: str | None = None) -> None:
    """Publish ``events`` to their topics and wait for acknowledgement (for commands and scripts)."""
    asyncio.run(publish_async(events, KafkaSettings.from_env(broker)))


class ConsumedRecord(Protocol):
    """What dead-lettering needs of a consumed record (an aiokafka ``ConsumerRecord`` or a Faust message)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


async def send_dead_letter(
    publisher: EventPublisher, metrics: StreamMetrics, record: ConsumedRecord, error: str, reason: str, consumer: str
) -> DeadLetter:
    """Send ``record`` to the dead-letter topic with ``reason`` (bounded: see :mod:`pioneer.events.dead_letter`)."""
    letter = make_dead_letter(
        payload=record.value, key=record.key, topic=record.topic, partition=record.partition, offset=record.offset,
        error=error, reason=reason, consumer=consumer,
    )
    log.warning(
        "dead-lettered a record",
        extra={"topic": record.topic, "partition": record.partition, "offset": record.offset, "error": error,
               "reason": letter.reason[:500], "bytes": letter.payload_bytes},
    )
    await publisher.send(letter)
    metrics.dead_letters.labels(record.topic, error).inc()
    return letter


async def decode_or_dead_letter(
    codec: EventCodec,
    publisher: EventPublisher,
    metrics: StreamMetrics,
    record: ConsumedRecord,
    consumer: str,
    expected: type[E] | None = None,
) -> E | None:
    """The record's event, or None after dead-lettering it with the reason it cannot be decoded."""
    try:
        return codec.decode(record.value, expected)
    except DecodeError as exc:
        await send_dead_letter(publisher, metrics, record, exc.kind, exc.reason, consumer)
    except Exception as exc:  # noqa: BLE001 - the codec should raise DecodeError alone; if not, still one record
        await send_dead_letter(publisher, metrics, record, "processing", f"decoding raised {type(exc).__name__}: {exc}", consumer)
    return None


@dataclass(frozen=True, slots=True)
class Decoded(Generic[E]):
    """A consumed record and the event decoded from it."""

    record: ConsumerRecord
    event: E


class EventReader:
    """A consumer-group member that yields decoded batches and dead-letters what it cannot decode.

    Parameters
    ----------
    topics
        Topic names to subscribe to.
    group_id
        The consumer group (members of one group split the partitions).
    publisher
        Where dead letters go (its producer is reused).
    name
        Recorded in each dead letter as the consumer that refused the record.
    listener
        Told of partitions assigned and revoked (to restore or drop per-partition state).

    Partitions are assigned by range, topic by topic, so members consuming several co-partitioned topics
    (inference logs and labels) always own the same partition numbers of each: a request's log and label
    reach the same member.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        group_id: str | None,
        publisher: EventPublisher,
        name: str,
        metrics: StreamMetrics | None = None,
        codec: EventCodec | None = None,
        listener: ConsumerRebalanceListener | None = None,
        **consumer_options: Any,
    ) -> None:
        self.settings = settings
        self.topics = list(topics)
        self.name = name
        self.publisher = publisher
        self.metrics = metrics or StreamMetrics()
        self.codec = codec or publisher.codec
        consumer_options.setdefault("partition_assignment_strategy", (RangePartitionAssignor,))
        self._group_id = group_id
        self._listener = listener
        self._consumer_options = consumer_options
        self._consumer: AIOKafkaConsumer | None = None
        catalogue = settings.catalogue
        known = {spec.name for spec in catalogue}
        # The event types each topic may carry; a record of another type there is refused.
        self._allowed = {t: catalogue[t].event_types for t in self.topics if t in known}

    @property
    def consumer(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise RuntimeError("EventReader.start() must be awaited first")
        return self._consumer

    async def start(self) -> None:
        # Built here, inside the running loop, as aiokafka requires.
        self._consumer = AIOKafkaConsumer(**self.settings.consumer_kwargs(self._group_id), **self._consumer_options)
        self._consumer.subscribe(self.topics, listener=self._listener)
        await self._consumer.start()

    async def stop(self) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def __aenter__(self) -> EventReader:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def batches(self, max_records: int = 1000, timeout_ms: int = 500) -> AsyncIterator[list[Decoded[Event]]]:
        """Yield decoded batches forever (empty batches are skipped). Call :meth:`commit` after each."""
        while True:
            fetched = await self.consumer.getmany(timeout_ms=timeout_ms, max_records=max_records)
            if not fetched:
                continue
            batch: list[Decoded[Event]] = []
            for tp, records in fetched.items():
                self.metrics.events_in.labels(tp.topic).inc(len(records))
                for record in records:
                    event = await self.decode(record)
                    if event is not None:
                        batch.append(Decoded(record, event))
            yield batch

    async def decode(self, record: ConsumerRecord) -> Event | None:
        """The record's event, or None after sending it to the dead-letter topic."""
        event = await decode_or_dead_letter(self.codec, self.publisher, self.metrics, record, self.name)
        if event is None:
            return None
        allowed = self._allowed.get(record.topic)
        if allowed is not None and event.event_type not in allowed:
            await self.dead_letter(record, "unknown_type", f"{event.event_type} events do not belong on {record.topic}")
            return None
        return event

    async def dead_letter(self, record: ConsumerRecord, error: str, reason: str) -> DeadLetter:
        return await send_dead_letter(self.publisher, self.metrics, record, error, reason, self.name)

    async def commit(self) -> None:
        """Commit the consumed positions, after dead letters and outputs of the batch are acknowledged.

        Where the group rebalanced under the batch, the commit is refused and the batch's next owner reads it
        again from the last commit (at-least-once); every output carries a deterministic id, so consumers
        deduplicate what it writes twice."""
        await self.publisher.flush()
        try:
            await self.consumer.commit()
        except CommitFailedError as exc:
            log.warning("commit refused after a rebalance; the batch will be read again",
                        extra={"consumer": self.name, "error": str(exc)})

    async def lag(self) -> dict[TopicPartition, int]:
        """Records behind the high watermark per assigned partition (also exported as a gauge)."""
        assignment = self.consumer.assignment()
        if not assignment:
            return {}
        ends = await self.consumer.end_offsets(list(assignment))
        lags = {tp: max(0, ends[tp] - await self.consumer.position(tp)) for tp in assignment}
        by_topic: dict[str, int] = {}
        for tp, lag in lags.items():
            by_topic[tp.topic] = by_topic.get(tp.topic, 0) + lag
        for topic, lag in by_topic.items():
            self.metrics.consumer_lag.labels(topic).set(lag)
        return lags
