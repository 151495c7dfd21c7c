"""The join stage of the monitor: inference logs + labels in, labeled traces out.

Logs and labels are co-partitioned by request id, so one consumer group member owns both halves of every
request on its partitions and joins them in memory (:class:`pioneer.join.JoinBuffer`, one per partition).
Every change of a buffer is written to the compacted ``join-state`` changelog (same partition number), and a
member that is assigned a partition rebuilds its buffer from that changelog first, so a restart or a
rebalance loses no waiting half.

Processing is at-least-once: a batch's traces, changelog records and dead letters are acknowledged before
its offsets are committed. Replays are harmless: traces have deterministic ids and the buffer drops
events it has seen. A record that cannot be decoded, or whose join or trace raises (cannot be encoded, say),
is dead-lettered with the reason; it never stops the worker.

This stage consumes with aiokafka directly rather than through a Faust agent: it is the one stage that
sees every event, and Faust's consumer loop schedules tasks per message (``Consumer._drain_messages`` →
``wait_first``), which caps a worker far below what the broker delivers (see ``scripts/bench_join.py``).
The downstream stages, which see only traces, run as Faust agents.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable

from aiokafka import ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import KafkaError

from pioneer.events import InferenceLog, LabeledTrace
from pioneer.faults import armed, failpoint
from pioneer.join import JoinBuffer, JoinStats
from streams.io import EventPublisher, EventReader, event_key
from streams.kafka import MAX_RECORD_BYTES, KafkaSettings
from streams.monitor.align import TopicAligner
from streams.monitor.metrics import MonitorMetrics
from streams.state import replay_changelog

log = logging.getLogger(__name__)

PROGRESS_EVERY = 30.0
"""Seconds between two progress lines in the log: what the join holds and whether it moves."""

MAX_EVENT_BYTES = MAX_RECORD_BYTES // 3
"""Largest log or label the join takes: its trace (a log and a label) and its changelog entry must each fit one
Kafka record. Larger ones are dead-lettered."""


class JoinWorker:
    """One member of the join's consumer group.

    Parameters
    ----------
    window
        Seconds an unmatched log or label waits for its other half.
    max_pending
        Requests held per partition at most (the oldest expire early beyond it).
    batch_size
        Records fetched per batch.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        publisher: EventPublisher,
        *,
        metrics: MonitorMetrics | None = None,
        group_id: str = "pioneer-monitor-join",
        window: float = 900.0,
        max_pending: int = 500_000,
        batch_size: int = 5000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.publisher = publisher
        self.metrics = metrics or MonitorMetrics()
        self.window = window
        self.max_pending = max_pending
        self.batch_size = batch_size
        self.clock = clock
        self.stats = JoinStats()
        catalogue = settings.catalogue
        self.traces_spec = catalogue.by_event_type("labeled_trace")
        self.logs_topic = catalogue.by_event_type("inference_log").name
        self.labels_topic = catalogue.by_event_type("label").name
        self.state_topic = catalogue.internal("join-state").name
        self._buffers: dict[int, JoinBuffer] = {}
        self._parked: dict[int, tuple[JoinBuffer, int]] = {}
        """Buffers of revoked partitions, with their changelog's end offset then: reused if the partition comes
        back before anyone else wrote its state (a rebalance that returns the same partitions costs no replay)."""
        # A quarter of the window: a log never waits in the buffer for a label its worker has not read yet.
        self.aligner = TopicAligner((self.logs_topic, self.labels_topic), slack=window / 4)
        self._lock = asyncio.Lock()
        self._rebalancing = False
        """True from a revocation until the assignment that follows. The consumer keeps its old assignment until
        then, so a batch fetched meanwhile may belong to another member, and the assignment changes under it."""
        self.reader = EventReader(
            settings,
            [self.logs_topic, self.labels_topic],
            group_id=group_id,
            publisher=publisher,
            name=group_id,
            metrics=self.metrics,
            listener=_Rebalance(self),
        )
        self.batches_done = 0
        self._left_to_read: int | None = 0

    # ------------------------------------------------------------------------------------------ lifecycle

    async def run(self, stop: asyncio.Event | None = None) -> None:
        """Consume until ``stop`` is set (or forever)."""
        await self.reader.start()
        try:
            batches = self.reader.consumer
            next_report = time.monotonic() + PROGRESS_EVERY
            while stop is None or not stop.is_set():
                fetched = await batches.getmany(timeout_ms=200, max_records=self.batch_size)
                async with self._lock:
                    await self.process(fetched)
                if time.monotonic() >= next_report:
                    self._report_progress()
                    next_report = time.monotonic() + PROGRESS_EVERY
        finally:
            await self.reader.stop()

    async def process(self, fetched: dict[TopicPartition, list]) -> None:
        """Join one fetched batch, emit its traces and state, then commit it."""
        if self._rebalancing:
            return  # uncommitted, so the batch is read again by whoever the group gives its partitions to
        now = self.clock()
        started = time.perf_counter()
        # Records of partitions revoked since they were fetched belong to their new owner now.
        owned = self.reader.consumer.assignment()
        fetched = {tp: records for tp, records in fetched.items() if tp in owned}
        await self._restore({tp.partition for tp in fetched} - set(self._buffers))
        traces: list[tuple[LabeledTrace, bytes]] = []
        for tp, records in fetched.items():
            self.metrics.events_in.labels(tp.topic).inc(len(records))
            buffer = self._buffers[tp.partition]
            for record in records:
                traces += await self._join_one(buffer, record, now)
            self.aligner.observe(tp, records)
        lag = await self._lag()
        self._left_to_read = None if None in lag.values() else sum(lag.values())  # type: ignore[arg-type]
        self._align(lag)
        state: list[tuple[int | None, bytes | None, bytes | None]] = []
        for partition, buffer in self._buffers.items():
            # Reading a backlog, a half may only be waiting for its twin to be read: only capacity expires then.
            buffer.expire(-math.inf if self.aligner.behind(partition, lag) else now)
            state += [(partition, key.encode(), value) for key, value in buffer.take_changes().items()]
        if not fetched and not state:
            return
        spec = self.traces_spec
        await self.publisher.send_records(spec.name, [(None, event_key(trace, spec), raw) for trace, raw in traces])
        if traces and armed("join.traces_sent"):
            # Under test only: a kill here leaves traces acknowledged but neither state nor offsets written, so
            # the next owner joins the batch again and must emit the same trace ids.
            await self.publisher.flush()
            failpoint("join.traces_sent")
        await self.publisher.send_records(self.state_topic, state)
        for trace, _ in traces:
            self.metrics.traces.labels(trace.model.name, trace.outcome).inc()
        await self.reader.commit()
        self.metrics.sync_join(self.stats, sum(len(b) for b in self._buffers.values()))
        self.metrics.batch_seconds.labels("join").observe(time.perf_counter() - started)
        self.batches_done += 1

    def _report_progress(self) -> None:
        consumer = self.reader.consumer
        log.info("join progress", extra={
            "partitions": sorted({tp.partition for tp in consumer.assignment()}),
            "paused": sorted(f"{tp.topic}[{tp.partition}]" for tp in consumer.paused()),
            "left_to_read": self._left_to_read, "pending": sum(len(b) for b in self._buffers.values()),
            "joined": self.stats.joined, "batches": self.batches_done,
        })

    async def _lag(self) -> dict[TopicPartition, int | None]:
        """Records left to read in each owned partition (None while its end is not known yet)."""
        consumer = self.reader.consumer
        lag: dict[TopicPartition, int | None] = {}
        ends = {tp: consumer.highwater(tp) for tp in consumer.assignment()}  # read before any await
        for tp, end in ends.items():
            try:  # a position not known yet (just assigned, broker away) is not waited for
                position = await asyncio.wait_for(consumer.position(tp), 1.0)
            except (asyncio.TimeoutError, KafkaError):
                position = None
            lag[tp] = None if end is None or position is None else end - position
        return lag

    def _align(self, lag: dict[TopicPartition, int | None]) -> None:
        """Pause the topic partition that runs ahead of its twin in record time; resume the others."""
        consumer = self.reader.consumer
        owned = consumer.assignment()
        hold = self.aligner.to_pause(owned, lag)
        paused = consumer.paused() & owned
        if hold - paused:
            consumer.pause(*(hold - paused))
        if paused - hold:
            consumer.resume(*(paused - hold))

    async def _join_one(self, buffer: JoinBuffer, record: ConsumerRecord, now: float) -> list[tuple[LabeledTrace, bytes]]:
        """The traces ``record`` completes, encoded; a record that cannot be decoded, joined or encoded is
        dead-lettered instead."""
        size = len(record.value or b"")
        if size > MAX_EVENT_BYTES:
            await self.reader.dead_letter(record, "processing", f"a record of {size} bytes; the join takes {MAX_EVENT_BYTES} at most")
            return []
        event = await self.reader.decode(record)
        if event is None:
            return []
        try:
            if isinstance(event, InferenceLog):
                traces = buffer.add_log(event, now, record.value)
            else:
                traces = buffer.add_label(event, now, record.value)  # type: ignore[arg-type]
            encoded = [(trace, self.publisher.codec.encode(trace)) for trace in traces]
            for _, raw in encoded:
                if len(raw) > MAX_RECORD_BYTES:
                    raise ValueError(f"its trace is {len(raw)} bytes; a Kafka record takes {MAX_RECORD_BYTES}")
            return encoded
        except Exception as exc:  # noqa: BLE001 - one record must never stop the join
            await self.reader.dead_letter(record, "processing", f"joining raised {type(exc).__name__}: {exc}")
            return []

    # ------------------------------------------------------------------------------------------ rebalances

    async def on_assigned(self, assigned: set[TopicPartition]) -> None:
        async with self._lock:
            try:
                await self._restore({tp.partition for tp in assigned} - set(self._buffers))
            finally:  # a failed restore is retried by the batch that first needs the partition
                self._rebalancing = False

    async def _restore(self, partitions: set[int]) -> None:
        """Rebuild the buffers of ``partitions`` from the changelog before any of their records is joined.

        Called under the lock, from the assignment callback and (where that restore failed) from :meth:`process`,
        so no record ever lands in a buffer that a restore then replaces.
        """
        if not partitions:
            return
        partitions = await self._unpark(partitions)
        if not partitions:
            return
        fresh = {p: JoinBuffer(window=self.window, max_pending=self.max_pending, stats=self.stats) for p in partitions}
        log.info("join partitions restoring", extra={"partitions": sorted(partitions)})
        replayed = await replay_changelog(
            self.settings, self.state_topic, partitions, lambda p, key, value: fresh[p].restore(key, value)
        )
        for partition, buffer in fresh.items():
            buffer.finish_restore(self.clock())
            self._buffers[partition] = buffer
        log.info(
            "join partitions restored",
            extra={"partitions": sorted(partitions), "state_records_replayed": replayed,
                   "pending": sum(len(b) for b in fresh.values())},
        )

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        # Wait for the batch in flight to finish and commit, then forget the partitions' state: their new
        # owner rebuilds it from the changelog.
        async with self._lock:
            self._rebalancing = True
            lost = {tp.partition for tp in revoked} & set(self._buffers)
            ends = await self._state_ends(lost)
            for partition in lost:
                buffer = self._buffers.pop(partition)
                if ends[partition] >= 0:
                    self._parked[partition] = (buffer, ends[partition])
            self.aligner.forget(revoked)

    async def _unpark(self, partitions: set[int]) -> set[int]:
        """Take back the parked buffers whose changelog nobody wrote since; returns the partitions left to replay."""
        parked = partitions & set(self._parked)
        ends = await self._state_ends(parked)
        for partition in parked:
            buffer, end = self._parked.pop(partition)
            if end >= 0 and ends[partition] == end:
                self._buffers[partition] = buffer
        if parked:
            log.info("join partitions taken back without a replay",
                     extra={"partitions": sorted(p for p in parked if p in self._buffers)})
        return partitions - set(self._buffers)

    async def _state_ends(self, partitions: set[int]) -> dict[int, int]:
        """The changelog's end offset of each partition (after our own writes have landed)."""
        if not partitions:
            return {}
        tps = [TopicPartition(self.state_topic, p) for p in partitions]
        try:
            await self.publisher.flush()
            ends = await self.reader.consumer.end_offsets(tps)
        except KafkaError as exc:  # unknown ends: nothing is parked or taken back, the changelog is replayed
            log.warning("changelog end offsets unknown; partitions will be replayed", extra={"error": str(exc)})
            return {p: -1 for p in partitions}
        return {tp.partition: ends[tp] for tp in tps}


class _Rebalance(ConsumerRebalanceListener):
    def __init__(self, worker: JoinWorker) -> None:
        self.worker = worker

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.worker.on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self.worker.on_assigned(assigned)
