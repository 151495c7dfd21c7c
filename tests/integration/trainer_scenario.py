"""The trainer's scenario for integration tests: a first banking model in production, served traffic with a blind
spot (answered ``balance``), labelled; an error pattern naming its failures, and a retrain request for it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pioneer.events import (
    Budget,
    ErrorPattern,
    EventCodec,
    InferenceLog,
    Input,
    Label,
    ModelName,
    ModelRef,
    Output,
    PatternRef,
    RetrainRequest,
)
from pioneer.join import labeled_trace
from pioneer.registry import FileRegistry
from pioneer.retrain import train_first_version
from pioneer.synthetic import BankingTask
from pioneer.training import ClassificationConfig
from streams.io import EventPublisher
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all

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


def read(settings: KafkaSettings, event_type: str, cls: type, expected: int = 10**6, timeout: float = 3) -> list:
    codec = EventCodec()
    return [codec.decode(r.value, expected=cls) for r in asyncio.run(read_all(settings, settings.topic(event_type), expected, timeout))]


async def publish(settings: KafkaSettings, events: list) -> None:
    async with EventPublisher(settings) as publisher:
        await publisher.publish(events)
