"""RetrainTrigger on constructed evidence: each decision (mode, pacing, budget, answers), ids and checkpoints."""

from __future__ import annotations

import dataclasses

import pytest

from pioneer.events import ErrorPattern, EventCodec, ModelName, ModelRef
from pioneer.trigger import (
    FAILURES_PREFIX,
    Breadth,
    Evidence,
    Observation,
    PacingRules,
    RetrainTrigger,
    TrainerState,
    choose_mode,
    measure_breadth,
    pace,
    request_id,
)

V1 = ModelRef(name="intents", version="sha256-aaa")
V2 = ModelRef(name="intents", version="sha256-bbb")


def pattern(pid: str, t: float = 0.0, *, emerging: bool = True, state: str = "growing", model: str = "intents") -> ErrorPattern:
    return ErrorPattern(
        event_id=f"pat-{pid}-{int(t)}", timestamp=t, pattern_id=pid, model=ModelName(name=model), state=state,
        emerging=emerging, name=f"{pid} words", size=30.0, failures_recent=25, failure_rate=0.7,
        failure_rate_lower=0.5, growth=4.0, confusions=[], exemplars=[], first_seen=t - 100, last_seen=t,
    )


def seen(failures: int, traces: int = 1000, *, in_patterns: dict[str, int] | None = None, top_share: float = 0.2,
         clusters: int = 30, labels: int = 25, at: float = 0.0, patterns: list[ErrorPattern] | None = None) -> Observation:
    held = in_patterns or {}
    n = sum(held.values())
    breadth = Breadth(failures=failures, in_patterns=n, top_share=max(top_share, n / failures if failures else 0.0),
                      clusters=clusters, labels=labels, top_clusters=(1, 2, 3), top_outside_patterns=0)
    return Observation(time=at, patterns=patterns or [], traces=traces, failures=failures, breadth=breadth,
                       pattern_failures=held)


def named(trigger: RetrainTrigger) -> list[list[str]]:
    return [[p.pattern_id for p in r.patterns] for r in trigger.fired]


@pytest.mark.parametrize("kwargs", [{"min_new_failures": 0}, {"min_failure_rate": 1.0}, {"max_requests_per_day": 0},
                                    {"max_trainer_share": 0.0}, {"answer_timeout": 0}, {"mode": "other"},
                                    {"max_train_seconds": -5}, {"requested_by": ""}])
def test_invalid_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetrainTrigger(**kwargs)


# ---------------------------------------------------------------------------------------------- breadth -> mode


@pytest.mark.parametrize(("clusters", "mode"), [
    ([1] * 8 + [2, 3], "concentrated"),          # one cluster holds 80%
    ([1, 1, 2, 2, 3, 4, 5, 6, 7, 8], "both"),    # the three largest hold 50%
    (list(range(10)), "broad"),                  # ten clusters of one failure each: 30%
    ([-1] * 9 + [1], "broad"),                   # outliers everywhere
])
def test_the_share_of_the_largest_clusters_decides_the_mode(clusters: list[int], mode: str) -> None:
    breadth = measure_breadth(clusters, [f"l{c}" for c in clusters], pattern_clusters=set())
    assert choose_mode(breadth) == mode


def test_breadth_counts_failures_labels_clusters_and_the_patterns_share() -> None:
    b = measure_breadth([1, 1, 1, 2, 2, -1, 3], ["a", "a", "b", "c", None, "d", "e"], pattern_clusters={2, 9})
    assert (b.failures, b.in_patterns, b.clusters, b.labels, b.top_clusters) == (7, 2, 3, 5, (1, 2, 3))
    assert b.pattern_share == pytest.approx(2 / 7) and b.top_share == pytest.approx(6 / 7)
    assert b.top_outside_patterns == 4
    with pytest.raises(ValueError):
        measure_breadth([1, 2], ["a"], set())


def test_each_mode_names_what_it_retrains_on() -> None:
    concentrated = RetrainTrigger().update(seen(40, in_patterns={"p-1": 36}, at=0.0, patterns=[pattern("p-1")]), model=V1)
    assert named(concentrated) == [["p-1"]] and concentrated.decision_.mode == "concentrated"
    both = RetrainTrigger().update(seen(40, in_patterns={"p-1": 20}, top_share=0.5, at=0.0, patterns=[pattern("p-1")]), model=V1)
    ((first, rest),) = named(both)
    assert both.decision_.mode == "both" and first == "p-1" and rest.startswith(FAILURES_PREFIX)
    assert both.fired[0].patterns[1].failures == 20
    broad = RetrainTrigger().update(seen(40, at=0.0), model=V1)
    ((whole,),) = named(broad)
    assert broad.decision_.mode == "broad" and whole.startswith(FAILURES_PREFIX)
    assert broad.fired[0].patterns[0].failures == 40


