"""Shipping inference logs and labels to Kafka off the request path, spilling to disk while the broker is away.

The request path only calls :meth:`EventShipper.offer`: a bounded in-memory append, microseconds, never a
wait. Two background tasks do the rest:

- the *pump* takes queued events in batches, encodes (and validates) them, and delivers them to Kafka; a
  batch Kafka does not acknowledge, or every batch while the broker is known to be down, goes to the
  :class:`~pioneer.serving.spill.SpillQueue` on disk instead;
- the *replayer* delivers spilled events, oldest first, once the broker answers again (it probes every
  ``retry_interval`` seconds while it is down) and removes them from the spill only when Kafka acknowledged.

A task that dies of an unexpected error is logged with its traceback, counted
(``pioneer_serving_task_restarts_total``) and restarted; what it held in flight goes to the spill. An event that
cannot be encoded (an integer beyond 64 bits, nesting too deep, a lone surrogate) or is too large for a Kafka
record is dropped alone, counted by reason and logged; it never stops the others.

Topics: nothing is delivered to a topic until a metadata request that forbids auto-creation shows it exists
with the partitions the catalogue gives it. A broker that answers without the topics (it came back empty, or
was never set up) would otherwise create them with its own defaults, or accept writes that are then lost; the
shipper keeps spilling instead, says "waiting for topics" in its state, and checks again every
``retry_interval``. Topic metadata is checked again every ``topic_recheck`` seconds and after any failure.

Order: the spill replays oldest first, but while it drains, new events may go straight to Kafka, so events of
different requests can arrive out of order. Nothing downstream needs that order (logs and labels are keyed and
joined by request id, in either order); each request has one log.

A process killed without warning (SIGKILL, OOM) loses what is in memory at that moment: the events of the last
few milliseconds, not yet shipped or spilled. A graceful stop (SIGTERM) ships or spills all of them.

Every event ends in exactly one of: acknowledged by Kafka, waiting in memory, waiting on disk, or dropped at
a bound (the in-memory queue, the spill's byte bound), and each has a Prometheus metric; a drop also logs an
error. Nothing is dropped silently.

Why not :class:`streams.io.EventPublisher`: its ``flush`` gathers every pending batch and raises the first
error, which cannot say which records were acknowledged and which were not, so a partial failure would have to
spill (and later duplicate) the whole lot. Here each per-partition batch has its own future, and only the
records of failed batches are spilled. The producer's ``request_timeout_ms`` is the delivery timeout, so aiokafka
gives up on a batch (and will not send it later) before the shipper spills it; a batch whose acknowledgement was
lost in a broker crash may still arrive twice, which is the at-least-once contract (consumers deduplicate by
event id). Records are partitioned as :class:`EventPublisher` does (murmur2 of the key), so co-partitioning holds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from pioneer.events import EncodeError, Event, EventCodec
from pioneer.serving.spill import SpillQueue
from streams.admin import existing_partitions
from streams.io import event_key
from streams.kafka import MAX_RECORD_BYTES, KafkaSettings
from streams.serving.metrics import ServingMetrics

log = logging.getLogger(__name__)

Record = tuple[str, bytes, bytes]
"""(topic, key, value) of one encoded event."""

BATCH_BYTES = 512 << 10
"""aiokafka batch size for the shipper's producer: one batch per partition per shipment (the default 16 KiB
would split a shipment of logs into dozens of batches that aiokafka sends one after another)."""


@dataclass(frozen=True, slots=True)
class ShipperState:
    """A snapshot for ``/readyz`` and tests."""

    broker_up: bool
    queued: int
    in_flight: int
    spill_records: int
    spill_bytes: int
    last_error: str | None
    waiting_for_topics: tuple[str, ...] = ()
    """Topics events are held for: missing on the broker, or with other partitions than catalogued."""
    task_restarts: int = 0


class EventShipper:
    """Delivers offered events to their topics; see the module docstring.

    Parameters
    ----------
    settings
        Kafka connection and topic prefix.
    spill
        Where events wait while the broker is unreachable.
    batch_size
        Events per shipment from memory.
    max_queued
        Events held in memory at most (beyond: dropped with ``reason=memory_full``). Memory only fills while
        a delivery is slower than traffic; a known-down broker sends everything straight to the spill.
    delivery_timeout
        Seconds Kafka has to acknowledge a shipment before it counts as failed (aiokafka's request timeout).
    retry_interval
        Seconds between probes of a broker that is down.
    linger
        Seconds the pump lets events gather before a shipment that is not full: a shipment costs 0.3-0.7 ms of
        CPU whatever its size, so at a few hundred requests per second a quarter of a second makes that a few
        microseconds per event, at the price of logs that much later (docs/serving-speed.md).
    topic_recheck
        Seconds after which the topics' existence and partitions are checked again.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        spill: SpillQueue,
        *,
        metrics: ServingMetrics | None = None,
        codec: EventCodec | None = None,
        batch_size: int = 500,
        replay_batch: int = 2000,
        max_queued: int = 100_000,
        delivery_timeout: float = 5.0,
        retry_interval: float = 1.0,
        linger: float = 0.25,
        topic_recheck: float = 5.0,
    ) -> None:
        self.settings = settings
        self.spill = spill
        self.metrics = metrics or ServingMetrics()
        self.codec = codec or EventCodec()
        self.batch_size = batch_size
        self.replay_batch = replay_batch
        self.max_queued = max_queued
        self.delivery_timeout = delivery_timeout
        self.retry_interval = retry_interval
        self.linger = linger
        self.topic_recheck = topic_recheck
        self.broker_up = False
        self.last_error: str | None = None
        self._catalogue = settings.catalogue
        self._queue: deque[Event] = deque()
        self._in_flight: list[Record] = []
        self._replaying = 0  # spilled records being delivered: neither counted in the spill nor in memory for a moment
        self._producer: AIOKafkaProducer | None = None
        self._partitions: dict[str, int] = {}  # topics checked to exist as catalogued, and their partition counts
        self._checked_at = 0.0
        self._missing_topics: dict[str, str] = {}  # topic -> what is wrong with it
        self._task_restarts = 0
        self._wake = asyncio.Event()
        self._spilled = asyncio.Event()
        self._first_attempt = asyncio.Event()
        self._stopping = False
        self._next_probe = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._last_drop_log = 0.0
        m = self.metrics
        m.events_queued.set_function(lambda: len(self._queue))
        m.spill_records.set_function(lambda: self.spill.pending_records)
        m.spill_bytes.set_function(lambda: self.spill.pending_bytes)

    # ------------------------------------------------------------------------------------------------ request path

    def offer(self, event: Event) -> bool:
        """Queue ``event`` for delivery. Never waits; False (and counted, and logged) if memory is full.

        Call from the event loop's thread (the HTTP handlers do).
        """
        if len(self._queue) >= self.max_queued:
            self._dropped("memory_full", 1)
            return False
        self._queue.append(event)
        self._wake.set()
        return True

    # ------------------------------------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect (without waiting for a broker that is not there) and start shipping."""
        self._tasks = [
            asyncio.create_task(self._connect_first(), name="shipper-connect"),
            asyncio.create_task(self._supervised("shipper-pump", self._pump), name="shipper-pump"),
            asyncio.create_task(self._supervised("shipper-replay", self._replay), name="shipper-replay"),
        ]

    async def stop(self, timeout: float = 15.0) -> None:
        """Ship (or spill) what is in memory, then close. Spilled events stay on disk for the next start."""
        self._stopping = True
        self._wake.set()
        self._spilled.set()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=timeout)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        leftover = self._in_flight + self._encode(list(self._queue))
        self._queue.clear()
        self._in_flight = []
        if leftover:
            await self._spill(leftover)
        if self._producer is not None:
            producer, self._producer = self._producer, None
            try:
                await asyncio.wait_for(producer.stop(), timeout=self.delivery_timeout)
            except Exception as exc:  # noqa: BLE001 - closing a producer of a dead broker
                log.warning("closing the Kafka producer", extra={"error": str(exc)})

    def state(self) -> ShipperState:
        return ShipperState(
            broker_up=self.broker_up,
            queued=len(self._queue),
            in_flight=len(self._in_flight) + self._replaying,
            spill_records=self.spill.pending_records,
            spill_bytes=self.spill.pending_bytes,
            last_error=self._waiting_message() or self.last_error,
            waiting_for_topics=tuple(sorted(self._missing_topics)),
            task_restarts=self._task_restarts,
        )

    async def idle(self, timeout: float) -> bool:
        """Wait until nothing is queued, in flight or spilled (everything acknowledged); False on timeout."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = self.state()
            if not (state.queued or state.in_flight or state.spill_records):
                return True
            await asyncio.sleep(0.05)
        return False

    # ------------------------------------------------------------------------------------------------ tasks

    async def _supervised(self, name: str, run) -> None:  # noqa: ANN001 - a coroutine function
        """Run ``run`` until it returns; if it dies, log why, count it, and start it again."""
        while True:
            try:
                await run()
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a dead task would stop shipping without a word
                self._task_restarts += 1
                self.metrics.task_restarts.labels(name).inc()
                self.last_error = f"{name} died: {type(exc).__name__}: {exc}"
                log.exception(f"shipper task {name} died; restarting it", extra={"task": name})
                if self._stopping:
                    return
                await asyncio.sleep(self.retry_interval)

    async def _connect_first(self) -> None:
        try:
            await self._connect()
        finally:
            self._first_attempt.set()

    async def _pump(self) -> None:
        # Wait for the first connection attempt, so the first requests are not spilled for want of a producer.
        await self._first_attempt.wait()
        if self._in_flight:  # left by a pump that died mid-shipment
            await self._spill(self._in_flight)
            self._in_flight = []
        while True:
            if not self._queue:
                if self._stopping:
                    return
                self._wake.clear()
                await self._wake.wait()
                if self.linger > 0 and not self._stopping:
                    await asyncio.sleep(self.linger)  # let a shipment gather (see ``linger``)
                continue
            events = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            self._in_flight = self._encode(events)
            failed = await self._deliver(self._in_flight) if self._deliverable() else self._in_flight
            if failed:
                await self._spill(failed)
            self._in_flight = []

    async def _replay(self) -> None:
        await self._first_attempt.wait()
        while not self._stopping:
            if self.spill.pending_records == 0:
                self._spilled.clear()
                try:
                    await asyncio.wait_for(self._spilled.wait(), 1.0)
                except TimeoutError:
                    pass
                continue
            if await self._ready_to_replay():
                await self._replay_batch()

    async def _ready_to_replay(self) -> bool:
        """Whether to deliver spilled events now: at once while Kafka takes them, else once per ``retry_interval``
        (the delivery is then the probe: it checks the broker and the topics again)."""
        if self._deliverable():
            return True
        wait = self._next_probe - time.monotonic()
        if wait > 0:
            await asyncio.sleep(min(wait, 0.25))
            return False
        self._next_probe = time.monotonic() + self.retry_interval
        return self._producer is not None or await self._connect()

    async def _replay_batch(self) -> None:
        batch = await asyncio.to_thread(self.spill.read, self.replay_batch)
        records = self._route(batch.records)
        failed = await self._deliver(records)
        if records and len(failed) == len(records):
            return  # nothing got through: keep the batch where it is, in order, and probe again later
        self._replaying = len(failed)
        try:
            await asyncio.to_thread(self.spill.commit, batch)
            self.metrics.events_replayed.inc(len(records) - len(failed))
            if failed:
                await self._spill(failed)  # a partial failure: only the failed records go back, at the tail
        finally:
            self._replaying = 0
        log.info("replayed spilled events", extra={"events": len(records) - len(failed), "left": self.spill.pending_records})

    # ------------------------------------------------------------------------------------------------ Kafka

    async def _connect(self) -> bool:
        producer = AIOKafkaProducer(
            **self.settings.producer_kwargs(),
            request_timeout_ms=int(self.delivery_timeout * 1000),
            max_batch_size=BATCH_BYTES,
        )
        try:
            await asyncio.wait_for(producer.start(), self.delivery_timeout)
        except Exception as exc:  # noqa: BLE001 - no broker: keep serving, spill, probe again
            self._mark_down(exc)
            try:
                await producer.stop()
            except Exception:  # noqa: BLE001
                pass
            return False
        self._producer = producer
        self._mark_up()
        log.info("connected to Kafka", extra={"broker": self.settings.bootstrap_servers})
        return True

    async def _deliver(self, records: Sequence[Record]) -> list[Record]:
        """Send ``records`` and wait for Kafka; returns the records that were not acknowledged.

        Records of a topic that is not there as catalogued are not sent (see the module docstring).
        """
        producer = self._producer
        if producer is None or not records:
            return list(records)
        try:
            counts = await self._checked_partitions(producer, {topic for topic, _, _ in records})
        except Exception as exc:  # noqa: BLE001 - metadata unavailable: the broker is away
            self._mark_down(exc)
            return list(records)
        groups: dict[tuple[str, int], list[Record]] = {}
        failed: list[Record] = []
        for record in records:
            topic, key, _ = record
            if topic not in counts:
                failed.append(record)
                continue
            groups.setdefault((topic, (murmur2(key) & 0x7FFFFFFF) % counts[topic]), []).append(record)
        if groups:
            failed += await self._send_groups(producer, groups)
        return failed

    async def _send_groups(self, producer: AIOKafkaProducer, groups: dict[tuple[str, int], list[Record]]) -> list[Record]:
        """Send each (topic, partition) group as batches and wait for Kafka; returns the unacknowledged records."""
        started = time.perf_counter()
        sends: list[tuple[asyncio.Future[object], list[Record]]] = []
        failed: list[Record] = []
        error: BaseException | None = None
        for (topic, partition), items in groups.items():
            if error is not None:
                failed.extend(items)
                continue
            batch, members = producer.create_batch(), []
            pending = list(items)
            try:
                while pending:
                    _, key, value = pending[0]
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        if not members:
                            raise ValueError(f"an event of {len(value)} bytes does not fit a Kafka batch")
                        sends.append((await producer.send_batch(batch, topic, partition=partition), members))
                        batch, members = producer.create_batch(), []
                        continue
                    members.append(pending.pop(0))
                if members:
                    # Bounded by the producer's request timeout (= delivery_timeout): waiting for metadata and for
                    # room in the accumulator both raise KafkaTimeoutError after it.
                    sends.append((await producer.send_batch(batch, topic, partition=partition), members))
            except Exception as exc:  # noqa: BLE001
                error = exc
                failed.extend(members + pending)
        if sends:
            done, not_done = await asyncio.wait([f for f, _ in sends], timeout=self.delivery_timeout * 2)
            for future, members in sends:
                if future not in done:
                    exc: BaseException | None = TimeoutError("Kafka did not acknowledge in time")
                elif future.cancelled():
                    exc = RuntimeError("delivery cancelled")
                else:
                    exc = future.exception()
                if exc is not None:
                    error = error or exc
                    failed.extend(members)
                else:
                    self.metrics.events_sent.labels(members[0][0]).inc(len(members))
        if error is not None:
            self._mark_down(error)
        else:
            self._mark_up()
            self.metrics.delivery_seconds.observe(time.perf_counter() - started)
        return failed

    def _deliverable(self) -> bool:
        """Whether shipments go to Kafka now (else straight to the spill, until the replayer's next probe)."""
        return self.broker_up and not self._missing_topics

    async def _checked_partitions(self, producer: AIOKafkaProducer, topics: set[str]) -> dict[str, int]:
        """Partition counts of those of ``topics`` that exist as catalogued (asked of the broker, never creating
        a topic); the others are recorded as awaited."""
        now = time.monotonic()
        if now - self._checked_at > self.topic_recheck:
            self._partitions.clear()
            self._checked_at = now
        unchecked = sorted(t for t in topics if t not in self._partitions)
        if unchecked:
            found = await asyncio.wait_for(existing_partitions(producer.client, unchecked), self.delivery_timeout)
            for topic in unchecked:
                wanted = self._catalogue[topic].partitions
                if found.get(topic) == wanted:
                    self._partitions[topic] = wanted
                    if self._missing_topics.pop(topic, None) is not None:
                        log.info("topic present; shipping to it", extra={"topic": topic})
                else:
                    problem = "missing" if topic not in found else f"{found[topic]} partitions, not {wanted}"
                    if self._missing_topics.get(topic) != problem:
                        log.error("waiting for a topic (create it: `pioneer topics create`)", extra={"topic": topic, "problem": problem})
                    self._missing_topics[topic] = problem
        return {t: self._partitions[t] for t in topics if t in self._partitions}

    def _waiting_message(self) -> str | None:
        if not self._missing_topics:
            return None
        return "waiting for topics: " + ", ".join(f"{t} ({p})" for t, p in sorted(self._missing_topics.items()))

    def _mark_up(self) -> None:
        if not self.broker_up:
            log.info("Kafka reachable; shipping events", extra={"broker": self.settings.bootstrap_servers})
        self.broker_up = True
        self.last_error = None
        self.metrics.broker_up.set(1)

    def _mark_down(self, exc: BaseException) -> None:
        if self.broker_up or self.last_error is None:
            log.warning(
                "Kafka unreachable; spilling events to disk",
                extra={"broker": self.settings.bootstrap_servers, "error": f"{type(exc).__name__}: {exc}"},
            )
        self.broker_up = False
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.metrics.broker_up.set(0)
        self._partitions.clear()  # the broker may come back without its topics: check them again
        self._next_probe = time.monotonic() + self.retry_interval

    # ------------------------------------------------------------------------------------------------ encoding

    def _encode(self, events: Sequence[Event]) -> list[Record]:
        records: list[Record] = []
        for event in events:
            try:
                spec = self._catalogue.by_event_type(event.event_type)
                value = self.codec.encode(event)
                key = event_key(event, spec)
            except Exception as exc:  # noqa: BLE001 - one bad event must never stop the others
                self._dropped(_drop_reason(exc), 1, f"{type(exc).__name__}: {exc}", getattr(event, "event_id", None))
                continue
            if len(value) > MAX_RECORD_BYTES:
                self._dropped("too_large", 1, f"{len(value)} bytes > {MAX_RECORD_BYTES}", event.event_id)
                continue
            records.append((spec.name, key, value))
            self.metrics.events_offered.labels(spec.name).inc()
        return records

    def _route(self, values: Sequence[bytes]) -> list[Record]:
        """Topic and key of spilled events, from their JSON (the topic prefix is today's, not the spill's)."""
        records: list[Record] = []
        for value in values:
            try:
                data = orjson.loads(value)
                spec = self._catalogue.by_event_type(data["event_type"])
                if spec.key == "request_id":
                    key = data["request_id"]
                elif spec.key == "model":
                    key = data["model"]["name"]
                else:
                    key = data["source"]["topic"]
                records.append((spec.name, str(key).encode(), value))
            except Exception as exc:  # noqa: BLE001 - one damaged line must not stop the replay
                log.error("unreadable line in the spill", extra={"error": str(exc), "line": value[:200].decode(errors="replace")})
                self._dropped("corrupt", 1)
        return records

    async def _spill(self, records: Sequence[Record]) -> None:
        taken = await asyncio.to_thread(self.spill.append, [value for _, _, value in records])
        self.metrics.events_spilled.inc(taken)
        if taken < len(records):
            self._dropped("spill_full", len(records) - taken)
        if taken:
            self._spilled.set()

    def _dropped(self, reason: str, count: int, detail: str | None = None, event_id: str | None = None) -> None:
        self.metrics.events_dropped.labels(reason).inc(count)
        now = time.monotonic()
        if now - self._last_drop_log > 5.0:  # at most one line per 5 s; the counter has every drop
            self._last_drop_log = now
            log.error(
                "events dropped",
                extra={"reason": reason, "count": count, "detail": detail, "event_id": event_id,
                       "total": self.metrics.value("pioneer_serving_events_dropped_total", reason=reason)},
            )


def _drop_reason(exc: Exception) -> str:
    """``invalid`` for an event that breaks its schema (a bug in the server), ``unencodable`` for the rest."""
    invalid = (isinstance(exc, EncodeError) and exc.kind == "schema") or isinstance(exc, KeyError)
    return "invalid" if invalid else "unencodable"
