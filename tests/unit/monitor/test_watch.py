"""ModelWatch end to end on constructed traffic: the same traces decide the same at any rate, and the trigger
keeps asking while the model fails, in the mode the failures' breadth calls for."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pioneer.events import (
    AliasMove,
    EventCodec,
    Failure,
    GateReport,
    Input,
    LabeledTrace,
    ModelRef,
    ModelRelease,
    Output,
    ReleaseRejection,
)
from pioneer.monitor import ModelWatch
from pioneer.trigger import FAILURES_PREFIX, EmergingPatternDetector

DIM = 24
V1 = ModelRef(name="intents", version="sha256-v1")
V2 = ModelRef(name="intents", version="sha256-v2")
LABELS = [f"intent_{i}" for i in range(40)]


def make_traffic(n: int, *, failure_rate: float, spread: str, seed: int = 0) -> list[tuple[np.ndarray, bool, str]]:
    """(embedding, failed, expected label) per request: passes anywhere; failures in one region
    (``concentrated``) or each near its own label's direction (``broad``)."""
    rng = np.random.default_rng(seed)
    directions = np.linalg.qr(rng.standard_normal((DIM, DIM)))[0]
    out = []
    for _ in range(n):
        label = int(rng.integers(len(LABELS)))
        failed = bool(rng.random() < failure_rate)
        if failed and spread == "concentrated":
            label = 0
        base = directions[label % DIM] * (1 if label < DIM else -1)
        out.append((base + 0.15 * rng.standard_normal(DIM), failed, LABELS[label]))
    return out


def traces_of(traffic, *, version: ModelRef, start: float, rate: float, offset: int = 0) -> list[LabeledTrace]:
    out = []
    for i, (_, failed, label) in enumerate(traffic):
        t = start + i / rate
        rid = f"req-{offset + i}"
        out.append(LabeledTrace(
            event_id=f"trace-{rid}", timestamp=t + 1, request_id=rid, model=version, task="classification",
            input=Input(text=f"please help with {label} #{offset + i}"), prediction=Output(label="other" if failed else label),
            outcome="fail" if failed else "pass", source="human", log_event_id=f"log-{rid}", label_event_id=f"lab-{rid}",
            served_at=t, labeled_at=t + 1, expected=Output(label=label),
            failure=Failure(kind="misclassification", expected_label=label, predicted_label="other") if failed else None,
        ))
    return out


def feed(watch: ModelWatch, traffic, traces, *, batch: int = 50):
    """Learn in batches of ``batch`` traces and check after each; returns every check's findings."""
    findings = []
    for lo in range(0, len(traces), batch):
        chunk = traces[lo: lo + batch]
        vectors = np.stack([traffic[lo + i][0] for i, t in enumerate(chunk) if t in watch.select(chunk)]) \
            if watch.select(chunk) else np.zeros((0, DIM))
        watch.learn(chunk, vectors)
        findings.append(watch.check())
    return findings


def run(rate: float, traffic, *, version: ModelRef = V1) -> tuple[ModelWatch, list]:
    watch = ModelWatch("intents", pass_sample_rate=0.5)
    traces = traces_of(traffic, version=version, start=1_800_000_000.0, rate=rate)
    return watch, feed(watch, traffic, traces)


def strip_times(findings) -> list:
    """Findings without their event times (the one thing a faster replay changes)."""
    out = []
    for f in findings:
        patterns = [dataclasses.replace(p, timestamp=0.0, first_seen=0.0, last_seen=0.0) for p in f.patterns]
        requests = [dataclasses.replace(r, timestamp=0.0) for r in f.requests]
        out.append((patterns, requests, f.decision))
    return out


@pytest.mark.parametrize("spread", ["broad", "concentrated"])
def test_the_same_traces_decide_the_same_at_1_per_second_and_at_1000_per_second(spread: str) -> None:
    traffic = make_traffic(1500, failure_rate=0.15, spread=spread, seed=1)
    slow, at_1 = run(1.0, traffic)
    fast, at_1000 = run(1000.0, traffic)
    assert strip_times(at_1) == strip_times(at_1000)
    assert sum(len(f.requests) for f in at_1) >= 1
    # event times still speak of the traffic: the slow run's pattern events span 1,500 s, the fast one's 1.5 s
    assert slow.clock.latest_time_ - 1_800_000_000.0 == pytest.approx(1499.0)
    assert fast.clock.latest_time_ - 1_800_000_000.0 == pytest.approx(1.499)


def test_broad_failures_are_requested_as_a_whole_with_their_members() -> None:
    traffic = make_traffic(600, failure_rate=0.15, spread="broad", seed=2)
    watch, findings = run(12.0, traffic)
    requests = [r for f in findings for r in f.requests]
    assert len(requests) == 1  # the trainer has not answered it: no second request
    (request,) = requests
    assert request.decision.mode == "broad" and request.decision.pacing == "new_failures"
    assert request.decision.labels >= 10 and request.decision.pattern_share < 1 / 3
    (ref,) = request.patterns
    assert ref.pattern_id.startswith(FAILURES_PREFIX)
    (event,) = [p for f in findings for p in f.patterns if p.pattern_id == ref.pattern_id]
    failures = {t.request_id for t in traces_of(traffic, version=V1, start=0, rate=1) if t.outcome == "fail"}
    assert event.emerging and event.members and set(event.members) <= failures
    assert len(event.members) == ref.failures == request.decision.failures
    codec = EventCodec()
    assert codec.decode(codec.encode(request)) == request and codec.decode(codec.encode(event)) == event
    later = findings[-1].decision
    assert later.pacing == "trainer_busy" and later.new_failures > later.required_failures


