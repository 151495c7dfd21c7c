"""What the demo watches while it runs: the answers it gets, and the events the loop publishes."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field

import httpx
from aiokafka import AIOKafkaConsumer

from pioneer.events import (
    DecodeError,
    ErrorPattern,
    EventCodec,
    Label,
    ModelRelease,
    ModelRollback,
    ReleaseRejection,
    RetrainRequest,
    TrainingProgress,
)
from streams.kafka import KafkaSettings

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Answer:
    """One answered request: when, which segment, whether the served version got it right."""

    at: float
    segment: str
    correct: bool
    version: str
    expected: str = ""
    predicted: str = ""
    request_id: str = ""


@dataclass(slots=True)
class Milestone:
    at: float
    label: str


@dataclass
class LiveState:
    """Everything the demo knows, updated by the traffic and the event watcher."""

    started: float = field(default_factory=time.monotonic)
    answers: list[Answer] = field(default_factory=list)
    errors: int = 0
    labels_sent: int = 0
    """Labels the server accepted."""
    labels_failed: int = 0
    """Labels it refused, or never accepted however often they were sent again."""
    patterns: dict[str, ErrorPattern] = field(default_factory=dict)
    requests: list[RetrainRequest] = field(default_factory=list)
    progress: TrainingProgress | None = None
    releases: list[ModelRelease] = field(default_factory=list)
    rejections: list[ReleaseRejection] = field(default_factory=list)
    rollbacks: list[ModelRollback] = field(default_factory=list)
    milestones: list[Milestone] = field(default_factory=list)
    judged: dict[str, Label] = field(default_factory=dict)
    """Judge labels seen on the labels topic, by request id (the demo's judge mode)."""
    ended: set[str] = field(default_factory=set)
    """Retrain requests the trainer has answered: released, rejected or failed."""

    def now(self) -> float:
        return time.monotonic() - self.started

    def mark(self, label: str) -> None:
        self.milestones.append(Milestone(self.now(), label))

    def waiting(self) -> list[RetrainRequest]:
        """Retrain requests seen and not yet answered: queued at the trainer or in training."""
        return [r for r in self.requests if r.request_id not in self.ended]

    def failure_rate(self, segment: str, since: float = 0.0, version: str | None = None) -> float | None:
        picked = [a for a in self.answers if a.segment == segment and a.at >= since and (version is None or a.version == version)]
        return None if not picked else 1 - sum(a.correct for a in picked) / len(picked)

    def recent_failure_rate(self, segment: str, window: float = 20.0) -> float | None:
        return self.failure_rate(segment, since=self.now() - window)

    def judge_accuracy(self) -> JudgeScore:
        """The judge's labels scored against the hidden truth the traffic knows (never shown to the loop)."""
        truth = {a.request_id: a for a in self.answers if a.request_id}
        score = JudgeScore(labels=len(self.judged))
        for request_id, label in self.judged.items():
            answer = truth.get(request_id)
            if answer is None:
                continue
            score.scored += 1
            score.verdicts_right += (label.verdict == "pass") == answer.correct
            if label.expected is not None and label.expected.label is not None:
                score.corrections += 1
                score.corrections_right += label.expected.label == answer.expected
        return score


@dataclass(slots=True)
class JudgeScore:
    """How many judge labels the loop got and how many were right by the hidden truth."""

    labels: int = 0
    scored: int = 0
    verdicts_right: int = 0
    corrections: int = 0
    corrections_right: int = 0

    def describe(self) -> str:
        verdicts = f"{self.verdicts_right}/{self.scored} ({self.verdicts_right / self.scored:.1%})" if self.scored else "-"
        fixes = (f"{self.corrections_right}/{self.corrections} ({self.corrections_right / self.corrections:.1%})"
                 if self.corrections else "-")
        return f"judge labels {self.labels}; verdicts right {verdicts}; corrections right {fixes}"


async def send_label(client: httpx.AsyncClient, state: LiveState, body: dict[str, object]) -> bool:
    """Post one label to the server's feedback endpoint, as a well-behaved client: after a 429 or a 5xx it is sent
    again after its ``Retry-After`` (or a second), after a lost connection or a timeout a second later (the
    server answers a repeat ``duplicate``); a label refused otherwise is counted in ``state.labels_failed``."""
    for _ in range(MAX_LABEL_TRIES):
        try:
            response = await client.post("/v1/feedback", json=body)
        except httpx.HTTPError as exc:
            log.warning("label not delivered; sending it again", extra={"error": f"{type(exc).__name__}: {exc}"})
            await asyncio.sleep(1.0)
            continue
        if response.status_code != 429 and not response.is_server_error:
            if response.is_success:
                state.labels_sent += 1
                return True
            log.warning("label refused", extra={"status": response.status_code, "body": response.text[:300]})
            break
        await asyncio.sleep(float(response.headers.get("retry-after", "1")))
    state.labels_failed += 1
    return False


MAX_LABEL_TRIES = 20
"""Tries of one label against a server that keeps refusing it for now (each waits at least a second)."""


async def watch_events(settings: KafkaSettings, state: LiveState, stop: asyncio.Event) -> None:
    """Follow the loop's topics and record what happens, with the time it was seen."""
    topics = [settings.topic(t) for t in ("error_pattern", "retrain_request", "training_progress", "model_release",
                                          "release_rejection", "label")]
    consumer = AIOKafkaConsumer(*topics, **settings.consumer_kwargs(None))
    codec = EventCodec()
    await consumer.start()
    try:
        while not stop.is_set():
            fetched = await consumer.getmany(timeout_ms=300)
            for records in fetched.values():
                for record in records:
                    try:
                        event = codec.decode(record.value)
                    except DecodeError:
                        continue
                    _record(state, event)
    finally:
        await consumer.stop()


def _record(state: LiveState, event: object) -> None:
    if isinstance(event, Label):
        if event.source == "judge":
            state.judged[event.request_id] = event
    elif isinstance(event, ErrorPattern):
        previous = state.patterns.get(event.pattern_id)
        state.patterns[event.pattern_id] = event
        if event.emerging and (previous is None or not previous.emerging):
            state.mark(f"pattern '{event.name}' emerging")
    elif isinstance(event, RetrainRequest):
        if all(r.request_id != event.request_id for r in state.requests):
            state.requests.append(event)
            state.mark("retrain requested")
    elif isinstance(event, TrainingProgress):
        state.progress = event
        if event.stage == "failed" and event.request_id not in state.ended:
            state.ended.add(event.request_id)
            state.mark("retrain failed")
    elif isinstance(event, ModelRelease):
        if all(r.event_id != event.event_id for r in state.releases):
            state.releases.append(event)
            state.ended.add(event.request_id or "")
            state.mark(f"released {event.model.version[:14]}")
    elif isinstance(event, ModelRollback):
        state.rollbacks.append(event)
    elif isinstance(event, ReleaseRejection):
        if all(r.event_id != event.event_id for r in state.rejections):
            state.rejections.append(event)
            state.ended.add(event.request_id or "")
            state.mark("candidate rejected")


def status_line(state: LiveState, rate: float) -> str:
    """One line for the terminal: traffic, failure rates, clusters, patterns, training, releases."""

    def pct(value: float | None) -> str:
        return "  - " if value is None else f"{100 * value:4.0f}%"

    recent = [a for a in state.answers if a.at >= state.now() - 20]
    share = sum(a.segment == "blind_spot" for a in recent) / len(recent) if recent else 0.0
    emerging = [p for p in state.patterns.values() if p.emerging]
    training = "idle"
    if state.progress is not None:
        p = state.progress
        training = p.stage + (f" it{p.iteration}" if p.iteration is not None else "")
        if p.progress is not None and p.stage == "training":
            training += f" {100 * p.progress:.0f}%"
    version = state.answers[-1].version[:14] if state.answers else "-"
    return (
        f"t={state.now():5.0f}s  requests {len(state.answers):5d}  "
        f"fail usual {pct(state.recent_failure_rate('usual'))} blind-spot {pct(state.recent_failure_rate('blind_spot'))} "
        f"(share {100 * share:3.0f}%)  patterns {len(state.patterns)} ({len(emerging)} emerging)  "
        f"retrain {len(state.requests)}: {training}  releases {len(state.releases)}  serving {version}"
        + (f"  judge labels {len(state.judged)}" if state.judged else "")
    )


def rolling(answers: list[Answer], segment: str, window: float, step: float = 5.0) -> tuple[list[float], list[float]]:
    """Failure rate of ``segment`` over a sliding window, sampled every ``step`` seconds."""
    picked = [a for a in answers if a.segment == segment]
    if not picked:
        return [], []
    xs, ys = [], []
    t, end = picked[0].at, picked[-1].at
    buf: deque[Answer] = deque()
    i = 0
    while t <= end:
        while i < len(picked) and picked[i].at <= t:
            buf.append(picked[i])
            i += 1
        while buf and buf[0].at < t - window:
            buf.popleft()
        if buf:
            xs.append(t)
            ys.append(1 - sum(a.correct for a in buf) / len(buf))
        t += step
    return xs, ys