# ---------------------------------------------------------------------------------------------- pacing


def test_each_pacing_reason() -> None:
    ev = Evidence(traces=1000, failures=130, new_failures=30, new_patterns=0)
    assert pace(ev, TrainerState()).due and pace(ev, TrainerState()).reason == "new_failures"
    cases = {
        "no_failures": (Evidence(traces=500, failures=0, new_failures=0, new_patterns=0), TrainerState()),
        "awaiting_new_version": (ev, TrainerState(replaced=True)),
        "not_enough_new_failures": (Evidence(traces=1000, failures=130, new_failures=24, new_patterns=0), TrainerState()),
        "failure_rate_low": (Evidence(traces=100_000, failures=500, new_failures=500, new_patterns=0), TrainerState()),
        "trainer_busy": (ev, TrainerState(outstanding="rr-x")),
        "budget": (ev, TrainerState(budget_wait="3 requests in the last day")),
    }
    for reason, (evidence, trainer) in cases.items():
        decision = pace(evidence, trainer, PacingRules())
        assert not decision.due and decision.reason == reason, reason
        assert str(evidence.failures) in decision.detail
    new_pattern = pace(Evidence(traces=1000, failures=12, new_failures=3, new_patterns=1), TrainerState())
    assert new_pattern.due and new_pattern.reason == "new_patterns"  # the detector already tested that pattern


def test_the_trainer_is_busy_until_it_answers_then_each_rejection_asks_for_new_failures_again() -> None:
    trig = RetrainTrigger()
    (first,) = trig.update(seen(30, at=0.0), model=V1).fired
    assert trig.update(seen(60, at=10.0), model=V1).decision_.pacing == "trainer_busy"
    trig.answer(first.request_id, "rejected", now=20.0)
    trig.answer(first.request_id, "rejected", now=21.0)  # read twice after a restart: counted once
    (second,) = trig.update(seen(60, at=30.0), model=V1).fired  # what came in while it trained is new evidence
    assert (second.decision.rejections, second.decision.new_failures, second.decision.required_failures) == (1, 30, 25)
    trig.answer(second.request_id, "rejected", now=35.0)
    d = trig.update(seen(75, at=36.0), model=V1).decision_
    assert (d.pacing, d.new_failures, d.required_failures, d.rejections) == ("not_enough_new_failures", 15, 25, 2)
    for k, failures in enumerate((85, 110, 135), start=2):  # rejected again and again: never a longer wait
        (again,) = trig.update(seen(failures, at=40.0 + k), model=V1).fired
        assert (again.decision.rejections, again.decision.new_failures, again.decision.required_failures) == (k, 25, 25)
        trig.answer(again.request_id, "rejected" if failures < 135 else "released", now=40.5 + k,
                    replaced=None if failures < 135 else V1.version)
    assert trig.update(seen(300, at=55.0), model=V1).decision_.pacing == "awaiting_new_version"
    (third,) = trig.update(seen(25, at=60.0), model=V2).fired  # the new version's own failures
    assert third.model == V2 and third.decision.required_failures == 25 and third.decision.new_failures == 25


def test_a_failed_retrain_frees_the_trainer_and_an_unanswered_request_stops_blocking_after_the_timeout() -> None:
    trig = RetrainTrigger(answer_timeout=600.0)
    (first,) = trig.update(seen(30, at=0.0), model=V1).fired
    trig.answer(first.request_id, "failed", now=5.0)
    assert trig.outstanding_("intents") is None
    (second,) = trig.update(seen(90, at=10.0), model=V1).fired
    assert trig.update(seen(200, at=609.0), model=V1).decision_.pacing == "trainer_busy"
    assert len(trig.update(seen(200, at=610.0), model=V1).fired) == 1
    with pytest.raises(ValueError):
        trig.answer(second.request_id, "maybe", now=0.0)


