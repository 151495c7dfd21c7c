"""The judge worker on Apache Kafka: sampled logs become source=judge labels; a judge that raises or hangs
costs those logs their label (each dead-lettered with the reason) and nothing else; agreement with human
traces is exported; and ``pioneer judge`` runs as a process against the broker."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from pioneer.events import (
    DeadLetter,
    EventCodec,
    InferenceLog,
    Input,
    Label,
    LabeledTrace,
    ModelRef,
    Output,
)
from pioneer.judging import (
    CallBudget,
    Judge,
    JudgeError,
    NumericChecker,
    StratifiedSampler,
    Verdict,
)
from streams.io import EventPublisher
from streams.judge.config import JudgeConfig
from streams.judge.worker import JudgeWorker
from streams.kafka import KafkaSettings
from tests.integration.helpers import read_all, share_machine_cache, stop_process

pytestmark = [pytest.mark.kafka, pytest.mark.timeout(180)]
MODEL = ModelRef(name="calc", version="sha256-cccccccccccc")
N = 60


def _logs(n: int = N) -> list[InferenceLog]:
    # Every third answer is wrong; the question carries its own reference (a + b).
    return [
        InferenceLog(event_id=f"log-{i}", timestamp=1000.0 + i, request_id=f"req-{i}", model=MODEL, task="generation",
                     input=Input(text=f"What is {i} + {i + 1}?"), prediction=Output(text=f"It is {2 * i + 1 + (i % 3 == 0)}."),
                     latency_ms=2.0)
        for i in range(n)
    ]


def _expected(log: InferenceLog) -> float:
    a, b = log.input.text.removeprefix("What is ").removesuffix("?").split(" + ")
    return float(a) + float(b)


class FaultyJudge(Judge):
    """The numeric checker, except on requests 5, 15, 25 ... (raises) and 7, 17, 27 ... (hangs past the timeout)."""

    def __init__(self) -> None:
        self._checker = NumericChecker(expected=_expected)

    @property
    def name(self) -> str:
        return "faulty-numeric"

    def judge(self, log: InferenceLog) -> Verdict:
        i = int(log.request_id.removeprefix("req-"))
        if i % 10 == 5:
            raise JudgeError("transport", "connection refused")
        if i % 10 == 7:
            time.sleep(1.5)
        verdict = self._checker.judge(log)
        return Verdict(verdict=verdict.verdict, score=verdict.score, reason=verdict.reason, judge=self.name)


async def _publish(settings: KafkaSettings, events: list) -> None:
    async with EventPublisher(settings) as publisher:
        for event in events:
            await publisher.send(event)


async def _run_until(worker: JudgeWorker, done, timeout: float = 60.0) -> None:
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not done() and loop.time() < deadline and not task.done():
        await asyncio.sleep(0.1)
    stop.set()
    await task


def _human_trace(i: int, outcome: str) -> LabeledTrace:
    return LabeledTrace(event_id=f"tr-h{i}", timestamp=2000.0, request_id=f"req-{i}", model=MODEL, task="generation",
                        input=Input(text="q"), prediction=Output(text="a"), outcome=outcome, source="human",
                        log_event_id=f"log-{i}", label_event_id=f"h{i}", served_at=1000.0, labeled_at=2000.0)


def test_a_faulty_judge_loses_no_log_and_blocks_nothing(kafka_settings: KafkaSettings) -> None:
    settings = kafka_settings
    catalogue = settings.catalogue
    # Human traces for requests 0 (wrong answer: fail) and 1 (right: pass), and for 3 a human who disagrees.
    humans = [_human_trace(0, "fail"), _human_trace(1, "pass"), _human_trace(3, "pass")]
    asyncio.run(_publish(settings, [*_logs(), *humans]))
    config = JudgeConfig(group_id="judge-it", rate=1.0, timeout=0.5, concurrency=4, batch=20)

    async def scenario() -> JudgeWorker:
        async with EventPublisher(settings) as publisher:
            sampler = StratifiedSampler(rate=1.0, budget=CallBudget(per_second=1000, per_day=1000))
            worker = JudgeWorker(settings, publisher, FaultyJudge(), sampler, config=config)
            m = worker.metrics

            def done() -> bool:
                handled = sum(m.value("pioneer_judge_verdicts_total", model="calc", judge="faulty-numeric", verdict=v)
                              for v in ("pass", "fail"))
                handled += sum(m.value("pioneer_judge_skipped_total", model="calc", reason=r) for r in ("transport", "timeout"))
                return handled >= N and m.value("pioneer_judge_agreement_pairs_total", model="calc", judge="faulty-numeric", agreed="false") >= 1

            await _run_until(worker, done)
            return worker

    worker = asyncio.run(scenario())
    m = worker.metrics
    faulty = {i for i in range(N) if i % 10 in (5, 7)}
    labels = [EventCodec().decode(r.value, Label) for r in asyncio.run(read_all(settings, catalogue.by_event_type("label").name, N - len(faulty)))]
    letters = [EventCodec().decode(r.value, DeadLetter) for r in
               asyncio.run(read_all(settings, catalogue.by_event_type("dead_letter").name, len(faulty)))]
    # Every log is accounted for exactly once: a label, or a dead letter saying why there is none.
    labelled = {int(label.request_id.removeprefix("req-")) for label in labels}
    lettered = {int(orjson.loads(_payload(letter))["request_id"].removeprefix("req-")) for letter in letters}
    # A call queued behind hung judge threads is timed from when it runs, so only the faulty ones lack a label.
    assert labelled | lettered == set(range(N)) and not labelled & lettered and lettered == faulty
    assert len(labels) == len(labelled) and len(letters) == len(lettered)
    assert all("transport" in d.reason or "timeout" in d.reason for d in letters)
    assert m.value("pioneer_judge_skipped_total", model="calc", reason="timeout") == len(lettered) - 6
    assert m.value("pioneer_judge_skipped_total", model="calc", reason="transport") == 6
    # The labels say who judged, how sure, and why; the wrong answers (i % 3 == 0) failed.
    for label in labels:
        i = int(label.request_id.removeprefix("req-"))
        assert label.source == "judge" and label.judge == {"name": "faulty-numeric", "score": 0.0 if i % 3 == 0 else 1.0}
        assert label.verdict == ("fail" if i % 3 == 0 else "pass") and label.reason
    # Agreement: requests 0 and 1 agree with their human, 3 does not.
    assert m.value("pioneer_judge_agreement_pairs_total", model="calc", judge="faulty-numeric", agreed="true") == 2
    assert m.value("pioneer_judge_agreement_pairs_total", model="calc", judge="faulty-numeric", agreed="false") == 1
    assert m.value("pioneer_judge_agreement", model="calc", judge="faulty-numeric") == pytest.approx(2 / 3)


def _payload(letter: DeadLetter) -> bytes:
    from pioneer.events import original_payload

    return original_payload(letter)


def test_pioneer_judge_runs_against_the_broker(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    settings = kafka_settings
    logs = _logs(20)
    asyncio.run(_publish(settings, logs))
    share_machine_cache(tmp_path)  # the drift watch's encoder: the machine's ONNX export, not a new one
    env = dict(os.environ, PIONEER_HOME=str(tmp_path), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix, PIONEER_JUDGE_PER_DAY="12")
    with open(tmp_path / "judge.log", "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pioneer", "judge", "--checker", "regex", "--pattern", r"^It is \d+\.$", "--rate", "1",
             "--per-second", "100"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            records = asyncio.run(read_all(settings, settings.catalogue.by_event_type("label").name, 12, timeout=60))
        finally:
            stop_process(process)
    labels = [EventCodec().decode(r.value, Label) for r in records]
    assert process.returncode == 0, (tmp_path / "judge.log").read_text()[-2000:]
    # The day's budget (12 calls) caps the labels, though all 20 logs were wanted.
    assert len(labels) == 12 and len({label.request_id for label in labels}) == 12
    assert {(label.source, label.verdict, label.judge["name"]) for label in labels} == {("judge", "pass", "regex-checker")}


@pytest.mark.slow
def test_pioneer_judge_with_a_local_model_labels_and_corrects(kafka_settings: KafkaSettings, tmp_path: Path) -> None:
    """A teacher of the registry judges classification logs: it passes what it answers the same and fails the
    rest with its own label as the correction (what the label-free demo trains on)."""
    from pioneer.registry import FileRegistry
    from pioneer.retrain import train_first_version
    from pioneer.synthetic import BankingTask
    from pioneer.training import ClassificationConfig

    settings = kafka_settings
    task = BankingTask(seed=3)
    registry = FileRegistry(tmp_path / "registry")
    held = task.evaluation_set(2)
    decision = train_first_version("teacher", "classification", task.training_set(8), validation=held[:12],
                                   gate_set=held[12:], registry=registry, config=ClassificationConfig(strategy="head"))
    assert decision.version is not None
    questions = task.usual(12, stream="judge-it")
    answers = registry.load_adapter("teacher", decision.version).predict([q.text for q in questions])
    # Half the served answers are the teacher's own, half another intent.
    served = [a.label if i % 2 == 0 else next(lb for lb in task.labels if lb != a.label)
              for i, a in enumerate(answers)]
    logs = [InferenceLog(event_id=f"cl-{i}", timestamp=1000.0 + i, request_id=f"creq-{i}",
                         model=ModelRef(name="intents", version="sha256-dddddddddddd"), task="classification",
                         input=Input(text=q.text), prediction=Output(label=served[i]), latency_ms=1.0,
                         metadata={"cluster_id": "one"})  # one stratum: at rate 1 the sampler wants every log
            for i, q in enumerate(questions)]
    asyncio.run(_publish(settings, logs))
    share_machine_cache(tmp_path)
    env = dict(os.environ, PIONEER_HOME=str(tmp_path), PIONEER_BROKER=settings.bootstrap_servers,
               PIONEER_TOPIC_PREFIX=settings.topic_prefix)
    with open(tmp_path / "judge.log", "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pioneer", "judge", "--local-model", "teacher", "--rate", "1", "--per-second", "100"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )
        try:
            records = asyncio.run(read_all(settings, settings.catalogue.by_event_type("label").name, 12, timeout=90))
        finally:
            stop_process(process)
    labels = {label.request_id: label for label in (EventCodec().decode(r.value, Label) for r in records)}
    assert len(labels) == 12, (tmp_path / "judge.log").read_text()[-2000:]
    for i, answer in enumerate(answers):
        label = labels[f"creq-{i}"]
        assert label.source == "judge" and label.judge["name"].startswith("model:teacher@")
        if i % 2 == 0:
            assert label.verdict == "pass" and label.expected is None
        else:
            assert label.verdict == "fail" and label.expected is not None and label.expected.label == answer.label
