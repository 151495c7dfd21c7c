"""The monitor's join on Apache Kafka: logs and labels in either order, duplicates, late arrivals and bad
records in; labeled traces out; counts reconciled; a worker process killed mid-batch (SIGKILL, at a failpoint)
loses and doubles nothing, whether a successor or a live peer takes its partitions."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from pioneer.events import (DeadLetter, EventCodec, InferenceLog, Input, Label, LabeledTrace, ModelRef, Output, Span,
                            original_payload)
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from streams.monitor.join import JoinWorker
from tests.integration.helpers import read_all, restored_partitions, stop_process, taken_back_partitions, wait_for

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(240)]
MODEL = ModelRef(name="intents", version="sha256-aaaaaaaaaaaa")


def _log(i: int, task: str = "classification") -> InferenceLog:
    prediction = Output(label=f"intent-{i % 3}") if task == "classification" else Output(
        spans=[Span(start=0, end=4, label="PER")]
    )
    return InferenceLog(
        event_id=f"log-{i}", timestamp=1000.0 + i, request_id=f"req-{i}", model=MODEL, task=task,
        input=Input(text=f"Anna request {i}"), prediction=prediction, latency_ms=2.0,
    )


def _label(i: int, correct: bool, task: str = "classification") -> Label:
    if task == "classification":
        expected = Output(label=f"intent-{i % 3}" if correct else "intent-x")
    else:
        expected = Output(spans=[Span(start=0, end=4, label="PER" if correct else "LOC")])
    return Label(event_id=f"label-{i}", timestamp=2000.0 + i, request_id=f"req-{i}", source="human", expected=expected)


async def _send(settings: KafkaSettings, events: list, raw: list[tuple[str, bytes]] = ()) -> None:
    async with EventPublisher(settings) as publisher:
        for event in events:
            await publisher.send(event)
        for topic, value in raw:
            await publisher.send_raw(topic, value, b"bad")


async def _run_until(worker: JoinWorker, done, timeout: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done() and loop.time() < deadline and not task.done():
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert done(), f"worker did not finish: {worker.stats}"


def _dead_letters(worker: JoinWorker) -> float:
    return sum(
        worker.metrics.value("pioneer_dead_letters_total", topic=topic, error=error)
        for topic in (worker.logs_topic, worker.labels_topic)
        for error in ("decode", "schema", "unknown_type")
    )


def _accounted(worker: JoinWorker) -> float:
    """Every input event is a log, a label, a duplicate or a dead letter."""
    return worker.stats.logs + worker.stats.labels + worker.stats.duplicates + _dead_letters(worker)


def test_join_reconciles_every_event(kafka_settings: KafkaSettings) -> None:
    rng = random.Random(7)
    n = 60
    logs = [_log(i, "classification" if i % 2 else "entity_extraction") for i in range(n)]
    labels = [_label(i, correct=i % 5 != 0, task=logs[i].task) for i in range(n - 6)]  # 6 logs stay unlabelled
    orphan_labels = [_label(1000 + i, correct=True) for i in range(4)]  # their logs never come
    duplicates = [logs[3], logs[10], labels[4], labels[20]]
    # labels before and after their logs, shuffled
    events = logs + labels + orphan_labels + duplicates
    rng.shuffle(events)
    bad = [(kafka_settings.topic("inference_log"), b"{truncated"), (kafka_settings.topic("label"), b'{"event_type": "label"}')]
    asyncio.run(_send(kafka_settings, events, bad))
    total_in = len(events) + len(bad)

    clock = itertools.count(0.0, 0.01)  # a controllable clock: advanced past the window at the end

    async def scenario():
        async with EventPublisher(kafka_settings) as publisher:
            worker = JoinWorker(kafka_settings, publisher, window=30.0, clock=lambda: next(clock))
            await _run_until(worker, lambda: _accounted(worker) >= total_in)
            # time passes beyond the window: the unmatched halves expire and are counted
            worker.clock = lambda: 10_000.0
            await worker.process({})
            return worker

    worker = asyncio.run(scenario())
    stats = worker.stats
    assert stats.logs == n and stats.labels == len(labels) + len(orphan_labels) and stats.duplicates == len(duplicates)
    assert stats.joined == len(labels)
    assert stats.expired_unlabeled == 6 and stats.expired_orphan_labels == len(orphan_labels)
    assert worker.metrics.value("pioneer_join_events_total", kind="expired_unlabeled") == 6
    assert _accounted(worker) == total_in and _dead_letters(worker) == len(bad)

    codec = EventCodec()
    traces = [codec.decode(r.value, expected=LabeledTrace) for r in asyncio.run(read_all(kafka_settings, kafka_settings.topic("labeled_trace"), len(labels)))]
    assert len(traces) == len(labels) == len({t.event_id for t in traces})
    by_request = {t.request_id: t for t in traces}
    for i in range(len(labels)):
        trace = by_request[f"req-{i}"]
        assert trace.model == MODEL and trace.log_event_id == f"log-{i}" and trace.label_event_id == f"label-{i}"
        assert trace.outcome == ("pass" if i % 5 else "fail")
        if i % 5 == 0:
            assert trace.failure.kind == ("misclassification" if i % 2 else "span_mismatch")
            if trace.task == "entity_extraction":
                assert [s.label for s in trace.failure.missed_spans] == ["LOC"]
                assert [s.text for s in trace.failure.spurious_spans] == ["Anna"]
    letters = asyncio.run(read_all(kafka_settings, kafka_settings.topic("dead_letter"), 2))
    assert len(letters) == 2


def _deep_log(i: int, levels: int) -> bytes:
    """A schema-valid log whose metadata nests ``levels`` deep (orjson cannot even write it; built as text)."""
    head = orjson.dumps(_log(i))[:-1]  # without the closing brace
    return head + b',"metadata":' + b'{"x":' * levels + b"1" + b"}" * levels + b"}"


async def _send_big(settings: KafkaSettings, topic: str, value: bytes) -> None:
    """One record far beyond Kafka's default 1 MiB, on a topic configured to take it."""
    admin = AIOKafkaAdminClient(**settings.client_kwargs())
    await admin.start()
    try:
        await admin.alter_configs([ConfigResource(ConfigResourceType.TOPIC, topic, {"max.message.bytes": str(8 << 20)})])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(**settings.producer_kwargs(), max_request_size=8 << 20)
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"req-big")
    finally:
        await producer.stop()