def test_a_blind_spot_that_emerges_is_requested_surgically() -> None:
    traffic = make_traffic(1000, failure_rate=0.0, spread="broad", seed=3) + \
        make_traffic(600, failure_rate=0.12, spread="concentrated", seed=6)
    # a history of 1,000 requests is too short for the default growth test; this one flags the new region
    watch = ModelWatch("intents", pass_sample_rate=0.5, detector=EmergingPatternDetector(min_growth=1.0))
    findings = feed(watch, traffic, traces_of(traffic, version=V1, start=0.0, rate=12.0))
    request = next(r for f in findings for r in f.requests)
    assert request.decision.mode == "concentrated" and request.decision.pacing == "new_patterns"
    assert request.decision.top_share >= 2 / 3 and request.decision.pattern_share >= 2 / 3
    emerging = {p.pattern_id for f in findings for p in f.patterns if p.emerging}
    assert request.patterns and {p.pattern_id for p in request.patterns} <= emerging
    assert not any(p.pattern_id.startswith(FAILURES_PREFIX) for p in request.patterns)


def test_a_standing_weakness_is_named_by_its_clusters_when_no_pattern_emerges() -> None:
    """Failing in one region from the first request, it never grows, so the detector never flags it: the
    trigger waits a little for a pattern, then names the failures of the largest clusters."""
    traffic = make_traffic(800, failure_rate=0.12, spread="concentrated", seed=3)
    _, findings = run(12.0, traffic)
    assert "awaiting_patterns" in [f.decision.pacing for f in findings]
    request = next(r for f in findings for r in f.requests)
    assert request.decision.mode == "concentrated" and request.decision.pattern_share == 0.0
    assert request.decision.new_failures >= 2 * request.decision.required_failures
    (ref,) = request.patterns
    assert ref.pattern_id.startswith(FAILURES_PREFIX) and "largest clusters" in ref.name


def release(request_id: str, to: ModelRef, frm: ModelRef) -> ModelRelease:
    report = GateReport(passed=True, baseline_version=frm.version, checks=[], notes=[])
    return ModelRelease(event_id=f"rel-{to.version}", timestamp=0.0, model=to, parent_version=frm.version,
                        alias=AliasMove(name="production", from_version=frm.version, to_version=to.version),
                        metrics={}, gate_report=report, request_id=request_id)


def rejection(request_id: str, production: ModelRef) -> ReleaseRejection:
    report = GateReport(passed=False, baseline_version=production.version, checks=[], notes=[])
    return ReleaseRejection(event_id=f"rej-{request_id}", timestamp=0.0, model=production,
                            production_version=production.version, gate_report=report, reason="flips",
                            request_id=request_id)


def test_the_trigger_never_stalls_while_the_model_fails() -> None:
    """After each answer the next request comes once enough new failures of the serving version came in."""
    traffic = make_traffic(3000, failure_rate=0.13, spread="broad", seed=4)
    watch = ModelWatch("intents", pass_sample_rate=0.5)
    first = traces_of(traffic[:1000], version=V1, start=0.0, rate=12.0)
    findings = feed(watch, traffic[:1000], first)
    (req1,) = [r for f in findings for r in f.requests]
    assert watch.answer(release(req1.request_id, V2, V1))
    # traffic still served by V1 (in flight when the release landed) is no evidence against V2
    stale = traces_of(traffic[1000:1100], version=V1, start=90.0, rate=12.0, offset=1000)
    assert feed(watch, traffic[1000:1100], stale)[-1].decision.pacing == "awaiting_new_version"
    served = traces_of(traffic[1100:3000], version=V2, start=100.0, rate=12.0, offset=1100)
    findings, requests = [], []
    for lo in range(0, len(served), 100):
        findings += feed(watch, traffic[1100 + lo: 1200 + lo], served[lo: lo + 100])
        for request in findings[-1].requests + tuple(r for f in findings[-2:-1] for r in f.requests):
            if request.request_id not in {r.request_id for r in requests}:
                requests.append(request)
                watch.answer(rejection(request.request_id, V2))  # the trainer answers at once
    assert len(requests) >= 3 and all(r.model == V2 for r in requests)
    # each rejection asks for new failures again, never a longer wait
    assert all(r.decision.required_failures == 25 <= r.decision.new_failures for r in requests)
    assert [r.decision.rejections for r in requests] == list(range(len(requests)))
    assert len({r.request_id for r in requests}) == len(requests)
    waits = [f.decision.pacing for f in findings if not f.requests]
    assert set(waits) <= {"not_enough_new_failures", "awaiting_patterns"}


def test_a_checkpoint_restores_the_clock_the_memory_and_the_trigger() -> None:
    traffic = make_traffic(400, failure_rate=0.15, spread="broad", seed=5)
    watch, _ = run(12.0, traffic)
    restored = ModelWatch.from_bytes(watch.to_bytes())
    assert restored.clock.ticks_ == watch.clock.ticks_ == 400
    assert restored.memory.request_ids == watch.memory.request_ids
    assert restored.by_version == watch.by_version
    assert restored.trigger.outstanding_("intents") == watch.trigger.outstanding_("intents") is not None
    assert restored.check().decision == watch.check().decision
