"""``pioneer trainer`` as it runs in production: a worker process against Apache Kafka.

Labeled traces and an error pattern (with its members) go in, then a retrain request; training progress and
one release come out, the registry's production alias moves once. A worker killed mid-training and started
again serves the request to exactly one release.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pioneer.events import (
    Budget,
    ErrorPattern,
    EventCodec,
    InferenceLog,
    Input,
    Label,
    ModelName,
    ModelRef,
    ModelRelease,
    Output,
    PatternRef,
    RetrainRequest,
    TrainingProgress,
)
from pioneer.join import labeled_trace
from pioneer.registry import FileRegistry
from pioneer.retrain import train_first_version
from pioneer.synthetic import BankingTask
from pioneer.training import ClassificationConfig
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all

pytestmark = [pytest.mark.kafka, pytest.mark.slow, pytest.mark.timeout(600)]
MODEL = "banking"


def first_model(home: Path) -> tuple[BankingTask, str]:
    task = BankingTask(seed=5)
    evaluation = task.evaluation_set(10)
    decision = train_first_version(
        MODEL, "classification", task.training_set(20), validation=evaluation[:60], gate_set=evaluation[60:],
        registry=FileRegistry(home / "registry"), config=ClassificationConfig(strategy="head"),
    )
    assert decision.outcome == "released"
    return task, decision.version


def loop_events(task: BankingTask, version: str) -> tuple[list, RetrainRequest]:
    """Traces of served traffic (the blind spot answered ``balance``), a pattern naming its failures, a request."""
    model = ModelRef(name=MODEL, version=version)
    traces = []
    examples = task.usual(240, stream="live") + task.blind_spot(80, stream="live-blind")
    for i, example in enumerate(examples):
        failed = example.id.startswith("live-blind")
        log = InferenceLog(event_id=f"log-{i}", timestamp=100.0 + i, request_id=f"req-{i}", model=model,
                           task="classification", input=Input(text=example.text),
                           prediction=Output(label="balance" if failed else example.label), latency_ms=2.0)
        label = Label(event_id=f"label-{i}", timestamp=101.0 + i, request_id=f"req-{i}", source="human",
                      expected=Output(label=example.label))
        traces.append(labeled_trace(log, label, now=102.0 + i))
    members = [t.request_id for t in traces if t.outcome == "fail"]
    pattern = ErrorPattern(
        event_id="pat-p-blind-000001", timestamp=500.0, pattern_id="p-blind", model=ModelName(name=MODEL, version=version),
        state="growing", emerging=True, name="savings / stash / top", size=len(members), failures_recent=len(members),
        failure_rate=1.0, failure_rate_lower=0.9, growth=5.0, confusions=[], exemplars=[], first_seen=100.0,
        last_seen=500.0, members=members,
    )
    request = RetrainRequest(
        event_id="rr-banking-1", timestamp=600.0, request_id="rr-banking-1", model=model,
        patterns=[PatternRef(pattern_id="p-blind", name=pattern.name, failures=len(members), failure_rate=1.0)],
        reason="test", budget=Budget(max_iterations=2, max_candidates=2), mode="pioneer", requested_by="test",
    )
    return [*traces, pattern], request


def start_trainer(settings: KafkaSettings, home: Path, log_name: str) -> subprocess.Popen:
    env = dict(os.environ, PIONEER_HOME=str(home), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix, HF_HUB_OFFLINE="1",
               # the killed trainer's partition reaches its successor once its session lapses: 10 s, not 60
               PIONEER_KAFKA_SESSION_TIMEOUT="10")
    with open(home / log_name, "wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "pioneer", "--log-format", "json", "trainer", "--catch-up-timeout", "5"],
                                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)


def stop(process: subprocess.Popen, sig: int = signal.SIGINT) -> None:
    if process.poll() is None:
        os.killpg(process.pid, sig)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def read(settings: KafkaSettings, event_type: str, cls: type, expected: int = 10**6, timeout: float = 3) -> list:
    codec = EventCodec()
    return [codec.decode(r.value, expected=cls) for r in asyncio.run(read_all(settings, settings.topic(event_type), expected, timeout))]


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(2)
    raise AssertionError(f"timed out waiting for {what}")


async def publish(settings: KafkaSettings, events: list) -> None:
    async with EventPublisher(settings) as publisher:
        await publisher.publish(events)


def test_a_retrain_request_becomes_one_release_even_across_a_crash(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    task, first = first_model(tmp_path)
    inputs, request = loop_events(task, first)
    asyncio.run(publish(kafka_settings, inputs))
    trainer = start_trainer(kafka_settings, tmp_path, "trainer-1.log")
    try:
        asyncio.run(publish(kafka_settings, [request]))
        # killed while it trains: the request was not acknowledged, so it comes back
        wait_for(lambda: any(p.stage == "training" for p in read(kafka_settings, "training_progress", TrainingProgress)),
                 240, "training to start")
        trainer.send_signal(signal.SIGKILL)
        trainer.wait()
        trainer = start_trainer(kafka_settings, tmp_path, "trainer-2.log")
        wait_for(lambda: read(kafka_settings, "model_release", ModelRelease, expected=1), 360, "a release")
        time.sleep(5)  # a second release, if there were one, would come now
        releases = read(kafka_settings, "model_release", ModelRelease)
    finally:
        stop(trainer)
    assert len({r.model.version for r in releases}) == 1 and len({r.event_id for r in releases}) == 1
    (release,) = {r.event_id: r for r in releases}.values()
    assert release.request_id == request.request_id and release.parent_version == first
    assert release.gate_report.passed and release.alias.from_version == first
    registry = FileRegistry(tmp_path / "registry")
    assert registry.get_alias(MODEL, "production") == release.model.version
    moves = [m for m in registry.alias_history(MODEL, "production")]
    assert len(moves) == 2  # the first version, then this release: one move, not two
    # the released version fixed the blind spot on held-out requests and kept the usual ones
    released = registry.load_adapter(MODEL, release.model.version)
    before = registry.load_adapter(MODEL, first)
    blind = task.blind_spot(100, stream="heldout")
    assert released.evaluate(blind).metric > before.evaluate(blind).metric + 0.1
    usual = task.evaluation_set(5)
    assert released.evaluate(usual).metric >= before.evaluate(usual).metric - 0.02
    stages = {p.stage for p in read(kafka_settings, "training_progress", TrainingProgress)}
    assert {"diagnosing", "training", "gating", "released"} <= stages
