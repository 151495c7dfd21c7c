"""``pioneer monitor`` as it runs in production: real worker processes against Apache Kafka.

Logs and labels go in (either order, duplicates, late arrivals); labeled traces, error patterns and a retrain
request come out. Two workers of one group share the partitions, and one killed with SIGKILL mid-stream
loses nothing and doubles nothing downstream (downstream deduplicates by event id).
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pioneer.events import (
    ErrorPattern,
    EventCodec,
    GateReport,
    InferenceLog,
    Input,
    Label,
    LabeledTrace,
    ModelRef,
    Output,
    ReleaseRejection,
    RetrainRequest,
)
from pioneer.synthetic import BankingTask
from streams.brokers import free_port
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from tests.integration.helpers import (
    owned_partitions,
    read_all,
    share_machine_cache,
    stop_process,
    wait_for,
    worker_story,
)

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(420)]
MODEL = ModelRef(name="banking", version="sha256-000000000001")

# The product's defaults count traces, so they hold for this test's few hundred requests as they do in
# production; only the checkpoints come more often, so a worker killed mid-stream has little to replay.
FAST = {"PIONEER_MONITOR_CHECKPOINT_INTERVAL": "1"}


def traffic(n: int, *, seed: int = 0, start: float = 1_800_000_000.0, first: int = 0) -> tuple[list[InferenceLog], list[Label]]:
    """``n`` served requests over ``n / 5`` seconds of event time; from the middle on, a third of them are
    transfers asked a new way, which the served model answers as ``balance``."""
    task = BankingTask(seed=seed)
    rng = random.Random(seed)
    usual, blind = iter(task.usual(n)), iter(task.blind_spot(n))
    logs, labels = [], []
    for i in range(n):
        example = next(blind) if i > n // 2 and rng.random() < 0.35 else next(usual)
        failed = example.id.startswith("blind")
        t, k = start + i / 5, first + i
        logs.append(InferenceLog(
            event_id=f"log-{k}", timestamp=t, request_id=f"req-{k}", model=MODEL, task="classification",
            input=Input(text=example.text), prediction=Output(label="balance" if failed else example.label), latency_ms=3.0,
        ))
        labels.append(Label(event_id=f"label-{k}", timestamp=t + 2, request_id=f"req-{k}", source="human",
                            expected=Output(label=example.label)))
    return logs, labels


def start_monitor(settings: KafkaSettings, home: Path, name: str, **extra_env: str) -> subprocess.Popen:
    share_machine_cache(home / name)  # the embedder's ONNX export is made once, not once per worker
    env = dict(os.environ, PIONEER_HOME=str(home / name), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix, HF_HUB_OFFLINE="1", **FAST, **extra_env)
    with open(home / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "pioneer", "--log-format", "json", "monitor"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


async def publish_mixed(settings: KafkaSettings, logs: list, labels: list, seed: int = 1) -> None:
    """Labels before or after their logs, some events twice."""
    rng = random.Random(seed)
    events = []
    for log, label in zip(logs, labels):
        pair = [log, label] if rng.random() < 0.7 else [label, log]
        events += pair
        if rng.random() < 0.05:
            events.append(rng.choice(pair))  # a duplicate
    async with EventPublisher(settings) as publisher:
        await publisher.publish(events)


def _traces_counted(port: int, outcome: str) -> float:
    import urllib.request

    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    prefix = f'pioneer_traces_total{{model="{MODEL.name}",outcome="{outcome}"}} '
    return sum(float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix))


def events_of(settings: KafkaSettings, event_type: str, expected: int, cls: type) -> list:
    codec = EventCodec()
    records = asyncio.run(read_all(settings, settings.topic(event_type), expected, timeout=5))
    return [codec.decode(r.value, expected=cls) for r in records]


def test_monitor_turns_traffic_into_traces_patterns_and_one_retrain_request(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    logs, labels = traffic(600)
    asyncio.run(publish_mixed(kafka_settings, logs, labels))
    port = free_port()
    monitor = start_monitor(kafka_settings, tmp_path, "m1", PIONEER_MONITOR_METRICS_PORT=str(port))
    try:
        wait_for(lambda: events_of(kafka_settings, "retrain_request", 1, RetrainRequest), 240, "a retrain request")
        traces = events_of(kafka_settings, "labeled_trace", len(logs), LabeledTrace)
        fails = sum(t.outcome == "fail" for t in traces)
        wait_for(lambda: _traces_counted(port, "fail") >= fails, 30, "the join to count its traces")
        time.sleep(1.0)  # the pattern stage reads the same traces meanwhile: it must not count them again
        counted = {outcome: _traces_counted(port, outcome) for outcome in ("fail", "pass")}
    finally:
        stop_process(monitor)
    assert counted == {"fail": fails, "pass": len(traces) - fails}, "pioneer_traces_total counts each trace once"
    # every pair joined exactly once (by id), whatever the order and the duplicates
    assert len({t.event_id for t in traces}) == len({t.request_id for t in traces}) == len(logs)
    assert all(t.model == MODEL for t in traces)
    failures = {t.request_id for t in traces if t.outcome == "fail"}
    assert failures and all(int(r.split("-")[1]) > 300 for r in failures)
    patterns = events_of(kafka_settings, "error_pattern", 1, ErrorPattern)
    emerging = [p for p in patterns if p.emerging]
    assert emerging, "no emerging pattern was published"
    # the pattern is the blind spot: its members are failures, and its confusions say transfer -> balance
    members = {m for p in emerging for m in p.members or []}
    assert members and members <= failures
    assert any(c.expected == "transfer" and c.predicted == "balance" for p in emerging for c in p.confusions)
    (request,) = {r.request_id: r for r in events_of(kafka_settings, "retrain_request", 1, RetrainRequest)}.values()
    assert request.model == MODEL and {p.pattern_id for p in request.patterns} <= {p.pattern_id for p in emerging}
    # the request says why: the blind spot holds the failures (concentrated), and they are new evidence
    decision = request.decision
    assert decision is not None and decision.mode == "concentrated" and decision.top_share >= 2 / 3
    assert decision.pacing in ("new_patterns", "new_failures") and decision.failures <= len(failures)


def test_the_monitor_asks_again_after_the_trainer_answers_and_only_then(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    """A rejection read from its topic frees the trainer: the next request comes with twice the new evidence."""
    logs, labels = traffic(600)
    asyncio.run(publish_mixed(kafka_settings, logs, labels))
    monitor = start_monitor(kafka_settings, tmp_path, "m1")
    try:
        wait_for(lambda: events_of(kafka_settings, "retrain_request", 1, RetrainRequest), 240, "a first request")
        # ~200 new failures: clearly more than even a failure mass with no emerging pattern waits for (2 x 25),
        # so the second request cannot hang on where the first one fell in the stream.
        more_logs, more_labels = traffic(1200, seed=7, start=1_800_000_200.0, first=600)
        asyncio.run(publish_mixed(kafka_settings, more_logs, more_labels))
        wait_for(lambda: len(events_of(kafka_settings, "labeled_trace", 1800, LabeledTrace)) >= 1800, 240, "all traces")
        # with the trainer silent, the monitor does not ask again however many failures come in
        (first,) = {r.request_id: r for r in events_of(kafka_settings, "retrain_request", 1, RetrainRequest)}.values()
        report = GateReport(passed=False, baseline_version=MODEL.version, checks=[], notes=["Nothing was trained."])
        rejection = ReleaseRejection(event_id=f"rej-{first.request_id}", timestamp=first.timestamp + 60, model=MODEL,
                                     production_version=MODEL.version, gate_report=report, reason="test",
                                     request_id=first.request_id)
        asyncio.run(_publish(kafka_settings, [rejection]))
        wait_for(lambda: len({r.request_id for r in events_of(kafka_settings, "retrain_request", 2, RetrainRequest)}) >= 2,
                 120, "a second request after the rejection")
        requests = {r.request_id: r for r in events_of(kafka_settings, "retrain_request", 2, RetrainRequest)}
    finally:
        stop_process(monitor)
    assert len(requests) == 2
    second = next(r for rid, r in requests.items() if rid != first.request_id)
    assert second.decision.rejections == 1 and second.decision.required_failures == first.decision.required_failures
    assert second.decision.new_failures >= second.decision.required_failures


async def _publish(settings: KafkaSettings, events: list) -> None:
    async with EventPublisher(settings) as publisher:
        await publisher.publish(events)


def test_two_workers_share_partitions_and_a_killed_one_loses_and_doubles_nothing(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    logs, labels = traffic(800, seed=3)
    a = start_monitor(kafka_settings, tmp_path, "a")
    b = start_monitor(kafka_settings, tmp_path, "b")
    story = lambda: worker_story({"a": a, "b": b}, tmp_path)  # noqa: E731
    try:
        half = len(logs) // 2
        asyncio.run(publish_mixed(kafka_settings, logs[:half], labels[:half]))
        # both have joined the group and split the partitions
        wait_for(
            lambda: all(any(0 < len(p) < 4 for p in owned_partitions(tmp_path / f"{w}.log")) for w in ("a", "b")),
            180, "the two workers to share the partitions", explain=story,
        )
        wait_for(lambda: len(events_of(kafka_settings, "labeled_trace", half, LabeledTrace)) >= half // 2, 180, "traces",
                 explain=story)
        a.send_signal(signal.SIGKILL)  # mid-stream, no goodbye
        a.wait()
        asyncio.run(publish_mixed(kafka_settings, logs[half:], labels[half:]))
        wait_for(
            lambda: len({t.event_id for t in events_of(kafka_settings, "labeled_trace", len(logs), LabeledTrace)}) >= len(logs),
            240, "every trace after the kill", explain=story,
        )
        traces = events_of(kafka_settings, "labeled_trace", len(logs), LabeledTrace)
    finally:
        stop_process(b)
        stop_process(a)
    # the two shared the partitions, and b took a's over after the kill
    # (each worker restores the partitions it is assigned, or takes back without a replay those it just lost and
    # nobody wrote since; a rebalance revokes all, then splits them)
    assert any(0 < len(assigned) < 4 for assigned in owned_partitions(tmp_path / "a.log"))
    owned_by_b = owned_partitions(tmp_path / "b.log")
    assert any(0 < len(assigned) < 4 for assigned in owned_by_b) and set().union(*owned_by_b) == {0, 1, 2, 3}
    # nothing lost: every request joined
    assert {t.request_id for t in traces} == {log.request_id for log in logs}
    # nothing doubled downstream: one trace id per (log, label) pair; records replayed after the kill carry it again
    ids_by_request: dict[str, set[str]] = {}
    for trace in traces:
        ids_by_request.setdefault(trace.request_id, set()).add(trace.event_id)
    assert all(len(ids) == 1 for ids in ids_by_request.values())