def test_poison_records_are_dead_lettered_and_the_join_goes_on(kafka_settings: KafkaSettings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A 5 MB record, a log nested 300 deep with its label, and a record whose join raises: each is
    dead-lettered (the big one truncated, with its size and digest), and the good pairs still join."""
    logs_topic = kafka_settings.topic("inference_log")
    big = b'{"event_type": "inference_log", "schema_version": 1, "padding": "' + b"a" * 5_000_000 + b'"}'
    deep = _deep_log(1, 300)
    asyncio.run(_send_big(kafka_settings, logs_topic, big))
    asyncio.run(_send(kafka_settings, [_label(1, correct=False), _log(2), _label(2, correct=False), _log(3), _label(3, True)],
                      [(logs_topic, deep)]))
    import pioneer.join.buffer as join_buffer

    real_trace = join_buffer.labeled_trace

    def labeled_trace(log, label, now):
        if log.request_id == "req-2":
            raise ValueError("a bug that one record sets off")
        return real_trace(log, label, now)

    monkeypatch.setattr(join_buffer, "labeled_trace", labeled_trace)
    total_in = 8  # 7 records, and req-2's second half is both joined (counted) and dead-lettered

    async def scenario():
        async with EventPublisher(kafka_settings) as publisher:
            worker = JoinWorker(kafka_settings, publisher, window=30.0)
            # req-2's failing half is whichever of its log and label is joined second: count both topics
            await _run_until(worker, lambda: worker.stats.logs + worker.stats.labels + sum(
                worker.metrics.value("pioneer_dead_letters_total", topic=topic, error=e)
                for topic in (worker.logs_topic, worker.labels_topic)
                for e in ("decode", "schema", "unknown_type", "processing")) >= total_in)
            return worker

    worker = asyncio.run(scenario())
    assert worker.stats.logs == 2 and worker.stats.labels == 3  # req-2 and req-3 in full, req-1's label alone
    traces = asyncio.run(read_all(kafka_settings, kafka_settings.topic("labeled_trace"), 1))
    assert [orjson.loads(r.value)["request_id"] for r in traces] == ["req-3"]
    letters = {}
    codec = EventCodec()
    for record in asyncio.run(read_all(kafka_settings, kafka_settings.topic("dead_letter"), 3)):
        assert len(record.value) < 1_000_000
        letter = codec.decode(record.value, expected=DeadLetter)
        letters[letter.event_id] = letter
    assert sorted((letter.error, letter.payload_bytes) for letter in letters.values())[1:] == [
        ("processing", len(big)), ("schema", len(deep))]
    (truncated,) = [letter for letter in letters.values() if letter.payload_truncated]
    assert truncated.payload_sha256 == hashlib.sha256(big).hexdigest()
    assert original_payload(truncated) == big[: len(original_payload(truncated))]
    assert "deeper than" in next(letter.reason for letter in letters.values() if letter.payload_bytes == len(deep))
    assert "the join takes" in truncated.reason
    assert any("a bug that one record sets off" in letter.reason for letter in letters.values())


def test_a_batch_fetched_while_the_group_rebalances_is_left_to_whoever_gets_its_partitions(
    kafka_settings: KafkaSettings,
) -> None:
    # Between a revocation and the next assignment the consumer keeps its old partitions and still hands out
    # their records; joining them then crashed a worker (the assignment changed under the batch) or joined
    # records of partitions another member was about to own.
    asyncio.run(_send(kafka_settings, [_log(1), _label(1, correct=True)]))

    async def scenario() -> tuple[int, int]:
        async with EventPublisher(kafka_settings) as publisher:
            worker = JoinWorker(kafka_settings, publisher, window=30.0)
            await worker.reader.start()
            try:
                consumer, fetched = worker.reader.consumer, {}
                deadline = asyncio.get_running_loop().time() + 60
                while sum(map(len, fetched.values())) < 2 and asyncio.get_running_loop().time() < deadline:
                    for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                        fetched.setdefault(tp, []).extend(records)
                await worker.on_revoked(consumer.assignment())  # the group starts a rebalance
                await worker.process(fetched)
                during = worker.stats.joined
                await worker.on_assigned(consumer.assignment())  # and gives the same partitions back
                await worker.process(fetched)
                return during, worker.stats.joined
            finally:
                await worker.reader.stop()

    during, after = asyncio.run(scenario())
    assert (during, after) == (0, 1)


def _start_join(settings: KafkaSettings, logs: Path, name: str, *, faults: str = "") -> subprocess.Popen:
    """``pioneer monitor --stage join`` as its own process (batches of 60, so a few hundred events are many)."""
    env = dict(os.environ, PIONEER_BROKER=settings.bootstrap_servers, PIONEER_TOPIC_PREFIX=settings.topic_prefix,
               PIONEER_FAULTS=faults)
    command = [sys.executable, "-m", "pioneer", "--log-format", "json", "monitor", "--stage", "join",
               "--group", "failover", "--join-batch", "60"]
    with open(logs / f"{name}.log", "wb") as out:
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def _pairs(first: int, count: int) -> list:
    """Logs and labels of requests ``first`` .. ``first + count - 1``, in both orders."""
    events = []
    for i in range(first, first + count):
        events += [_log(i), _label(i, correct=i % 4 != 0)] if i % 2 else [_label(i, correct=i % 4 != 0), _log(i)]
    return events


def _traces(settings: KafkaSettings, expected: int) -> list[LabeledTrace]:
    codec = EventCodec()
    records = asyncio.run(read_all(settings, settings.topic("labeled_trace"), expected, timeout=5))
    return [codec.decode(r.value, expected=LabeledTrace) for r in records]


def _assert_each_request_once(traces: list[LabeledTrace], n: int) -> None:
    # nothing lost: every pair was joined, by one worker or the other
    assert {t.request_id for t in traces} == {f"req-{i}" for i in range(n)}
    # nothing doubled downstream: a replayed pair carries the same deterministic id
    assert len({t.event_id for t in traces}) == n


def test_worker_killed_mid_batch_is_replayed_by_its_successor(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    """The first worker is the group's only member, so it owns every partition and joins many batches: its
    failpoint kills it (SIGKILL) once the traces of its second batch that has any are acknowledged, before that
    batch's join state and offsets are written. The next worker must join that batch again, with the same ids."""
    n = 400
    asyncio.run(_send(kafka_settings, _pairs(0, n)))
    first = _start_join(kafka_settings, tmp_path, "first", faults="join.traces_sent=2")
    try:
        assert first.wait(120) == -signal.SIGKILL
    finally:
        stop_process(first)
    killed_with = _traces(kafka_settings, n)
    assert 0 < len(killed_with) < n
    successor = _start_join(kafka_settings, tmp_path, "successor")
    try:
        wait_for(lambda: len({t.event_id for t in _traces(kafka_settings, n)}) >= n, 120, "every trace")
    finally:
        stop_process(successor)
    traces = _traces(kafka_settings, n)
    _assert_each_request_once(traces, n)
    assert len(traces) > n, "the killed worker's last batch was acknowledged but not committed: it must be replayed"
    assert restored_partitions(tmp_path / "successor.log")[-1] == {0, 1, 2, 3}


def test_killed_member_s_partitions_move_to_its_peer(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    """Two members share the partitions; one is killed mid-batch; the survivor takes its partitions over."""
    half = 200
    asyncio.run(_send(kafka_settings, _pairs(0, half)))
    survivor = _start_join(kafka_settings, tmp_path, "survivor")
    victim = None
    try:
        wait_for(lambda: len(_traces(kafka_settings, half)) >= half, 120, "the first half's traces")
        # The victim joins with nothing left to do; the second part, sent once it owns partitions, is split
        # between the two, so the victim joins several batches of it and its failpoint fires.
        victim = _start_join(kafka_settings, tmp_path, "victim", faults="join.traces_sent=2")
        wait_for(lambda: restored_partitions(tmp_path / "victim.log"), 120, "the victim's assignment")
        victims = restored_partitions(tmp_path / "victim.log")[0]
        assert 0 < len(victims) < 4
        asyncio.run(_send(kafka_settings, _pairs(half, 2 * half)))
        assert victim.wait(120) == -signal.SIGKILL
        wait_for(lambda: len({t.event_id for t in _traces(kafka_settings, 3 * half)}) >= 3 * half, 120, "every trace")
    finally:
        stop_process(survivor)
        if victim is not None:
            stop_process(victim)
    _assert_each_request_once(_traces(kafka_settings, 3 * half), 3 * half)
    # The survivor replays the state of the partitions the victim wrote to; its own came back without a replay.
    assert restored_partitions(tmp_path / "survivor.log")[-1] == victims
    assert taken_back_partitions(tmp_path / "survivor.log")[0] == {0, 1, 2, 3} - victims