def test_user_caps_requests_per_day_and_trainer_share() -> None:
    daily = RetrainTrigger(max_requests_per_day=2)
    for i, t in enumerate((0.0, 100.0, 200.0)):
        fired = daily.update(seen(30 * (i + 1), at=t), model=V1).fired
        for r in fired:
            daily.answer(r.request_id, "released", now=t + 1)
    assert daily.decision_.pacing == "budget" and "max_requests_per_day=2" in daily.decision_.detail
    assert len(daily.update(seen(120, at=86_400.0), model=V1).fired) == 1
    shared = RetrainTrigger(max_trainer_share=0.5)
    (r,) = shared.update(seen(30, at=0.0), model=V1).fired
    shared.answer(r.request_id, "rejected", now=300.0)  # busy 300 s: at half the time, idle until 600 s
    assert shared.update(seen(200, at=599.0), model=V1).decision_.pacing == "budget"
    assert len(shared.update(seen(200, at=600.0), model=V1).fired) == 1


def test_a_pattern_is_named_once_per_version_and_stale_patterns_are_not_named() -> None:
    trig = RetrainTrigger()
    (r,) = trig.update(seen(40, in_patterns={"p-1": 30, "p-2": 0}, at=0.0, patterns=[pattern("p-1"), pattern("p-2")]), model=V1).fired
    assert [p.pattern_id for p in r.patterns] == ["p-1"]  # p-2 holds no failure of this version
    trig.answer(r.request_id, "rejected", now=1.0)
    d = trig.update(seen(45, in_patterns={"p-1": 34}, at=2.0), model=V1).decision_
    assert d.pacing == "not_enough_new_failures"  # p-1 was named already: its failures are no news
    trig.update(seen(45, at=3.0, patterns=[pattern("p-1", emerging=False), pattern("p-2", state="merged")]), model=V1)
    assert trig.pending_ == {"intents": ()}


def test_other_models_patterns_are_ignored() -> None:
    trig = RetrainTrigger()
    trig.update(seen(3, at=0.0, patterns=[pattern("p-1", model="other")]), model=V1)
    assert trig.pending_ == {"intents": ()}


def test_request_ids_are_deterministic_so_a_restart_never_doubles_a_request() -> None:
    events, observed = [pattern("p-1"), pattern("p-2")], seen(40, in_patterns={"p-1": 20, "p-2": 16})
    a = RetrainTrigger().update(dataclasses.replace(observed, time=0.0, patterns=events), model=V1).fired
    b = RetrainTrigger().update(dataclasses.replace(observed, time=5.0, patterns=list(reversed(events))), model=V1).fired
    assert a[0].request_id == b[0].request_id == request_id("intents", "sha256-aaa", ["p-2", "p-1"])
    assert a[0].event_id == a[0].request_id
    assert request_id("intents", "v", ["p"], attempt=1) != request_id("intents", "v", ["p"])


def test_checkpoint_restores_outstanding_requests_rejections_and_named_patterns() -> None:
    trig = RetrainTrigger(max_requests_per_day=5)
    (r,) = trig.update(seen(40, in_patterns={"p-1": 30}, at=0.0, patterns=[pattern("p-1")]), model=V1).fired
    restored = RetrainTrigger.from_bytes(trig.to_bytes())
    assert restored.get_params() == trig.get_params() and restored.outstanding_("intents") == r.request_id
    assert restored.update(seen(90, at=1.0), model=V1).decision_.pacing == "trainer_busy"
    restored.answer(r.request_id, "rejected", now=2.0)
    d = restored.update(seen(50, in_patterns={"p-1": 40}, at=3.0), model=V1).decision_
    assert (d.pacing, d.rejections, d.new_failures) == ("not_enough_new_failures", 1, 10)
    with pytest.raises(ValueError):
        RetrainTrigger.from_bytes(b'{"class": "Other", "version": 2}')


def test_requests_carry_their_decision_and_satisfy_the_schema() -> None:
    codec = EventCodec()
    trig = RetrainTrigger(max_train_seconds=900.0)
    (req,) = trig.update(seen(40, at=0.0), model=V1).fired
    decoded = codec.decode(codec.encode(req))
    assert decoded == req and decoded.budget.max_train_seconds == 900.0
    d = decoded.decision
    assert (d.mode, d.pacing, d.failures, d.traces, d.new_failures, d.required_failures) == ("broad", "new_failures", 40, 1000, 40, 25)
    assert "broad" in decoded.reason and "40 failures over 25 labels" in decoded.reason
    assert trig.decisions_ == {(True, "new_failures"): 1}
