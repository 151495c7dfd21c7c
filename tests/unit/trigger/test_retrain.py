"""RetrainTrigger: cooldown, budget, idempotent ids, versions, and checkpoints."""

from __future__ import annotations

import pytest

from pioneer.events import ErrorPattern, EventCodec, ModelName, ModelRef
from pioneer.trigger import RetrainTrigger, request_id

V1 = ModelRef(name="intents", version="sha256-aaa")
V2 = ModelRef(name="intents", version="sha256-bbb")


def pattern(pid: str, t: float, *, emerging: bool = True, state: str = "growing", model: str = "intents",
            failures: int = 25) -> ErrorPattern:
    return ErrorPattern(
        event_id=f"pat-{pid}-{int(t)}", timestamp=t, pattern_id=pid, model=ModelName(name=model), state=state,
        emerging=emerging, name=f"{pid} words", size=30.0, failures_recent=failures, failure_rate=0.7,
        failure_rate_lower=0.5, growth=4.0, confusions=[], exemplars=[], first_seen=t - 100, last_seen=t,
    )


def ids(trigger: RetrainTrigger) -> list[list[str]]:
    return [[p.pattern_id for p in r.patterns] for r in trigger.fired]


@pytest.mark.parametrize("kwargs", [{"cooldown": -1}, {"max_requests": 0}, {"period": 0}, {"mode": "other"},
                                    {"max_train_seconds": -5}, {"requested_by": ""}])
def test_invalid_parameters(kwargs: dict) -> None:
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        RetrainTrigger(**kwargs)


def test_cooldown_holds_requests_back_then_sends_everything_pending() -> None:
    trig = RetrainTrigger(cooldown=600.0)
    assert ids(trig.update([pattern("p-1", 0.0)], model=V1, now=0.0)) == [["p-1"]]
    assert ids(trig.update([pattern("p-2", 100.0), pattern("p-3", 100.0, failures=90)], model=V1, now=100.0)) == []
    assert trig.suppressed_ == 1 and trig.pending_ == {"intents": ("p-2", "p-3")}
    assert ids(trig.update([], model=V1, now=599.0)) == []
    assert ids(trig.update([], model=V1, now=600.0)) == [["p-3", "p-2"]]  # most failures first


def test_budget_caps_requests_per_period() -> None:
    trig = RetrainTrigger(cooldown=0.0, max_requests=2, period=1000.0)
    fired = [len(trig.update([pattern(f"p-{i}", 10.0 * i)], model=V1, now=10.0 * i).fired) for i in range(4)]
    assert fired == [1, 1, 0, 0]
    assert len(trig.update([], model=V1, now=1000.0).fired) == 1  # the first request left the window
    assert ids(trig) == [["p-2", "p-3"]]


def test_a_pattern_is_requested_once_per_version_and_again_for_a_new_version() -> None:
    trig = RetrainTrigger(cooldown=0.0)
    first = trig.update([pattern("p-1", 0.0)], model=V1, now=0.0).fired
    assert trig.update([pattern("p-1", 700.0)], model=V1, now=700.0).fired == ()
    second = trig.update([pattern("p-1", 800.0)], model=V2, now=800.0).fired
    assert len(first) == len(second) == 1 and first[0].request_id != second[0].request_id


def test_patterns_that_stop_emerging_or_merge_are_no_longer_pending() -> None:
    trig = RetrainTrigger(cooldown=1000.0)
    trig.update([pattern("p-0", 0.0)], model=V1, now=0.0)
    trig.update([pattern("p-1", 10.0), pattern("p-2", 10.0)], model=V1, now=10.0)
    trig.update([pattern("p-1", 20.0, emerging=False), pattern("p-2", 20.0, state="merged")], model=V1, now=20.0)
    assert trig.pending_["intents"] == ()
    assert trig.update([], model=V1, now=5000.0).fired == ()


def test_other_models_are_ignored() -> None:
    trig = RetrainTrigger()
    assert trig.update([pattern("p-1", 0.0, model="other")], model=V1, now=0.0).fired == ()


def test_request_ids_are_deterministic_so_a_restart_never_doubles_a_request() -> None:
    events = [pattern("p-1", 0.0), pattern("p-2", 0.0)]
    a = RetrainTrigger().update(events, model=V1, now=0.0).fired
    b = RetrainTrigger().update(list(reversed(events)), model=V1, now=5.0).fired  # lost state, replayed later
    assert a[0].request_id == b[0].request_id == request_id("intents", "sha256-aaa", ["p-2", "p-1"])
    assert a[0].event_id == a[0].request_id


def test_checkpoint_restores_cooldown_budget_and_requested_patterns() -> None:
    trig = RetrainTrigger(cooldown=600.0, max_requests=5)
    trig.update([pattern("p-1", 0.0)], model=V1, now=0.0)
    trig.update([pattern("p-2", 10.0)], model=V1, now=10.0)
    restored = RetrainTrigger.from_bytes(trig.to_bytes())
    assert restored.get_params() == trig.get_params() and restored.pending_ == trig.pending_
    assert restored.update([pattern("p-1", 20.0)], model=V1, now=20.0).fired == ()  # cooldown and p-1 done
    assert ids(restored.update([], model=V1, now=600.0)) == [["p-2"]]
    with pytest.raises(ValueError):
        RetrainTrigger.from_bytes(b'{"class": "Other", "version": 1}')


def test_requests_satisfy_the_schema() -> None:
    codec = EventCodec()
    trig = RetrainTrigger(max_train_seconds=900.0)
    (req,) = trig.update([pattern("p-1", 0.0)], model=V1, now=0.0).fired
    decoded = codec.decode(codec.encode(req))
    assert decoded.budget.max_train_seconds == 900.0 and decoded.mode == "pioneer" and "p-1" in decoded.reason


def test_after_a_release_a_pattern_needs_fresh_evidence_against_the_new_version() -> None:
    trig = RetrainTrigger(cooldown=600.0)
    assert len(trig.update([pattern("p-1", 0.0)], model=V1, now=0.0).fired) == 1
    # V2 goes live at t=5000; the cluster still holds V1's failures and is still flagged emerging.
    assert trig.update([pattern("p-1", 5000.0)], model=V2, now=5000.0).fired == ()
    stale = pattern("p-1", 5700.0)
    stale.last_seen = 4900.0  # its latest failure predates V2
    assert trig.update([stale], model=V2, now=5700.0).fired == ()
    fresh = pattern("p-1", 5700.0)  # failing under V2 a cooldown after it went live
    assert ids(trig.update([fresh], model=V2, now=5700.0)) == [["p-1"]]
